package seal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"coffer/seal/shamir"
)

// CheckRekeyParams applies Vault's rules to the shares and threshold of a
// rekey (recovery selects the wording for recovery shares), so a bad
// request is refused before any operator submits a share.
func CheckRekeyParams(shares, threshold int, recovery bool) error {
	kind := ""
	if recovery {
		kind = "recovery "
	}
	return validateShares(shares, threshold, kind)
}

// Rekey replaces the Shamir seal's unseal key once q holds the threshold
// of current unseal shares: the shares must recombine to the unseal key
// (it must unwrap the stored root key, else ErrBadShares); a new random
// unseal key then wraps the same root key, and the new root-key record
// and the seal configuration (p's shares and threshold) are written in
// one atomic batch. The keyring and the data are untouched. It returns the
// new shares, once; the old ones no longer unseal. q's shares are spent
// and zeroed whatever the outcome.
//
// The barrier must be unsealed. With an auto seal Rekey refuses
// (ErrAutoSeal): its recovery key is changed with RekeyRecovery.
func (b *Barrier) Rekey(ctx context.Context, q *Quorum, p InitParams) (*InitResult, error) {
	next := SealConfig{Type: SealTypeShamir, SecretShares: p.SecretShares, SecretThreshold: p.SecretThreshold}
	if err := next.validate(); err != nil {
		q.Reset()
		return nil, err
	}
	rawCfg, err := json.Marshal(next)
	if err != nil {
		q.Reset()
		return nil, fmt.Errorf("seal: encode seal config: %w", err)
	}
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	cfg, oldKey, err := b.quorumKey(ctx, q)
	if err != nil {
		return nil, err
	}
	defer clear(oldKey)
	if cfg.Auto() {
		return nil, ErrAutoSeal
	}
	rootKey, err := b.checkUnsealKey(ctx, oldKey)
	if err != nil {
		if errors.Is(err, ErrBadShares) {
			b.logger.Warn("rekey refused: the recombined unseal key does not decrypt the root key")
		}
		return nil, err
	}
	defer clear(rootKey)

	newKey := make([]byte, keySize)
	defer clear(newKey)
	rand.Read(newKey)
	w, err := newKeyWrapper(newKey)
	if err != nil {
		return nil, err
	}
	rootBlob, err := w.Wrap(ctx, rootKeyPath, rootKey)
	if err != nil {
		return nil, fmt.Errorf("seal: wrap root key: %w", err)
	}
	shares, err := shamir.Split(newKey, next.SecretShares, next.SecretThreshold)
	if err != nil {
		return nil, fmt.Errorf("seal: split unseal key: %w", err)
	}
	if err := b.writeRecords(ctx, map[string][]byte{rootKeyPath: rootBlob, sealConfigPath: rawCfg}, nil); err != nil {
		zeroAll(shares)
		return nil, fmt.Errorf("seal: rekey: write records: %w", err)
	}
	b.logger.Warn("unseal key replaced (rekey)", "shares", next.SecretShares, "threshold", next.SecretThreshold)
	return &InitResult{Shares: shares}, nil
}

// RekeyRecovery replaces an auto seal's recovery key once q holds the
// threshold of current recovery shares: they must recombine, in constant
// time, to the recovery key as unwraps (else ErrBadShares); a new random
// recovery key, wrapped by as, and the seal configuration (p's recovery
// shares and threshold) are written in one atomic batch. It returns the
// new recovery shares, once. q's shares are spent and zeroed whatever the
// outcome. The barrier must be unsealed; with the Shamir seal it refuses
// (ErrNotAutoSeal).
func (b *Barrier) RekeyRecovery(ctx context.Context, q *Quorum, p AutoInitParams, as AutoSeal) (*AutoInitResult, error) {
	if err := CheckRekeyParams(p.RecoveryShares, p.RecoveryThreshold, true); err != nil {
		q.Reset()
		return nil, err
	}
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	cfg, oldKey, err := b.quorumKey(ctx, q)
	if err != nil {
		return nil, err
	}
	defer clear(oldKey)
	if !cfg.Auto() {
		return nil, ErrNotAutoSeal
	}
	if err := b.checkRecoveryKey(ctx, cfg, oldKey, as); err != nil {
		if errors.Is(err, ErrBadShares) {
			b.logger.Warn("recovery rekey refused: the recombined key is not the recovery key")
		}
		return nil, err
	}
	next := *cfg
	next.RecoveryShares, next.RecoveryThreshold = p.RecoveryShares, p.RecoveryThreshold
	rawCfg, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("seal: encode seal config: %w", err)
	}

	newKey := make([]byte, keySize)
	defer clear(newKey)
	rand.Read(newKey)
	blob, err := as.Wrap(ctx, recoveryKeyPath, newKey)
	if err != nil {
		return nil, fmt.Errorf("seal: wrap recovery key with %s: %w", as.Type(), err)
	}
	shares, err := shamir.Split(newKey, next.RecoveryShares, next.RecoveryThreshold)
	if err != nil {
		return nil, fmt.Errorf("seal: split recovery key: %w", err)
	}
	if err := b.writeRecords(ctx, map[string][]byte{recoveryKeyPath: blob, sealConfigPath: rawCfg}, nil); err != nil {
		zeroAll(shares)
		return nil, fmt.Errorf("seal: rekey recovery key: write records: %w", err)
	}
	b.logger.Warn("recovery key replaced (rekey)", "recovery_shares", next.RecoveryShares, "recovery_threshold", next.RecoveryThreshold)
	return &AutoInitResult{RecoveryShares: shares}, nil
}
