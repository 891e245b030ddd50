package seal

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"testing"
)

// mustUnsealPartial submits shares without expecting any outcome but no error.
func mustUnsealPartial(tb testing.TB, b *Barrier, shares [][]byte) *UnsealStatus {
	tb.Helper()
	var st *UnsealStatus
	for i, s := range shares {
		var err error
		if st, err = b.Unseal(context.Background(), s); err != nil {
			tb.Fatalf("Unseal share %d: %v", i, err)
		}
	}
	return st
}

func TestInitializeLeavesSealed(t *testing.T) {
	ctx := context.Background()
	b := NewBarrier(newMemStore(), testLogger(t))
	if ok, err := b.Initialized(ctx); err != nil || ok {
		t.Fatalf("Initialized before init = %v, %v", ok, err)
	}
	if cfg, err := b.SealConfig(ctx); err != nil || cfg != nil {
		t.Fatalf("SealConfig before init = %v, %v", cfg, err)
	}
	shares := mustInit(t, b, 5, 3)
	for _, s := range shares {
		if len(s) != keySize+1 {
			t.Fatalf("share is %d bytes, want %d", len(s), keySize+1)
		}
	}
	if !b.Sealed() {
		t.Fatal("Initialize left the barrier unsealed")
	}
	if ok, err := b.Initialized(ctx); err != nil || !ok {
		t.Fatalf("Initialized after init = %v, %v", ok, err)
	}
	cfg, err := b.SealConfig(ctx)
	if err != nil || *cfg != (SealConfig{Type: "shamir", SecretShares: 5, SecretThreshold: 3}) {
		t.Fatalf("SealConfig = %+v, %v", cfg, err)
	}
	if _, err := b.Initialize(ctx, InitParams{SecretShares: 5, SecretThreshold: 3}); !errors.Is(err, ErrAlreadyInitialized) {
		t.Fatalf("second Initialize: %v", err)
	}
	// Another barrier over the same store (no cached state) refuses too.
	if _, err := NewBarrier(b.store, nil).Initialize(ctx, InitParams{SecretShares: 1, SecretThreshold: 1}); !errors.Is(err, ErrAlreadyInitialized) {
		t.Fatalf("Initialize through a second barrier: %v", err)
	}
}

func TestInitializeInvalidParams(t *testing.T) {
	tests := []struct{ shares, threshold int }{
		{0, 0}, {0, 1}, {1, 0}, {3, 1}, {2, 3}, {256, 3}, {-1, 2}, {5, 6},
	}
	for _, tt := range tests {
		b := NewBarrier(newMemStore(), nil)
		_, err := b.Initialize(context.Background(), InitParams{SecretShares: tt.shares, SecretThreshold: tt.threshold})
		if !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Initialize(%d, %d): err = %v, want ErrInvalidParams", tt.shares, tt.threshold, err)
		}
		if ok, _ := b.Initialized(context.Background()); ok {
			t.Errorf("Initialize(%d, %d) failed but initialised", tt.shares, tt.threshold)
		}
	}
}

func TestUnsealAnyOrder(t *testing.T) {
	r := mrand.New(mrand.NewPCG(7, 8))
	ctx := context.Background()
	for _, p := range []struct{ n, t int }{{1, 1}, {2, 2}, {3, 2}, {5, 3}, {5, 5}, {10, 4}} {
		store := newMemStore()
		b := NewBarrier(store, testLogger(t))
		shares := mustInit(t, b, p.n, p.t)
		for trial := range 6 {
			var subset [][]byte
			for _, i := range r.Perm(p.n)[:p.t] {
				subset = append(subset, shares[i])
			}
			mustUnseal(t, b, subset)
			if trial == 0 {
				mustPut(t, b, "k", []byte("v"))
			}
			if got := mustGet(t, b, "k"); string(got) != "v" {
				t.Fatalf("n=%d t=%d: read %q", p.n, p.t, got)
			}
			// Unseal on an unsealed barrier reports it, without error.
			st, err := b.Unseal(ctx, shares[0])
			if err != nil || st.Sealed || st.Threshold != p.t || st.Shares != p.n {
				t.Fatalf("Unseal when unsealed = %+v, %v", st, err)
			}
			b.Seal()
		}
	}
}

