package seal

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"

	"coffer/seal/shamir"
)

// The errors of quorum operations (generate-root, rekey). Messages are
// safe to show a client.
var (
	ErrQuorumNonce = errors.New("seal: incorrect nonce for this attempt")
	// ErrNotAutoSeal: recovery keys exist only with an auto seal.
	ErrNotAutoSeal = errors.New("seal: this barrier uses the Shamir seal; it has no recovery key")
	// ErrQuorumStale: the seal configuration changed since the attempt
	// started (a rekey completed); the shares collected cannot be checked.
	ErrQuorumStale = errors.New("seal: the seal configuration changed during this attempt; cancel it and start again")
)

// Quorum collects the key shares operators submit toward one quorum
// operation (generate-root, rekey) on an unsealed barrier: unseal shares
// with the Shamir seal, recovery shares with an auto seal. It holds copies
// of the shares, compares them in constant time, and zeroes them on Reset
// or when an operation consumes them. It is safe for concurrent use.
//
// A Quorum only counts shares; whether they are right is known at the
// threshold, when VerifyQuorum, Rekey or RekeyRecovery recombines them.
type Quorum struct {
	nonce     string
	shares    int
	threshold int
	size      int

	mu    sync.Mutex
	parts [][]byte
}

// NewQuorum starts an attempt for the operator shares of cfg (unseal or
// recovery shares, see SealConfig.SharesNeeded), with a fresh nonce.
func NewQuorum(cfg *SealConfig) *Quorum {
	shares, threshold := cfg.SharesNeeded()
	return &Quorum{nonce: newNonce(), shares: shares, threshold: threshold, size: cfg.shareSize()}
}

// Nonce identifies the attempt; operators pass it with every share.
func (q *Quorum) Nonce() string { return q.nonce }

// Required is the number of shares the attempt needs.
func (q *Quorum) Required() int { return q.threshold }

// Progress is the number of distinct shares held.
func (q *Quorum) Progress() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.parts)
}

// Add records a copy of share for the attempt named by nonce; share stays
// the caller's. An identical resubmission is ignored. complete reports
// that the threshold is reached: the caller then runs the operation
// (VerifyQuorum, Rekey, RekeyRecovery), which consumes the shares. A
// share of the wrong length, with x = 0, or conflicting with one already
// held is refused (ErrBadShares) without touching progress.
func (q *Quorum) Add(nonce string, share []byte) (complete bool, err error) {
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(q.nonce)) != 1 {
		return false, ErrQuorumNonce
	}
	if len(share) != q.size {
		return false, &detailError{kind: ErrBadShares, msg: fmt.Sprintf("seal: invalid key: want %d bytes, got %d", q.size, len(share))}
	}
	if q.shares > 1 && share[len(share)-1] == 0 { // x = 0: never made by Split
		return false, &detailError{kind: ErrBadShares, msg: "seal: invalid key"}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	same, sameX := matchShare(q.parts, share)
	if same {
		return len(q.parts) >= q.threshold, nil
	}
	if sameX && q.shares > 1 {
		return false, &detailError{kind: ErrBadShares, msg: "seal: invalid key: it conflicts with a key already submitted"}
	}
	if len(q.parts) >= q.threshold {
		return true, nil
	}
	q.parts = append(q.parts, bytes.Clone(share))
	return len(q.parts) >= q.threshold, nil
}

// Reset discards (and zeroes) the shares held; the nonce stays.
func (q *Quorum) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	zeroAll(q.parts)
	q.parts = nil
}

// take hands over the shares held (the caller zeroes them) and resets the
// progress: whatever the operation's outcome, the shares are spent.
func (q *Quorum) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	parts := q.parts
	q.parts = nil
	return parts
}

