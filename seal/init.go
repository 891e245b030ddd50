package seal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"coffer/seal/shamir"
)

// SealConfig is the seal's public configuration, stored raw (JSON) at
// core/seal-config: the one record the barrier stores unencrypted. Its
// presence marks the barrier initialised.
type SealConfig struct {
	Type            string `json:"type"`
	SecretShares    int    `json:"secret_shares"`
	SecretThreshold int    `json:"secret_threshold"`
	// RecoveryShares and RecoveryThreshold describe the recovery key of
	// an auto seal (Type other than "shamir"); zero for Shamir.
	RecoveryShares    int `json:"recovery_shares,omitempty"`
	RecoveryThreshold int `json:"recovery_threshold,omitempty"`
}

// Auto reports whether the seal is an auto seal (an HSM), whose root key
// unwraps with no operator and whose shares are recovery shares.
func (c *SealConfig) Auto() bool { return c.Type != SealTypeShamir }

// SharesNeeded are the shares and threshold operators hold: unseal shares
// for Shamir, recovery shares for an auto seal.
func (c *SealConfig) SharesNeeded() (shares, threshold int) {
	if c.Auto() {
		return c.RecoveryShares, c.RecoveryThreshold
	}
	return c.SecretShares, c.SecretThreshold
}

// SealTypeShamir is SealConfig.Type for the Shamir seal.
const SealTypeShamir = "shamir"

// validate applies Vault's rules for a Shamir configuration, or for an
// auto seal's recovery shares.
func (c *SealConfig) validate() error {
	if c.Auto() {
		if c.SecretShares != 1 || c.SecretThreshold != 1 {
			return fmt.Errorf("%w: an auto seal stores one key", ErrInvalidParams)
		}
		return validateShares(c.RecoveryShares, c.RecoveryThreshold, "recovery ")
	}
	return validateShares(c.SecretShares, c.SecretThreshold, "")
}

func validateShares(shares, threshold int, kind string) error {
	var msg string
	switch {
	case shares < 1:
		msg = "shares must be at least one"
	case threshold < 1:
		msg = "threshold must be at least one"
	case shares > 255:
		msg = "shares must be at most 255"
	case threshold > shares:
		msg = "threshold cannot be larger than shares"
	case shares > 1 && threshold == 1:
		msg = "threshold must be greater than one for multiple shares"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s%s", ErrInvalidParams, kind, msg)
}

// shareSize is the length of one unseal key share under c: the bare unseal
// key when there is a single share, else the key plus the x coordinate.
func (c *SealConfig) shareSize() int {
	if n, _ := c.SharesNeeded(); n == 1 {
		return keySize
	}
	return keySize + 1
}

// decodeSealConfig parses and checks a core/seal-config record.
func decodeSealConfig(raw []byte) (*SealConfig, error) {
	var c SealConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("seal: decode seal config: %w", err)
	}
	if c.Type == "" {
		return nil, fmt.Errorf("seal: stored seal config has no type")
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("seal: stored seal config: %w", err)
	}
	return &c, nil
}

// SealConfig returns the stored seal configuration; nil, nil when the
// barrier is not initialised.
func (b *Barrier) SealConfig(ctx context.Context) (*SealConfig, error) {
	raw, err := b.readRecord(ctx, sealConfigPath)
	if err != nil {
		return nil, fmt.Errorf("seal: read seal config: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	return decodeSealConfig(raw)
}

// beginInit validates and encodes cfg for an initialisation and takes the
// keyring lock, refusing a barrier already initialised. On success the
// caller holds b.keyringMu and must unlock it.
func (b *Barrier) beginInit(ctx context.Context, cfg SealConfig) ([]byte, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("seal: encode seal config: %w", err)
	}
	b.keyringMu.Lock()
	if ok, err := b.Initialized(ctx); err != nil || ok {
		b.keyringMu.Unlock()
		if err == nil {
			err = ErrAlreadyInitialized
		}
		return nil, err
	}
	return rawCfg, nil
}

// Initialized reports whether the barrier has been initialised (the seal
// configuration exists).
func (b *Barrier) Initialized(ctx context.Context) (bool, error) {
	if b.initialized.Load() {
		return true, nil
	}
	raw, err := b.readRecord(ctx, sealConfigPath)
	if err != nil {
		return false, fmt.Errorf("seal: read seal config: %w", err)
	}
	if raw == nil {
		return false, nil
	}
	b.initialized.Store(true)
	return true, nil
}

// InitParams configures the Shamir seal at initialisation.
type InitParams struct {
	SecretShares, SecretThreshold int
}

// InitResult is what initialisation returns once: the raw unseal key
// shares. The caller encodes them for the operator and then zeroes them.
type InitResult struct {
	Shares [][]byte
}

// Initialize creates the keys: a 32-byte unseal key split into shares, a
// 32-byte root key wrapped by the unseal key, and keyring term 1 sealed
// under the root key. It stores the root key and keyring records, then the
// seal configuration (whose presence marks the barrier initialised), and
// leaves the barrier sealed, as Vault does. Every key is zeroed before it
// returns; only the shares leave.
func (b *Barrier) Initialize(ctx context.Context, p InitParams) (*InitResult, error) {
	cfg := SealConfig{Type: SealTypeShamir, SecretShares: p.SecretShares, SecretThreshold: p.SecretThreshold}
	rawCfg, err := b.beginInit(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer b.keyringMu.Unlock()

	unsealKey := make([]byte, keySize)
	defer clear(unsealKey)
	rand.Read(unsealKey)
	rootKey := make([]byte, keySize)
	defer clear(rootKey)
	rand.Read(rootKey)

	wrapper, err := newKeyWrapper(unsealKey)
	if err != nil {
		return nil, err
	}
	rootBlob, keyringBlob, err := initialRecords(ctx, wrapper, rootKey)
	if err != nil {
		return nil, err
	}
	shares, err := shamir.Split(unsealKey, cfg.SecretShares, cfg.SecretThreshold)
	if err != nil {
		return nil, fmt.Errorf("seal: split unseal key: %w", err)
	}

	for _, rec := range []struct {
		path  string
		value []byte
	}{
		{rootKeyPath, rootBlob},
		{keyringPath, keyringBlob},
		{sealConfigPath, rawCfg}, // last: it marks the barrier initialised
	} {
		if err := b.store.Put(ctx, rec.path, rec.value); err != nil {
			for _, s := range shares {
				clear(s)
			}
			return nil, fmt.Errorf("seal: initialize: write %s: %w", rec.path, err)
		}
	}
	b.initialized.Store(true)
	b.logger.Info("barrier initialized", "shares", cfg.SecretShares, "threshold", cfg.SecretThreshold)
	return &InitResult{Shares: shares}, nil
}

// initialRecords wraps rootKey and seals a new keyring (term 1) under it.
func initialRecords(ctx context.Context, w Wrapper, rootKey []byte) (rootBlob, keyringBlob []byte, err error) {
	rootBlob, err = w.Wrap(ctx, rootKeyPath, rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: wrap root key: %w", err)
	}
	rootAEAD, err := newAEAD(rootKey)
	if err != nil {
		return nil, nil, err
	}
	first, err := randomTerm(1)
	if err != nil {
		return nil, nil, err
	}
	keys := newKeyring(first)
	defer keys.zero()
	return rootBlob, sealKeyring(rootAEAD, keys), nil
}
