package seal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
)

// Rotate adds a keyring term with a fresh random key, persists the
// keyring, and makes the term active: new writes use it, blobs sealed with
// older terms still decrypt. It first reloads the stored keyring, so a
// node that has not seen another node's rotation does not reuse its term
// number. Rotations must not run on two nodes at once (they run on the
// leader, where the cluster accepts writes).
func (b *Barrier) Rotate(ctx context.Context) (uint32, error) {
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	if err := b.reloadLocked(ctx); err != nil {
		return 0, fmt.Errorf("seal: rotate: %w", err)
	}

	b.mu.RLock()
	if b.sealed.Load() {
		b.mu.RUnlock()
		return 0, ErrSealed
	}
	if b.keys.active.number == math.MaxUint32 {
		b.mu.RUnlock()
		return 0, errors.New("seal: rotate: key terms exhausted")
	}
	t, err := randomTerm(b.keys.active.number + 1)
	if err != nil {
		b.mu.RUnlock()
		return 0, fmt.Errorf("seal: rotate: %w", err)
	}
	// The next keyring shares the current terms; the live one is not
	// changed until the new record is durable.
	next := &keyring{terms: maps.Clone(b.keys.terms), active: b.keys.active}
	next.add(t)
	blob := sealKeyring(b.rootAEAD, next)
	b.mu.RUnlock()

	if err := b.store.Put(ctx, keyringPath, blob); err != nil {
		t.zero()
		return 0, fmt.Errorf("seal: rotate: write keyring: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed.Load() {
		// Sealed meanwhile: the term is stored and the next unseal loads it.
		t.zero()
	} else {
		b.keys.add(t)
	}
	b.logger.Info("keyring rotated", "term", t.number)
	return t.number, nil
}

// ReloadKeyring merges the stored keyring into this node's: terms added by
// another node's rotation become usable, and the newest becomes active.
// The cluster layer may call it on gaining leadership; Get and Decrypt
// call it themselves on meeting an unknown term.
func (b *Barrier) ReloadKeyring(ctx context.Context) error {
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	return b.reloadLocked(ctx)
}

// reloadFor reloads the keyring unless term has become known meanwhile
// (another goroutine reloaded it while this one waited for keyringMu).
// blob has passed parseBlob, so it holds a term.
func (b *Barrier) reloadFor(ctx context.Context, blob []byte) error {
	n := binary.BigEndian.Uint32(blob)
	b.keyringMu.Lock()
	defer b.keyringMu.Unlock()
	b.mu.RLock()
	known := !b.sealed.Load() && b.keys.terms[n] != nil
	b.mu.RUnlock()
	if known {
		return nil
	}
	return b.reloadLocked(ctx)
}

// reloadLocked reads, decrypts and merges the stored keyring. The caller
// holds keyringMu; only an unsealed barrier reloads.
func (b *Barrier) reloadLocked(ctx context.Context) error {
	if b.Sealed() {
		return ErrSealed
	}
	blob, err := b.store.Get(ctx, keyringPath)
	if err != nil {
		return fmt.Errorf("seal: read keyring: %w", err)
	}
	if blob == nil {
		return errors.New("seal: keyring record is missing")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed.Load() {
		return ErrSealed
	}
	loaded, err := openKeyring(b.rootAEAD, blob)
	if err != nil {
		return err
	}
	before := b.keys.active.number
	if conflicts := b.keys.merge(loaded); len(conflicts) > 0 {
		b.logger.Error("stored keyring disagrees with this node's keys; keeping this node's", "terms", conflicts)
	}
	if after := b.keys.active.number; after != before {
		b.logger.Info("keyring reloaded", "active_term", after)
	}
	return nil
}
