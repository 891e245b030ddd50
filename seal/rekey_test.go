package seal

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
)

// batchStore is a memStore that records its atomic batches.
type batchStore struct {
	*memStore
	batches [][]string // the keys each batch wrote or deleted, sorted
}

func (s *batchStore) Batch(_ context.Context, puts map[string][]byte, deletes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errUnavailable
	}
	for k, v := range puts {
		s.data[k] = slices.Clone(v)
	}
	for _, k := range deletes {
		delete(s.data, k)
	}
	keys := append(slices.Collect(maps.Keys(puts)), deletes...)
	slices.Sort(keys)
	s.batches = append(s.batches, keys)
	return nil
}

var _ BatchStorage = (*batchStore)(nil)

// mustRekey runs a complete rekey with the given current shares.
func mustRekey(tb testing.TB, b *Barrier, current [][]byte, shares, threshold int) [][]byte {
	tb.Helper()
	q := mustQuorum(tb, b)
	mustSubmit(tb, q, current)
	res, err := b.Rekey(context.Background(), q, InitParams{SecretShares: shares, SecretThreshold: threshold})
	if err != nil {
		tb.Fatalf("Rekey: %v", err)
	}
	if len(res.Shares) != shares {
		tb.Fatalf("Rekey returned %d shares, want %d", len(res.Shares), shares)
	}
	return res.Shares
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	store := &batchStore{memStore: newMemStore()}
	b := NewBarrier(store, testLogger(t))
	old := mustInit(t, b, 5, 3)
	mustUnseal(t, b, old[:3])
	t.Cleanup(b.Seal)
	mustPut(t, b, "logical/x", []byte("kept"))
	keyringBefore := store.raw(keyringPath)
	rootBefore := store.raw(rootKeyPath)

	fresh := mustRekey(t, b, [][]byte{old[1], old[3], old[4]}, 3, 2)
	if b.Sealed() {
		t.Fatal("Rekey sealed the barrier")
	}
	if want := []string{rootKeyPath, sealConfigPath}; len(store.batches) != 1 || !slices.Equal(store.batches[0], want) {
		t.Fatalf("batches %v, want one batch of %v", store.batches, want)
	}
	if !bytes.Equal(store.raw(keyringPath), keyringBefore) || bytes.Equal(store.raw(rootKeyPath), rootBefore) {
		t.Fatal("rekey must rewrap the root key and leave the keyring alone")
	}
	cfg, err := b.SealConfig(ctx)
	if err != nil || *cfg != (SealConfig{Type: SealTypeShamir, SecretShares: 3, SecretThreshold: 2}) {
		t.Fatalf("config after rekey: %+v %v", cfg, err)
	}
	if got := mustGet(t, b, "logical/x"); string(got) != "kept" {
		t.Fatalf("data after rekey: %q", got)
	}

	b.Seal()
	// The old shares no longer unseal.
	b.Unseal(ctx, old[0])
	if _, err := b.Unseal(ctx, old[1]); !errors.Is(err, ErrBadShares) || !b.Sealed() {
		t.Fatalf("old shares after rekey: %v sealed=%v", err, b.Sealed())
	}
	mustUnseal(t, b, fresh[1:])
	if got := mustGet(t, b, "logical/x"); string(got) != "kept" {
		t.Fatalf("data after unsealing with the new shares: %q", got)
	}

	// Rekey again to a single share: the share is the unseal key itself.
	single := mustRekey(t, b, fresh[:2], 1, 1)
	b.Seal()
	mustUnseal(t, b, single)
	for k, v := range store.snapshot() {
		if bytes.Contains(v, []byte("kept")) {
			t.Fatalf("plaintext at %s", k)
		}
		for _, s := range append(append(old, fresh...), single...) {
			if bytes.Contains(v, s) {
				t.Fatalf("a share is stored at %s", k)
			}
		}
	}
}

func TestRekeyRefusals(t *testing.T) {
	ctx := context.Background()
	b, store, shares := mustBarrier(t) // 3 of 5
	other := NewBarrier(newMemStore(), testLogger(t))
	wrong := mustInit(t, other, 5, 3)
	rootBefore := store.raw(rootKeyPath)
	cfgBefore := store.raw(sealConfigPath)

	tests := []struct {
		name   string
		shares [][]byte
		params InitParams
		err    error
	}{
		{"wrong shares", wrong[:3], InitParams{SecretShares: 3, SecretThreshold: 2}, ErrBadShares},
		{"one wrong share", [][]byte{shares[0], shares[1], otherX(t, wrong, shares[0], shares[1])}, InitParams{SecretShares: 3, SecretThreshold: 2}, ErrBadShares},
		{"threshold above shares", shares[:3], InitParams{SecretShares: 2, SecretThreshold: 3}, ErrInvalidParams},
		{"threshold one of many", shares[:3], InitParams{SecretShares: 3, SecretThreshold: 1}, ErrInvalidParams},
		{"no shares", shares[:3], InitParams{}, ErrInvalidParams},
	}
	for _, tt := range tests {
		q := mustQuorum(t, b)
		mustSubmit(t, q, tt.shares)
		if _, err := b.Rekey(ctx, q, tt.params); !errors.Is(err, tt.err) {
			t.Errorf("%s: Rekey = %v, want %v", tt.name, err, tt.err)
		}
		if q.Progress() != 0 {
			t.Errorf("%s: progress %d after the attempt, want 0", tt.name, q.Progress())
		}
	}
	if !bytes.Equal(store.raw(rootKeyPath), rootBefore) || !bytes.Equal(store.raw(sealConfigPath), cfgBefore) {
		t.Fatal("a refused rekey changed the records")
	}

	// A write failure leaves the old key in place.
	q := mustQuorum(t, b)
	mustSubmit(t, q, shares[:3])
	store.setFail(true)
	if _, err := b.Rekey(ctx, q, InitParams{SecretShares: 3, SecretThreshold: 2}); err == nil {
		t.Fatal("Rekey with failing storage succeeded")
	}
	store.setFail(false)

	// An attempt started before a completed rekey is stale.
	stale := mustQuorum(t, b)
	mustSubmit(t, stale, shares[2:5])
	mustRekey(t, b, shares[:3], 4, 2)
	if err := b.VerifyQuorum(ctx, stale, nil); !errors.Is(err, ErrQuorumStale) {
		t.Fatalf("stale attempt: %v", err)
	}

	// Sealed, and auto-sealed barriers, refuse.
	b.Seal()
	q = mustQuorum(t, b)
	if _, err := b.Rekey(ctx, q, InitParams{SecretShares: 3, SecretThreshold: 2}); !errors.Is(err, ErrSealed) {
		t.Fatalf("Rekey while sealed: %v", err)
	}
	hsm := mustFakeHSM(t)
	auto := NewBarrier(newMemStore(), testLogger(t))
	res, err := auto.InitializeAuto(ctx, AutoInitParams{RecoveryShares: 3, RecoveryThreshold: 2}, hsm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auto.Seal)
	q = mustQuorum(t, auto)
	mustSubmit(t, q, res.RecoveryShares[:2])
	if _, err := auto.Rekey(ctx, q, InitParams{SecretShares: 3, SecretThreshold: 2}); !errors.Is(err, ErrAutoSeal) {
		t.Fatalf("Rekey with an auto seal: %v", err)
	}
}