// quorumKey checks the stored configuration against q and the barrier's
// state, and recombines q's shares into the key operators hold (the
// caller zeroes it). It consumes q's shares. Called with keyringMu.
func (b *Barrier) quorumKey(ctx context.Context, q *Quorum) (*SealConfig, []byte, error) {
	parts := q.take()
	defer zeroAll(parts)
	cfg, err := b.SealConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	if cfg == nil {
		return nil, nil, ErrNotInitialized
	}
	if b.Sealed() {
		return nil, nil, ErrSealed
	}
	if shares, threshold := cfg.SharesNeeded(); shares != q.shares || threshold != q.threshold {
		return nil, nil, ErrQuorumStale
	}
	if len(parts) < q.threshold {
		return nil, nil, &detailError{kind: ErrBadShares, msg: "seal: not enough keys submitted"}
	}
	key, err := shamir.Combine(parts)
	if err != nil {
		return nil, nil, &detailError{kind: ErrBadShares, msg: "seal: invalid keys: they do not combine"}
	}
	return cfg, key, nil
}

// checkUnsealKey unwraps the stored root key with key (a recombined unseal
// key) and returns it (the caller zeroes it); ErrBadShares if key is not
// the unseal key. Called with keyringMu.
func (b *Barrier) checkUnsealKey(ctx context.Context, key []byte) ([]byte, error) {
	rootBlob, err := b.readRecord(ctx, rootKeyPath)
	if err != nil {
		return nil, fmt.Errorf("seal: read root key: %w", err)
	}
	if rootBlob == nil {
		return nil, errors.New("seal: root key record is missing")
	}
	w, err := newKeyWrapper(key)
	if err != nil {
		return nil, ErrBadShares
	}
	rootKey, err := w.Unwrap(ctx, rootKeyPath, rootBlob)
	if err != nil {
		if errors.Is(err, ErrDecrypt) {
			return nil, ErrBadShares
		}
		return nil, fmt.Errorf("seal: unwrap root key: %w", err)
	}
	return rootKey, nil
}

// checkRecoveryKey compares key (a recombined recovery key) in constant
// time with the recovery key as unwraps; ErrBadShares if they differ.
// Called with keyringMu.
func (b *Barrier) checkRecoveryKey(ctx context.Context, cfg *SealConfig, key []byte, as AutoSeal) error {
	if as == nil {
		return fmt.Errorf("%w: no auto seal is configured", ErrSealMismatch)
	}
	if as.Type() != cfg.Type {
		return fmt.Errorf("%w: stored %q, configured %q", ErrSealMismatch, cfg.Type, as.Type())
	}
	blob, err := b.readRecord(ctx, recoveryKeyPath)
	if err != nil {
		return fmt.Errorf("seal: read recovery key: %w", err)
	}
	if blob == nil {
		return errors.New("seal: recovery key record is missing")
	}
	stored, err := as.Unwrap(ctx, recoveryKeyPath, blob)
	if err != nil {
		return fmt.Errorf("seal: unwrap recovery key with %s: %w", as.Type(), err)
	}
	defer clear(stored)
	if subtle.ConstantTimeCompare(stored, key) != 1 {
		return ErrBadShares
	}
	return nil
}

// VerifyQuorum checks, once q is complete, that its shares recombine to
// the key operators hold: with the Shamir seal the unseal key (it must
// unwrap the stored root key); with an auto seal the recovery key (it must
// equal, in constant time, the recovery key as unwraps). It returns nil if
// they do, ErrBadShares if not. Either way q's shares are spent and
// zeroed. The barrier must be unsealed. generate-root calls it before
// making a root token.
func (b *Barrier) VerifyQuorum(ctx context.Context, q *Quorum, as AutoSeal) error {
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	cfg, key, err := b.quorumKey(ctx, q)
	if err != nil {
		return err
	}
	defer clear(key)
	if cfg.Auto() {
		return b.checkRecoveryKey(ctx, cfg, key, as)
	}
	rootKey, err := b.checkUnsealKey(ctx, key)
	if err != nil {
		return err
	}
	clear(rootKey)
	return nil
}