func TestUnsealProgress(t *testing.T) {
	b := NewBarrier(newMemStore(), testLogger(t))
	shares := mustInit(t, b, 5, 3)
	if p, n := b.UnsealProgress(); p != 0 || n != "" {
		t.Fatalf("progress before any share = %d, %q", p, n)
	}
	st := mustUnsealPartial(t, b, shares[:1])
	if !st.Sealed || st.Progress != 1 || st.Threshold != 3 || st.Shares != 5 {
		t.Fatalf("status = %+v", st)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid.MatchString(st.Nonce) {
		t.Fatalf("nonce %q is not a UUID", st.Nonce)
	}
	// The same share again is ignored; the nonce stays.
	if st2 := mustUnsealPartial(t, b, shares[:1]); st2.Progress != 1 || st2.Nonce != st.Nonce {
		t.Fatalf("after a resubmitted share: %+v", st2)
	}
	if st2 := mustUnsealPartial(t, b, shares[1:2]); st2.Progress != 2 || st2.Nonce != st.Nonce {
		t.Fatalf("after the second share: %+v", st2)
	}
	b.ResetUnseal()
	if p, n := b.UnsealProgress(); p != 0 || n != "" {
		t.Fatalf("progress after reset = %d, %q", p, n)
	}
	mustUnseal(t, b, shares[2:5])
	b.Seal()
}

func TestUnsealBadShares(t *testing.T) {
	ctx := context.Background()
	b := NewBarrier(newMemStore(), testLogger(t))
	shares := mustInit(t, b, 5, 3)
	foreign := mustInit(t, NewBarrier(newMemStore(), nil), 5, 3)

	tampered := slices.Clone(shares[2])
	tampered[0] ^= 1
	// A share from another cluster whose x differs from the two submitted.
	var stranger []byte
	for _, f := range foreign {
		if x := f[keySize]; x != shares[0][keySize] && x != shares[1][keySize] {
			stranger = f
			break
		}
	}
	for name, last := range map[string][]byte{"tampered": tampered, "foreign": stranger} {
		t.Run(name, func(t *testing.T) {
			mustUnsealPartial(t, b, shares[:2])
			_, err := b.Unseal(ctx, last)
			if !errors.Is(err, ErrBadShares) {
				t.Fatalf("err = %v, want ErrBadShares", err)
			}
			if err.Error() != "seal: failed to decrypt the root key: the unseal keys are wrong" {
				t.Fatalf("message %q", err)
			}
			if p, n := b.UnsealProgress(); p != 0 || n != "" {
				t.Fatalf("progress after bad shares = %d, %q", p, n)
			}
			if !b.Sealed() {
				t.Fatal("unsealed with bad shares")
			}
		})
	}
	mustUnseal(t, b, shares[2:])
	b.Seal()
}

func TestUnsealRejectsMalformedShare(t *testing.T) {
	ctx := context.Background()
	b := NewBarrier(newMemStore(), testLogger(t))
	shares := mustInit(t, b, 5, 3)
	mustUnsealPartial(t, b, shares[:1])
	sameX := slices.Clone(shares[1])
	sameX[keySize] = shares[0][keySize]
	zeroX := slices.Clone(shares[1])
	zeroX[keySize] = 0
	tests := map[string][]byte{
		"empty":      nil,
		"short":      shares[1][:keySize],
		"long":       append(slices.Clone(shares[1]), 0),
		"x zero":     zeroX,
		"x conflict": sameX,
	}
	for name, share := range tests {
		if _, err := b.Unseal(ctx, share); !errors.Is(err, ErrBadShares) {
			t.Errorf("%s: err = %v, want ErrBadShares", name, err)
		}
		if p, _ := b.UnsealProgress(); p != 1 {
			t.Errorf("%s: progress %d, want 1 (unchanged)", name, p)
		}
	}
	mustUnsealPartial(t, b, shares[1:3])
	if b.Sealed() {
		t.Fatal("still sealed")
	}
	b.Seal()
}

func TestUnsealNotInitialized(t *testing.T) {
	b := NewBarrier(newMemStore(), nil)
	if _, err := b.Unseal(context.Background(), make([]byte, keySize+1)); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("err = %v, want ErrNotInitialized", err)
	}
}

func TestUnsealStorageFailureKeepsProgress(t *testing.T) {
	store := newMemStore()
	b := NewBarrier(store, testLogger(t))
	shares := mustInit(t, b, 3, 2)
	mustUnsealPartial(t, b, shares[:1])
	store.setFail(true)
	if _, err := b.Unseal(context.Background(), shares[1]); !errors.Is(err, errUnavailable) {
		t.Fatalf("err = %v, want the storage error", err)
	}
	store.setFail(false)
	if p, _ := b.UnsealProgress(); p != 1 {
		t.Fatalf("progress %d after a storage failure, want 1", p)
	}
	mustUnsealPartial(t, b, shares[1:2])
	if b.Sealed() {
		t.Fatal("still sealed")
	}
	b.Seal()
}

func TestPersistence(t *testing.T) {
	b, store, shares := mustBarrier(t)
	ctx := context.Background()
	mustPut(t, b, "logical/m/one", []byte("term one"))
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "logical/m/two", []byte("term two"))
	b.Seal()

	// A restarted node: a new barrier over the same store.
	restarted := NewBarrier(store, testLogger(t))
	if !restarted.Sealed() {
		t.Fatal("a new barrier starts unsealed")
	}
	if ok, err := restarted.Initialized(ctx); err != nil || !ok {
		t.Fatalf("Initialized = %v, %v", ok, err)
	}
	mustUnseal(t, restarted, [][]byte{shares[4], shares[0], shares[2]})
	t.Cleanup(restarted.Seal)
	for key, want := range map[string]string{"logical/m/one": "term one", "logical/m/two": "term two"} {
		if got := mustGet(t, restarted, key); string(got) != want {
			t.Fatalf("%s = %q, want %q", key, got, want)
		}
	}
	if ks, err := restarted.KeyStatus(); err != nil || ks.Term != 2 {
		t.Fatalf("KeyStatus = %+v, %v", ks, err)
	}
}

func TestSingleShareSeal(t *testing.T) {
	b := NewBarrier(newMemStore(), testLogger(t))
	shares := mustInit(t, b, 1, 1)
	if len(shares[0]) != keySize {
		t.Fatalf("1-of-1 share is %d bytes, want the %d-byte key", len(shares[0]), keySize)
	}
	wrong := slices.Clone(shares[0])
	wrong[5] ^= 0x80
	if _, err := b.Unseal(context.Background(), wrong); !errors.Is(err, ErrBadShares) {
		t.Fatalf("wrong key: %v", err)
	}
	mustUnseal(t, b, shares)
	b.Seal()
}