func TestRekeyRecovery(t *testing.T) {
	ctx := context.Background()
	hsm := mustFakeHSM(t)
	store := &batchStore{memStore: newMemStore()}
	b := NewBarrier(store, testLogger(t))
	res, err := b.InitializeAuto(ctx, AutoInitParams{RecoveryShares: 3, RecoveryThreshold: 2}, hsm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Seal)
	old := res.RecoveryShares
	mustPut(t, b, "logical/x", []byte("kept"))
	store.batches = nil
	rootBefore := store.raw(rootKeyPath)

	// Wrong shares first: refused, nothing written.
	other := NewBarrier(newMemStore(), testLogger(t))
	wrong, err := other.InitializeAuto(ctx, AutoInitParams{RecoveryShares: 3, RecoveryThreshold: 2}, hsm)
	if err != nil {
		t.Fatal(err)
	}
	q := mustQuorum(t, b)
	mustSubmit(t, q, wrong.RecoveryShares[:2])
	if _, err := b.RekeyRecovery(ctx, q, AutoInitParams{RecoveryShares: 5, RecoveryThreshold: 3}, hsm); !errors.Is(err, ErrBadShares) {
		t.Fatalf("wrong recovery shares: %v", err)
	}
	if len(store.batches) != 0 {
		t.Fatal("a refused recovery rekey wrote")
	}

	q = mustQuorum(t, b)
	mustSubmit(t, q, old[1:])
	out, err := b.RekeyRecovery(ctx, q, AutoInitParams{RecoveryShares: 5, RecoveryThreshold: 3}, hsm)
	if err != nil {
		t.Fatalf("RekeyRecovery: %v", err)
	}
	fresh := out.RecoveryShares
	if len(fresh) != 5 {
		t.Fatalf("%d new recovery shares", len(fresh))
	}
	if want := []string{recoveryKeyPath, sealConfigPath}; len(store.batches) != 1 || !slices.Equal(store.batches[0], want) {
		t.Fatalf("batches %v, want one batch of %v", store.batches, want)
	}
	if !bytes.Equal(store.raw(rootKeyPath), rootBefore) {
		t.Fatal("recovery rekey touched the root key")
	}
	cfg, _ := b.SealConfig(ctx)
	if cfg.Type != "pkcs11" || cfg.RecoveryShares != 5 || cfg.RecoveryThreshold != 3 || cfg.SecretShares != 1 {
		t.Fatalf("config after recovery rekey: %+v", cfg)
	}

	// The old recovery shares no longer verify; the new ones do.
	q = mustQuorum(t, b)
	mustSubmit(t, q, old) // all three: the threshold is 3 now
	if err := b.VerifyQuorum(ctx, q, hsm); !errors.Is(err, ErrBadShares) {
		t.Fatalf("old recovery shares after rekey: %v", err)
	}
	q = mustQuorum(t, b)
	mustSubmit(t, q, fresh[2:])
	if err := b.VerifyQuorum(ctx, q, hsm); err != nil {
		t.Fatalf("new recovery shares: %v", err)
	}
	// The HSM still unseals, the data is intact.
	b.Seal()
	if err := b.UnsealAuto(ctx, hsm); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, b, "logical/x"); string(got) != "kept" {
		t.Fatalf("data after recovery rekey: %q", got)
	}

	// Shamir barriers have no recovery key.
	sb, _, shares := mustBarrier(t)
	q = mustQuorum(t, sb)
	mustSubmit(t, q, shares[:3])
	if _, err := sb.RekeyRecovery(ctx, q, AutoInitParams{RecoveryShares: 3, RecoveryThreshold: 2}, hsm); !errors.Is(err, ErrNotAutoSeal) {
		t.Fatalf("RekeyRecovery on Shamir: %v", err)
	}
	if err := CheckRekeyParams(2, 3, true); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("CheckRekeyParams(2, 3): %v", err)
	}
}
