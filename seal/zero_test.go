package seal

import (
	"bytes"
	"testing"
)

func TestSealZeroesKeys(t *testing.T) {
	b, _, _ := mustBarrier(t)
	if _, err := b.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.mu.RLock()
	keys := [][]byte{b.rootKey}
	for _, term := range b.keys.terms {
		keys = append(keys, term.key)
	}
	b.mu.RUnlock()
	if len(keys) != 3 {
		t.Fatalf("%d key slices, want 3 (root and two terms)", len(keys))
	}
	for _, k := range keys {
		if len(k) != keySize || bytes.Equal(k, make([]byte, keySize)) {
			t.Fatal("key missing or already zero before Seal")
		}
	}
	b.Seal()
	for i, k := range keys {
		if !bytes.Equal(k, make([]byte, keySize)) {
			t.Fatalf("key %d not zeroed by Seal", i)
		}
	}
	if b.rootKey != nil || b.rootAEAD != nil || b.keys != nil {
		t.Fatal("Seal left references to key material")
	}
}

func TestResetUnsealZeroesShares(t *testing.T) {
	store := newMemStore()
	b := NewBarrier(store, testLogger(t))
	shares := mustInit(t, b, 3, 3)
	mustUnsealPartial(t, b, shares[:2])
	b.progressMu.Lock()
	held := append([][]byte(nil), b.parts...)
	b.progressMu.Unlock()
	b.ResetUnseal()
	for _, p := range held {
		if !bytes.Equal(p, make([]byte, len(p))) {
			t.Fatal("ResetUnseal left a share in memory")
		}
	}
	for _, s := range shares {
		if bytes.Equal(s, make([]byte, len(s))) {
			t.Fatal("ResetUnseal zeroed the caller's share")
		}
	}
}

func TestUnsealZeroesItsCopies(t *testing.T) {
	store := newMemStore()
	b := NewBarrier(store, testLogger(t))
	shares := mustInit(t, b, 3, 2)
	mustUnsealPartial(t, b, shares[:1])
	b.progressMu.Lock()
	held := b.parts[0]
	b.progressMu.Unlock()
	mustUnsealPartial(t, b, shares[1:2])
	if b.Sealed() {
		t.Fatal("still sealed")
	}
	t.Cleanup(b.Seal)
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Fatal("the recorded share copy survived unsealing")
	}
}
