package seal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestBarrierRoundTrip(t *testing.T) {
	b, _, _ := mustBarrier(t)
	ctx := context.Background()
	tests := []struct {
		name, key string
		value     []byte
	}{
		{"small", "logical/abc/secret", []byte("hunter2")},
		{"empty", "logical/abc/empty", []byte{}},
		{"binary", "sys/token/id/x", bytes.Repeat([]byte{0, 0xff}, 300)},
		{"large", "logical/abc/big", bytes.Repeat([]byte("k"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustPut(t, b, tt.key, tt.value)
			if got := mustGet(t, b, tt.key); !bytes.Equal(got, tt.value) {
				t.Fatalf("Get = %d bytes, want %d", len(got), len(tt.value))
			}
			blob := mustEncrypt(t, b, tt.key, tt.value)
			got, err := b.Decrypt(tt.key, blob)
			if err != nil || !bytes.Equal(got, tt.value) {
				t.Fatalf("Decrypt(Encrypt) = %v", err)
			}
		})
	}
	if v := mustGet(t, b, "logical/abc/missing"); v != nil {
		t.Fatalf("missing key: got %q, want nil", v)
	}
	keys, err := b.List(ctx, "logical/abc/")
	if err != nil || !slices.Equal(keys, []string{"big", "empty", "secret"}) {
		t.Fatalf("List = %v, %v", keys, err)
	}
	if err := b.Delete(ctx, "logical/abc/secret"); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, b, "logical/abc/secret"); v != nil {
		t.Fatal("deleted key still readable")
	}
}

func TestBlobFormat(t *testing.T) {
	b, _, _ := mustBarrier(t)
	pt := []byte("plaintext")
	blob := mustEncrypt(t, b, "a/b", pt)
	if len(blob) != headerSize+len(pt)+tagSize {
		t.Fatalf("blob is %d bytes, want %d", len(blob), headerSize+len(pt)+tagSize)
	}
	if term := binary.BigEndian.Uint32(blob); term != 1 {
		t.Fatalf("term = %d, want 1", term)
	}
	if blob[4] != blobVersion {
		t.Fatalf("version = %d", blob[4])
	}
	if bytes.Contains(blob, pt) {
		t.Fatal("blob contains the plaintext")
	}
	again := mustEncrypt(t, b, "a/b", pt)
	if bytes.Equal(blob[5:headerSize], again[5:headerSize]) {
		t.Fatal("nonce repeated")
	}
}

