package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
)

// fakeHSM is an auto seal for tests: an AES key held in memory.
type fakeHSM struct {
	Wrapper
	typ string
}

func (f *fakeHSM) Type() string { return f.typ }

func mustFakeHSM(tb testing.TB) *fakeHSM {
	tb.Helper()
	key := make([]byte, keySize)
	rand.Read(key)
	w, err := NewShamirWrapper(key)
	if err != nil {
		tb.Fatal(err)
	}
	return &fakeHSM{Wrapper: w, typ: "pkcs11"}
}

func TestAutoSealInitUnseal(t *testing.T) {
	ctx := context.Background()
	hsm := mustFakeHSM(t)
	b := NewBarrier(newMemStore(), testLogger(t))
	res, err := b.InitializeAuto(ctx, AutoInitParams{RecoveryShares: 3, RecoveryThreshold: 2}, hsm)
	if err != nil {
		t.Fatalf("InitializeAuto: %v", err)
	}
	if len(res.RecoveryShares) != 3 || b.Sealed() {
		t.Fatalf("recovery shares %d, sealed %v", len(res.RecoveryShares), b.Sealed())
	}
	mustPut(t, b, "logical/x", []byte("secret"))
	b.Seal()
	if _, err := b.Unseal(ctx, res.RecoveryShares[0]); !errors.Is(err, ErrAutoSeal) {
		t.Fatalf("Unseal with a recovery share: %v", err)
	}
	if err := b.UnsealAuto(ctx, hsm); err != nil {
		t.Fatalf("UnsealAuto: %v", err)
	}
	if got := mustGet(t, b, "logical/x"); string(got) != "secret" {
		t.Fatalf("got %q", got)
	}
	b.Seal()
	if err := b.UnsealAuto(ctx, mustFakeHSM(t)); err == nil || !b.Sealed() {
		t.Fatalf("another HSM key unsealed: %v", err)
	}
	cfg, _ := b.SealConfig(ctx)
	if cfg.Type != "pkcs11" || !cfg.Auto() || cfg.RecoveryShares != 3 || cfg.RecoveryThreshold != 2 {
		t.Fatalf("config %+v", cfg)
	}
}

func TestSealMigrationBothWays(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	b := NewBarrier(store, testLogger(t))
	shares := mustInit(t, b, 3, 2)
	mustUnseal(t, b, shares[:2])
	mustPut(t, b, "logical/x", []byte("kept"))
	b.Seal()

	hsm := mustFakeHSM(t)
	// Shamir -> HSM with the unseal shares.
	st, err := b.MigrateToAuto(ctx, shares[0], hsm)
	if err != nil || !st.Sealed {
		t.Fatalf("first share: %+v %v", st, err)
	}
	if st, err = b.MigrateToAuto(ctx, shares[2], hsm); err != nil || st.Sealed {
		t.Fatalf("second share: %+v %v", st, err)
	}
	if got := mustGet(t, b, "logical/x"); string(got) != "kept" {
		t.Fatalf("after migration: %q", got)
	}
	b.Seal()
	if _, err := b.Unseal(ctx, shares[0]); !errors.Is(err, ErrAutoSeal) {
		t.Fatalf("old share after migration: %v", err)
	}
	if err := b.UnsealAuto(ctx, hsm); err != nil {
		t.Fatalf("auto unseal after migration: %v", err)
	}
	b.Seal()

	// HSM -> Shamir with the recovery shares (the former unseal shares);
	// wrong shares are refused first.
	other := NewBarrier(newMemStore(), testLogger(t))
	wrong := mustInit(t, other, 3, 2)
	b.MigrateToShamir(ctx, wrong[0], hsm)
	if _, err := b.MigrateToShamir(ctx, wrong[1], hsm); !errors.Is(err, ErrBadShares) || !b.Sealed() {
		t.Fatalf("wrong recovery shares: %v sealed=%v", err, b.Sealed())
	}
	b.MigrateToShamir(ctx, shares[1], hsm)
	if st, err := b.MigrateToShamir(ctx, shares[2], hsm); err != nil || st.Sealed {
		t.Fatalf("migrate back: %+v %v", st, err)
	}
	if got := mustGet(t, b, "logical/x"); string(got) != "kept" {
		t.Fatalf("after migrating back: %q", got)
	}
	b.Seal()
	if err := b.UnsealAuto(ctx, hsm); !errors.Is(err, ErrSealMismatch) {
		t.Fatalf("HSM unseal after migrating back: %v", err)
	}
	mustUnseal(t, b, shares[:2])
	if raw, _ := store.Get(ctx, recoveryKeyPath); raw != nil {
		t.Fatal("the recovery key record survived the migration back")
	}
	for k, v := range store.snapshot() {
		if bytes.Contains(v, []byte("kept")) {
			t.Fatalf("plaintext in the store at %s", k)
		}
	}
}
