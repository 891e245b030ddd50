package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"coffer/seal/shamir"
)

// UnsealStatus is the unseal progress after a submitted share.
type UnsealStatus struct {
	Sealed            bool
	Threshold, Shares int
	// Progress is the number of distinct shares held toward Threshold.
	Progress int
	// Nonce identifies the current unseal attempt; empty with no progress.
	Nonce string
}

// errRootKey marks a root key that does not unwrap; Unseal reports it as
// ErrBadShares.
var errRootKey = errors.New("seal: root key does not unwrap")

// Unseal submits one unseal key share. Below the threshold it records a
// copy (an identical resubmission is ignored) and returns the progress. At
// the threshold it recombines the unseal key, unwraps the root key, loads
// the keyring and unseals; if the shares are wrong it returns ErrBadShares
// and progress starts over. Storage errors leave progress unchanged.
//
// share stays the caller's: Unseal never modifies it, and zeroes its own
// copies and the recombined key. Unseal on an unsealed barrier returns
// the unsealed status.
func (b *Barrier) Unseal(ctx context.Context, share []byte) (*UnsealStatus, error) {
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	cfg, err := b.SealConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, ErrNotInitialized
	}
	if cfg.Auto() {
		return nil, ErrAutoSeal
	}
	if !b.Sealed() {
		return &UnsealStatus{Threshold: cfg.SecretThreshold, Shares: cfg.SecretShares}, nil
	}
	if len(share) != cfg.shareSize() {
		return nil, &detailError{kind: ErrBadShares, msg: fmt.Sprintf("seal: invalid unseal key: want %d bytes, got %d", cfg.shareSize(), len(share))}
	}
	if cfg.SecretShares > 1 && share[len(share)-1] == 0 { // x = 0: never made by Split
		return nil, &detailError{kind: ErrBadShares, msg: "seal: invalid unseal key"}
	}
	// Read the records before counting the share, so that a storage
	// failure costs the operators nothing.
	rootBlob, keyringBlob, err := b.readRecords(ctx)
	if err != nil {
		return nil, err
	}

	parts, err := b.addShare(share, cfg)
	if err != nil {
		return nil, err
	}
	if parts == nil {
		progress, nonce := b.UnsealProgress()
		return &UnsealStatus{Sealed: true, Threshold: cfg.SecretThreshold, Shares: cfg.SecretShares, Progress: progress, Nonce: nonce}, nil
	}
	defer zeroAll(parts)

	unsealKey, err := shamir.Combine(parts)
	if err != nil {
		return nil, &detailError{kind: ErrBadShares, msg: "seal: invalid unseal keys: they do not combine"}
	}
	defer clear(unsealKey)
	wrapper, err := newKeyWrapper(unsealKey)
	if err != nil {
		return nil, ErrBadShares
	}
	if err := b.unsealWith(ctx, wrapper, rootBlob, keyringBlob); err != nil {
		if errors.Is(err, errRootKey) {
			b.logger.Warn("unseal failed: the recombined unseal key does not decrypt the root key")
			return nil, ErrBadShares
		}
		return nil, err
	}
	return &UnsealStatus{Threshold: cfg.SecretThreshold, Shares: cfg.SecretShares}, nil
}

// readRecords reads the root key and keyring records.
func (b *Barrier) readRecords(ctx context.Context) (rootBlob, keyringBlob []byte, err error) {
	if rootBlob, err = b.readRecord(ctx, rootKeyPath); err != nil {
		return nil, nil, fmt.Errorf("seal: read root key: %w", err)
	}
	if keyringBlob, err = b.readRecord(ctx, keyringPath); err != nil {
		return nil, nil, fmt.Errorf("seal: read keyring: %w", err)
	}
	if rootBlob == nil || keyringBlob == nil {
		return nil, nil, errors.New("seal: root key or keyring record is missing")
	}
	return rootBlob, keyringBlob, nil
}

// matchShare reports whether share equals one of parts, or shares its
// x-coordinate (last byte) with a different one, comparing every part in
// constant time and without early exit.
func matchShare(parts [][]byte, share []byte) (same, sameX bool) {
	var eqAny, xAny int
	for _, p := range parts {
		eq := subtle.ConstantTimeCompare(p, share)
		eqAny |= eq
		xAny |= subtle.ConstantTimeByteEq(p[len(p)-1], share[len(share)-1]) &^ eq
	}
	return eqAny == 1, xAny == 1
}

// addShare records a copy of share. It returns every recorded share,
// clearing the progress, once the threshold is reached, else nil. Shares
// are compared in constant time and without early exit.
func (b *Barrier) addShare(share []byte, cfg *SealConfig) ([][]byte, error) {
	b.progressMu.Lock()
	defer b.progressMu.Unlock()
	same, sameX := matchShare(b.parts, share)
	if same {
		return nil, nil // already counted
	}
	if n, _ := cfg.SharesNeeded(); sameX && n > 1 {
		return nil, &detailError{kind: ErrBadShares, msg: "seal: invalid unseal key: it conflicts with a key already submitted"}
	}
	if b.nonce == "" {
		b.nonce = newNonce()
	}
	b.parts = append(b.parts, bytes.Clone(share))
	if _, threshold := cfg.SharesNeeded(); len(b.parts) < threshold {
		return nil, nil
	}
	parts := b.parts
	b.parts, b.nonce = nil, ""
	return parts, nil
}

// unsealWith unwraps the root key with w, opens the keyring with it and
// installs both. A root key that does not unwrap is reported as errRootKey.
// This is where a seal other than Shamir (an HSM's Wrapper) plugs in.
func (b *Barrier) unsealWith(ctx context.Context, w Wrapper, rootBlob, keyringBlob []byte) error {
	rootKey, err := w.Unwrap(ctx, rootKeyPath, rootBlob)
	if err != nil {
		if errors.Is(err, ErrDecrypt) {
			return fmt.Errorf("%w: %w", errRootKey, err)
		}
		return fmt.Errorf("seal: unwrap root key: %w", err)
	}
	rootAEAD, err := newAEAD(rootKey)
	if err != nil {
		clear(rootKey)
		return err
	}
	keys, err := openKeyring(rootAEAD, keyringBlob)
	if err != nil {
		clear(rootKey)
		return fmt.Errorf("seal: load keyring: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rootKey, b.rootAEAD, b.keys = rootKey, rootAEAD, keys
	b.sealed.Store(false)
	b.logger.Info("barrier unsealed", "active_term", keys.active.number)
	return nil
}

// ResetUnseal discards (and zeroes) the shares submitted so far.
func (b *Barrier) ResetUnseal() {
	b.progressMu.Lock()
	defer b.progressMu.Unlock()
	zeroAll(b.parts)
	b.parts, b.nonce = nil, ""
}

// UnsealProgress returns the number of shares held and the attempt's nonce.
func (b *Barrier) UnsealProgress() (progress int, nonce string) {
	b.progressMu.Lock()
	defer b.progressMu.Unlock()
	return len(b.parts), b.nonce
}

func zeroAll(bufs [][]byte) {
	for _, buf := range bufs {
		clear(buf)
	}
}

// newNonce returns a random UUID (version 4), Vault's unseal nonce format.
func newNonce() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
