package seal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"coffer/seal/shamir"
)

// AutoSeal is a seal that unwraps the root key with no operator: an HSM
// (seal/pkcs11). Its Wrap and Unwrap are the HSM's.
type AutoSeal interface {
	Wrapper
	// Type names the seal in the seal configuration ("pkcs11").
	Type() string
}

// recoveryKeyPath holds the recovery key of an auto seal, wrapped by the
// seal; recovery shares are checked against it.
const recoveryKeyPath = "core/recovery-key"

// ErrAutoSeal: unseal keys are not used with an auto seal.
var ErrAutoSeal = errors.New("seal: this node unseals through its auto seal; unseal keys are not used (recovery keys serve only quorum operations and seal migration)")

// ErrSealMismatch: the stored seal is not the one configured.
var ErrSealMismatch = errors.New("seal: the stored seal type differs from the configured seal")

// BatchStorage is implemented by storage that can write several records
// atomically (cluster.Node, in one Raft entry). Seal migration uses it so
// a crash never leaves a root key wrapped by one seal under a
// configuration naming the other.
type BatchStorage interface {
	Batch(ctx context.Context, puts map[string][]byte, deletes []string) error
}

func (b *Barrier) writeRecords(ctx context.Context, puts map[string][]byte, deletes []string) error {
	if bs, ok := b.store.(BatchStorage); ok {
		return bs.Batch(ctx, puts, deletes)
	}
	// Storage without batches (tests): the seal configuration last.
	for k, v := range puts {
		if k == sealConfigPath {
			continue
		}
		if err := b.store.Put(ctx, k, v); err != nil {
			return err
		}
	}
	for _, k := range deletes {
		if err := b.store.Delete(ctx, k); err != nil {
			return err
		}
	}
	if v, ok := puts[sealConfigPath]; ok {
		return b.store.Put(ctx, sealConfigPath, v)
	}
	return nil
}

// AutoInitParams configures an auto seal's recovery shares.
type AutoInitParams struct {
	RecoveryShares, RecoveryThreshold int
}

// AutoInitResult holds the recovery key shares, returned once.
type AutoInitResult struct {
	RecoveryShares [][]byte
}

