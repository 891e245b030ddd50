package seal

import (
	"context"
	"errors"
	"fmt"
)

// Scanner is implemented by storage that can walk keys in order a page at
// a time (cluster.Node).
type Scanner interface {
	Scan(ctx context.Context, prefix, after string, limit int) ([]string, error)
}

// ErrNoBatch: the storage under the barrier cannot write atomically.
var ErrNoBatch = errors.New("seal: the storage cannot write several records atomically")

// Batch encrypts every value for its key and writes puts and deletes
// atomically (one Raft entry): a lease and its expiry index entry, say.
func (b *Barrier) Batch(ctx context.Context, puts map[string][]byte, deletes []string) error {
	bs, ok := b.store.(BatchStorage)
	if !ok {
		return ErrNoBatch
	}
	enc := make(map[string][]byte, len(puts))
	for k, v := range puts {
		if reserved(k) {
			return fmt.Errorf("%w: %s", ErrReservedPath, k)
		}
		blob, err := b.Encrypt(k, v)
		if err != nil {
			return err
		}
		enc[k] = blob
	}
	for _, k := range deletes {
		if err := b.usable(k); err != nil {
			return err
		}
	}
	if err := bs.Batch(ctx, enc, deletes); err != nil {
		return fmt.Errorf("seal: write batch: %w", err)
	}
	return nil
}

// Scan returns up to limit whole keys under prefix after after, in order
// (keys are not encrypted).
func (b *Barrier) Scan(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	if b.Sealed() {
		return nil, ErrSealed
	}
	sc, ok := b.store.(Scanner)
	if !ok {
		return nil, errors.New("seal: the storage cannot scan")
	}
	keys, err := sc.Scan(ctx, prefix, after, limit)
	if err != nil {
		return nil, fmt.Errorf("seal: scan: %w", err)
	}
	return keys, nil
}
