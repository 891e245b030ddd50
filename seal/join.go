package seal

import (
	"context"
	"errors"
	"fmt"
)

// Records are the barrier's own records as stored: the seal configuration
// (JSON, no secret), the root key wrapped by the seal, and the keyring
// encrypted under the root key. A leader sends them to a joining node with
// its challenge; they are ciphertext, and the joiner can open them only
// with the unseal keys (or the HSM) of the same seal.
type Records struct {
	SealConfig []byte `json:"seal_config"`
	RootKey    []byte `json:"root_key"`
	Keyring    []byte `json:"keyring"`
}

// LocalReader is implemented by storage that can read this node's copy of
// the data without a cluster round trip (cluster.Node). The barrier reads
// its records that way, so a node that cannot reach a leader yet (a
// restarted cluster) can still be unsealed.
type LocalReader interface {
	GetLocal(key string) ([]byte, error)
}

// readRecord reads one of the barrier's records: from the pending records
// of a joining node, else from the local copy if the storage has one,
// else through the storage.
func (b *Barrier) readRecord(ctx context.Context, key string) ([]byte, error) {
	if p := b.pending.Load(); p != nil {
		switch key {
		case sealConfigPath:
			return p.SealConfig, nil
		case rootKeyPath:
			return p.RootKey, nil
		case keyringPath:
			return p.Keyring, nil
		}
	}
	if lr, ok := b.store.(LocalReader); ok {
		return lr.GetLocal(key)
	}
	return b.store.Get(ctx, key)
}

// Records returns the stored records (leader side of a join).
func (b *Barrier) Records(ctx context.Context) (*Records, error) {
	var r Records
	var err error
	if r.SealConfig, err = b.store.Get(ctx, sealConfigPath); err != nil {
		return nil, fmt.Errorf("seal: read seal config: %w", err)
	}
	if r.RootKey, r.Keyring, err = b.readRecords(ctx); err != nil {
		return nil, err
	}
	if r.SealConfig == nil {
		return nil, ErrNotInitialized
	}
	return &r, nil
}

// SetPendingRecords makes a node that is joining a cluster use r (sent by
// the leader) as its records until ClearPendingRecords: SealConfig and
// Initialized report the cluster's seal, and Unseal opens r's root key and
// keyring, so the operators' unseal keys prove the node holds the same
// seal before it is let in.
func (b *Barrier) SetPendingRecords(r *Records) error {
	if r == nil || r.RootKey == nil || r.Keyring == nil {
		return errors.New("seal: incomplete records")
	}
	if _, err := decodeSealConfig(r.SealConfig); err != nil {
		return err
	}
	b.pending.Store(r)
	return nil
}

// ClearPendingRecords returns to the node's own store (once the joined
// node holds the replicated records).
func (b *Barrier) ClearPendingRecords() { b.pending.Store(nil) }

// Joining reports whether the barrier runs on pending records.
func (b *Barrier) Joining() bool { return b.pending.Load() != nil }