// InitializeAuto creates the keys under an auto seal: the root key wrapped
// by the seal, keyring term 1 under the root key, and a recovery key
// (wrapped by the seal) split into recovery shares. Unlike Shamir it
// leaves the barrier unsealed: no operator is needed to unseal.
func (b *Barrier) InitializeAuto(ctx context.Context, p AutoInitParams, as AutoSeal) (*AutoInitResult, error) {
	cfg := SealConfig{Type: as.Type(), SecretShares: 1, SecretThreshold: 1, RecoveryShares: p.RecoveryShares, RecoveryThreshold: p.RecoveryThreshold}
	rawCfg, err := b.beginInit(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer b.keyringMu.Unlock()
	rootKey := make([]byte, keySize)
	defer clear(rootKey)
	recoveryKey := make([]byte, keySize)
	defer clear(recoveryKey)
	rand.Read(rootKey)
	rand.Read(recoveryKey)
	rootBlob, keyringBlob, err := initialRecords(ctx, as, rootKey)
	if err != nil {
		return nil, err
	}
	recoveryBlob, err := as.Wrap(ctx, recoveryKeyPath, recoveryKey)
	if err != nil {
		return nil, fmt.Errorf("seal: wrap recovery key: %w", err)
	}
	shares, err := shamir.Split(recoveryKey, cfg.RecoveryShares, cfg.RecoveryThreshold)
	if err != nil {
		return nil, fmt.Errorf("seal: split recovery key: %w", err)
	}
	if err := b.writeRecords(ctx, map[string][]byte{
		rootKeyPath: rootBlob, keyringPath: keyringBlob, recoveryKeyPath: recoveryBlob, sealConfigPath: rawCfg,
	}, nil); err != nil {
		zeroAll(shares)
		return nil, fmt.Errorf("seal: initialize: %w", err)
	}
	b.initialized.Store(true)
	if err := b.unsealWith(ctx, as, rootBlob, keyringBlob); err != nil {
		zeroAll(shares)
		return nil, err
	}
	b.logger.Info("barrier initialized with an auto seal", "seal", as.Type(), "recovery_shares", cfg.RecoveryShares, "recovery_threshold", cfg.RecoveryThreshold)
	return &AutoInitResult{RecoveryShares: shares}, nil
}

// UnsealAuto unseals with the auto seal: the HSM unwraps the root key.
func (b *Barrier) UnsealAuto(ctx context.Context, as AutoSeal) error {
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	cfg, err := b.SealConfig(ctx)
	if err != nil {
		return err
	}
	if cfg == nil {
		return ErrNotInitialized
	}
	if cfg.Type != as.Type() {
		return fmt.Errorf("%w: stored %q, configured %q", ErrSealMismatch, cfg.Type, as.Type())
	}
	if !b.Sealed() {
		return nil
	}
	rootBlob, keyringBlob, err := b.readRecords(ctx)
	if err != nil {
		return err
	}
	if err := b.unsealWith(ctx, as, rootBlob, keyringBlob); err != nil {
		if errors.Is(err, errRootKey) {
			return fmt.Errorf("seal: the %s seal does not unwrap the root key (another key?): %w", as.Type(), err)
		}
		return err
	}
	return nil
}

// MigrateToAuto moves a Shamir barrier to the auto seal as: operators
// submit their unseal shares (as with Unseal); at the threshold the root
// key is unwrapped with them and rewrapped by as, the recombined unseal
// key becomes the recovery key (the shares become recovery shares, as in
// Vault), and the configuration names as, in one atomic write. The
// barrier is then unsealed; the shares no longer unseal.
func (b *Barrier) MigrateToAuto(ctx context.Context, share []byte, as AutoSeal) (*UnsealStatus, error) {
	return b.migrate(ctx, share, func(cfg *SealConfig) error {
		if cfg.Auto() {
			return fmt.Errorf("%w: the stored seal is already %q", ErrSealMismatch, cfg.Type)
		}
		return nil
	}, func(ctx context.Context, cfg *SealConfig, key []byte) (map[string][]byte, []string, error) {
		w, err := newKeyWrapper(key)
		if err != nil {
			return nil, nil, err
		}
		rootKey, err := b.unsealFrom(ctx, w)
		if err != nil {
			return nil, nil, err
		}
		defer clear(rootKey)
		rootBlob, err := as.Wrap(ctx, rootKeyPath, rootKey)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: wrap root key with %s: %w", as.Type(), err)
		}
		recoveryBlob, err := as.Wrap(ctx, recoveryKeyPath, key)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: wrap recovery key with %s: %w", as.Type(), err)
		}
		next := SealConfig{Type: as.Type(), SecretShares: 1, SecretThreshold: 1, RecoveryShares: cfg.SecretShares, RecoveryThreshold: cfg.SecretThreshold}
		raw, err := json.Marshal(next)
		if err != nil {
			return nil, nil, err
		}
		return map[string][]byte{rootKeyPath: rootBlob, recoveryKeyPath: recoveryBlob, sealConfigPath: raw}, nil, nil
	})
}