func TestDecryptRejects(t *testing.T) {
	b, _, _ := mustBarrier(t)
	blob := mustEncrypt(t, b, "logical/x/a", []byte("value"))
	withTerm := func(term uint32) []byte {
		c := slices.Clone(blob)
		binary.BigEndian.PutUint32(c, term)
		return c
	}
	withVersion := slices.Clone(blob)
	withVersion[4] = 1
	tests := []struct {
		name, path string
		blob       []byte
	}{
		{"other path", "logical/x/b", blob},
		{"path prefix", "logical/x/", blob},
		{"empty", "logical/x/a", nil},
		{"header only", "logical/x/a", blob[:headerSize]},
		{"truncated by one", "logical/x/a", blob[:len(blob)-1]},
		{"truncated to minimum", "logical/x/a", blob[:minBlobSize]},
		{"unknown term", "logical/x/a", withTerm(99)},
		{"term zero", "logical/x/a", withTerm(0)},
		{"unknown version", "logical/x/a", withVersion},
		{"extended", "logical/x/a", append(slices.Clone(blob), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.Decrypt(tt.path, tt.blob); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestPathSwapFails(t *testing.T) {
	b, store, _ := mustBarrier(t)
	ctx := context.Background()
	mustPut(t, b, "logical/m/alice", []byte("alice's secret"))
	mustPut(t, b, "logical/m/bob", []byte("bob's secret"))
	// An attacker with write access to storage swaps the two blobs.
	if err := store.Put(ctx, "logical/m/bob", store.raw("logical/m/alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "logical/m/bob"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Get of a moved blob: err = %v, want ErrDecrypt", err)
	}
}

func TestEveryBitFlipFails(t *testing.T) {
	b, _, _ := mustBarrier(t)
	const path = "logical/m/k"
	blob := mustEncrypt(t, b, path, []byte("0123456789abcdef"))
	for i := range len(blob) * 8 {
		c := slices.Clone(blob)
		c[i/8] ^= 1 << (i % 8)
		if _, err := b.Decrypt(path, c); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("bit %d flipped: err = %v, want ErrDecrypt", i, err)
		}
	}
	// And the original still opens.
	if _, err := b.Decrypt(path, blob); err != nil {
		t.Fatal(err)
	}
}

func TestReservedPaths(t *testing.T) {
	b, _, _ := mustBarrier(t)
	ctx := context.Background()
	for _, key := range []string{sealConfigPath, rootKeyPath, keyringPath} {
		if err := b.Put(ctx, key, []byte("x")); !errors.Is(err, ErrReservedPath) {
			t.Errorf("Put(%s) = %v", key, err)
		}
		if _, err := b.Get(ctx, key); !errors.Is(err, ErrReservedPath) {
			t.Errorf("Get(%s) = %v", key, err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, ErrReservedPath) {
			t.Errorf("Delete(%s) = %v", key, err)
		}
	}
}

func TestSealedOperationsFail(t *testing.T) {
	b, _, _ := mustBarrier(t)
	ctx := context.Background()
	blob := mustEncrypt(t, b, "k", []byte("v"))
	mustPut(t, b, "k", []byte("v"))
	b.Seal()
	b.Seal() // idempotent
	if !b.Sealed() {
		t.Fatal("not sealed")
	}
	checks := map[string]error{}
	_, checks["Get"] = b.Get(ctx, "k")
	checks["Put"] = b.Put(ctx, "k", []byte("v"))
	_, checks["List"] = b.List(ctx, "")
	checks["Delete"] = b.Delete(ctx, "k")
	_, checks["Encrypt"] = b.Encrypt("k", []byte("v"))
	_, checks["Decrypt"] = b.Decrypt("k", blob)
	_, checks["KeyStatus"] = b.KeyStatus()
	_, checks["Rotate"] = b.Rotate(ctx)
	checks["ReloadKeyring"] = b.ReloadKeyring(ctx)
	for name, err := range checks {
		if !errors.Is(err, ErrSealed) {
			t.Errorf("%s after Seal: err = %v, want ErrSealed", name, err)
		}
	}
}

func TestRotate(t *testing.T) {
	b, _, _ := mustBarrier(t)
	ctx := context.Background()
	mustPut(t, b, "old", []byte("written under term 1"))
	oldBlob := mustEncrypt(t, b, "blob", []byte("term 1 blob"))

	for want := uint32(2); want <= 4; want++ {
		term, err := b.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if term != want {
			t.Fatalf("Rotate = term %d, want %d", term, want)
		}
		ks, err := b.KeyStatus()
		if err != nil || ks.Term != want || ks.Encryptions != 0 || ks.InstallTime.IsZero() {
			t.Fatalf("KeyStatus = %+v, %v", ks, err)
		}
		blob := mustEncrypt(t, b, "new", []byte("x"))
		if got := binary.BigEndian.Uint32(blob); got != want {
			t.Fatalf("new write uses term %d, want %d", got, want)
		}
		if ks, _ := b.KeyStatus(); ks.Encryptions != 1 {
			t.Fatalf("encryptions = %d, want 1", ks.Encryptions)
		}
	}
	if got := mustGet(t, b, "old"); string(got) != "written under term 1" {
		t.Fatalf("old value = %q", got)
	}
	if got, err := b.Decrypt("blob", oldBlob); err != nil || string(got) != "term 1 blob" {
		t.Fatalf("old blob: %q, %v", got, err)
	}
}

// TestRotationSeenByAnotherNode: two barriers over one store stand for two
// unsealed nodes; a blob sealed with a term one of them has not loaded yet
// makes it reload the keyring, and its own rotation continues from there.
func TestRotationSeenByAnotherNode(t *testing.T) {
	a, store, shares := mustBarrier(t)
	ctx := context.Background()
	other := NewBarrier(store, testLogger(t))
	mustUnseal(t, other, shares[2:])
	t.Cleanup(other.Seal)

	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, a, "k", []byte("term 2 value"))
	if got := mustGet(t, other, "k"); string(got) != "term 2 value" {
		t.Fatalf("other node read %q", got)
	}
	if ks, _ := other.KeyStatus(); ks.Term != 2 {
		t.Fatalf("other node active term %d after reload, want 2", ks.Term)
	}
	// Decrypt (no context) reloads too.
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	blob := mustEncrypt(t, a, "p", []byte("term 3"))
	if got, err := other.Decrypt("p", blob); err != nil || string(got) != "term 3" {
		t.Fatalf("Decrypt of a term-3 blob: %q, %v", got, err)
	}
	// A rotation on the other node starts from the stored keyring.
	if _, err := a.Rotate(ctx); err != nil { // term 4, unseen by other
		t.Fatal(err)
	}
	term, err := other.Rotate(ctx)
	if err != nil || term != 5 {
		t.Fatalf("other.Rotate = %d, %v; want 5", term, err)
	}
	if err := a.ReloadKeyring(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Barrier{a, other} {
		if ks, _ := n.KeyStatus(); ks.Term != 5 {
			t.Fatalf("active term %d, want 5", ks.Term)
		}
	}
	// A term that exists nowhere still fails, after one reload.
	bogus := slices.Clone(blob)
	binary.BigEndian.PutUint32(bogus, 42)
	if _, err := other.Decrypt("p", bogus); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("unknown term: %v", err)
	}
}

func TestRotateStorageFailure(t *testing.T) {
	b, store, _ := mustBarrier(t)
	store.setFail(true)
	if _, err := b.Rotate(context.Background()); !errors.Is(err, errUnavailable) {
		t.Fatalf("Rotate with storage down: %v", err)
	}
	store.setFail(false)
	if ks, _ := b.KeyStatus(); ks.Term != 1 {
		t.Fatalf("term %d after a failed rotation", ks.Term)
	}
}

// TestNothingPlainReachesStorage checks what the barrier hands to storage:
// no stored value but the seal config is readable, and no key appears.
func TestNothingPlainReachesStorage(t *testing.T) {
	b, store, _ := mustBarrier(t)
	marker := []byte("PLAINTEXT-MARKER-0123456789")
	for i := range 10 {
		mustPut(t, b, fmt.Sprintf("logical/m/%d", i), marker)
	}
	if _, err := b.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "logical/m/after", marker)

	b.mu.RLock()
	secrets := [][]byte{slices.Clone(b.rootKey)}
	for _, term := range b.keys.terms {
		secrets = append(secrets, slices.Clone(term.key))
	}
	b.mu.RUnlock()
	for key, value := range store.snapshot() {
		if key == sealConfigPath {
			cfg, err := decodeSealConfig(value)
			if err != nil || *cfg != (SealConfig{Type: "shamir", SecretShares: 5, SecretThreshold: 3}) {
				t.Fatalf("seal config = %s", value)
			}
			continue
		}
		if bytes.Contains(value, marker) {
			t.Fatalf("%s holds the plaintext", key)
		}
		for _, s := range secrets {
			if bytes.Contains(value, s) {
				t.Fatalf("%s holds a key", key)
			}
		}
		if len(value) < minBlobSize || value[4] != blobVersion {
			t.Fatalf("%s is not a barrier blob", key)
		}
	}
}

// TestSealRacesWithUse runs Seal against concurrent readers and writers;
// under -race it proves the locking, and every call either works or
// reports ErrSealed.
func TestSealRacesWithUse(t *testing.T) {
	b, _, shares := mustBarrier(t)
	ctx := context.Background()
	mustPut(t, b, "k", []byte("v"))
	blob := mustEncrypt(t, b, "p", []byte("v"))
	for round := range 5 {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 50 {
					if err := b.Put(ctx, "k", []byte("v")); err != nil && !errors.Is(err, ErrSealed) {
						t.Errorf("Put: %v", err)
					}
					if _, err := b.Get(ctx, "k"); err != nil && !errors.Is(err, ErrSealed) {
						t.Errorf("Get: %v", err)
					}
					if _, err := b.Decrypt("p", blob); err != nil && !errors.Is(err, ErrSealed) {
						t.Errorf("Decrypt: %v", err)
					}
				}
			})
		}
		b.Seal()
		wg.Wait()
		if round < 4 {
			mustUnseal(t, b, shares[round%3:round%3+3])
		}
	}
}