// MigrateToShamir moves an auto-sealed barrier back to Shamir: operators
// submit their recovery shares; at the threshold they are checked against
// the recovery key (unwrapped by as, which must still reach the HSM), the
// root key is unwrapped by as and rewrapped under the recovery key, which
// becomes the unseal key (the recovery shares become unseal shares).
func (b *Barrier) MigrateToShamir(ctx context.Context, share []byte, as AutoSeal) (*UnsealStatus, error) {
	return b.migrate(ctx, share, func(cfg *SealConfig) error {
		if cfg.Type != as.Type() {
			return fmt.Errorf("%w: stored %q, the disabled seal is %q", ErrSealMismatch, cfg.Type, as.Type())
		}
		return nil
	}, func(ctx context.Context, cfg *SealConfig, key []byte) (map[string][]byte, []string, error) {
		recoveryBlob, err := b.readRecord(ctx, recoveryKeyPath)
		if err != nil || recoveryBlob == nil {
			return nil, nil, fmt.Errorf("seal: read recovery key: %w", errors.Join(err, errors.New("missing")))
		}
		stored, err := as.Unwrap(ctx, recoveryKeyPath, recoveryBlob)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: unwrap recovery key with %s: %w", as.Type(), err)
		}
		defer clear(stored)
		if subtle.ConstantTimeCompare(stored, key) != 1 {
			return nil, nil, errRootKey
		}
		rootKey, err := b.unsealFrom(ctx, as)
		if err != nil {
			return nil, nil, err
		}
		defer clear(rootKey)
		w, err := newKeyWrapper(key)
		if err != nil {
			return nil, nil, err
		}
		rootBlob, err := w.Wrap(ctx, rootKeyPath, rootKey)
		if err != nil {
			return nil, nil, err
		}
		next := SealConfig{Type: SealTypeShamir, SecretShares: cfg.RecoveryShares, SecretThreshold: cfg.RecoveryThreshold}
		raw, err := json.Marshal(next)
		if err != nil {
			return nil, nil, err
		}
		return map[string][]byte{rootKeyPath: rootBlob, sealConfigPath: raw}, []string{recoveryKeyPath}, nil
	})
}

// migrate collects shares toward the threshold of the stored config, then
// has rewrap compute the new records from the recombined key and writes
// them atomically. The barrier ends unsealed.
func (b *Barrier) migrate(ctx context.Context, share []byte, check func(*SealConfig) error,
	rewrap func(ctx context.Context, cfg *SealConfig, key []byte) (map[string][]byte, []string, error)) (*UnsealStatus, error) {
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	cfg, err := b.SealConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, ErrNotInitialized
	}
	if err := check(cfg); err != nil {
		return nil, err
	}
	shares, threshold := cfg.SharesNeeded()
	if len(share) != cfg.shareSize() {
		return nil, &detailError{kind: ErrBadShares, msg: fmt.Sprintf("seal: invalid key: want %d bytes, got %d", cfg.shareSize(), len(share))}
	}
	parts, err := b.addShare(share, cfg)
	if err != nil {
		return nil, err
	}
	if parts == nil {
		progress, nonce := b.UnsealProgress()
		return &UnsealStatus{Sealed: true, Threshold: threshold, Shares: shares, Progress: progress, Nonce: nonce}, nil
	}
	defer zeroAll(parts)
	key, err := shamir.Combine(parts)
	if err != nil {
		return nil, &detailError{kind: ErrBadShares, msg: "seal: invalid keys: they do not combine"}
	}
	defer clear(key)
	puts, deletes, err := rewrap(ctx, cfg, key)
	if err != nil {
		b.Seal()
		if errors.Is(err, errRootKey) {
			return nil, ErrBadShares
		}
		return nil, err
	}
	if err := b.writeRecords(ctx, puts, deletes); err != nil {
		b.Seal()
		return nil, fmt.Errorf("seal: migrate: write records: %w", err)
	}
	b.logger.Warn("seal migrated", "from", cfg.Type)
	return &UnsealStatus{Threshold: threshold, Shares: shares}, nil
}

// unsealFrom unseals with w and returns a copy of the root key (the
// caller zeroes it).
func (b *Barrier) unsealFrom(ctx context.Context, w Wrapper) ([]byte, error) {
	rootBlob, keyringBlob, err := b.readRecords(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.unsealWith(ctx, w, rootBlob, keyringBlob); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return append([]byte(nil), b.rootKey...), nil
}

// NewShamirWrapper is the Shamir seal's Wrapper for an unseal key (for
// the conformance suite; the caller zeroes key).
func NewShamirWrapper(key []byte) (Wrapper, error) { return newKeyWrapper(key) }
