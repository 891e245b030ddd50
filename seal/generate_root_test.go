package seal

import (
	"context"
	"errors"
	"testing"
)

// mustQuorum starts a quorum attempt for b's stored configuration.
func mustQuorum(tb testing.TB, b *Barrier) *Quorum {
	tb.Helper()
	cfg, err := b.SealConfig(context.Background())
	if err != nil || cfg == nil {
		tb.Fatalf("SealConfig: %v %v", cfg, err)
	}
	return NewQuorum(cfg)
}

// mustSubmit adds shares to q and requires it complete exactly at the last.
func mustSubmit(tb testing.TB, q *Quorum, shares [][]byte) {
	tb.Helper()
	for i, s := range shares {
		done, err := q.Add(q.Nonce(), s)
		if err != nil {
			tb.Fatalf("Add share %d: %v", i, err)
		}
		if last := i == len(shares)-1; done != last {
			tb.Fatalf("after share %d of %d: complete = %v", i+1, len(shares), done)
		}
	}
}

// otherX returns one of from whose x coordinate none of used has (shares
// of two barriers may share x coordinates, which Add refuses).
func otherX(tb testing.TB, from [][]byte, used ...[]byte) []byte {
	tb.Helper()
	for _, s := range from {
		clash := false
		for _, u := range used {
			clash = clash || u[len(u)-1] == s[len(s)-1]
		}
		if !clash {
			return s
		}
	}
	tb.Fatal("no share with a distinct x coordinate")
	return nil
}

func TestQuorumAdd(t *testing.T) {
	b, _, shares := mustBarrier(t) // 3 of 5
	q := mustQuorum(t, b)
	if q.Required() != 3 || q.Progress() != 0 || q.Nonce() == "" {
		t.Fatalf("new quorum: required %d progress %d nonce %q", q.Required(), q.Progress(), q.Nonce())
	}
	conflicting := append([]byte(nil), shares[0]...)
	conflicting[0] ^= 1
	zeroX := append([]byte(nil), shares[1]...)
	zeroX[len(zeroX)-1] = 0
	tests := []struct {
		name     string
		nonce    string
		share    []byte
		err      error
		progress int
	}{
		{"first", q.Nonce(), shares[0], nil, 1},
		{"identical resubmission ignored", q.Nonce(), shares[0], nil, 1},
		{"wrong nonce", "not-the-nonce", shares[1], ErrQuorumNonce, 1},
		{"short", q.Nonce(), shares[1][:10], ErrBadShares, 1},
		{"x is zero", q.Nonce(), zeroX, ErrBadShares, 1},
		{"same x, other share", q.Nonce(), conflicting, ErrBadShares, 1},
		{"second", q.Nonce(), shares[1], nil, 2},
	}
	for _, tt := range tests {
		done, err := q.Add(tt.nonce, tt.share)
		if !errors.Is(err, tt.err) || done || q.Progress() != tt.progress {
			t.Errorf("%s: done %v err %v progress %d; want err %v progress %d", tt.name, done, err, q.Progress(), tt.err, tt.progress)
		}
	}
	q.Reset()
	if q.Progress() != 0 {
		t.Fatalf("progress after Reset: %d", q.Progress())
	}
}

func TestQuorumResetZeroesShares(t *testing.T) {
	b, _, shares := mustBarrier(t)
	q := mustQuorum(t, b)
	if done, err := q.Add(q.Nonce(), shares[0]); done || err != nil {
		t.Fatalf("Add: %v %v", done, err)
	}
	q.mu.Lock()
	held := q.parts[0]
	q.mu.Unlock()
	q.Reset()
	for _, c := range held {
		if c != 0 {
			t.Fatal("Reset left a share in memory")
		}
	}
}

func TestVerifyQuorumShamir(t *testing.T) {
	ctx := context.Background()
	b, _, shares := mustBarrier(t)
	other := NewBarrier(newMemStore(), testLogger(t))
	wrong := mustInit(t, other, 5, 3)

	tests := []struct {
		name   string
		shares [][]byte
		err    error
	}{
		{"right shares", [][]byte{shares[4], shares[0], shares[2]}, nil},
		{"another barrier's shares", wrong[:3], ErrBadShares},
		{"mixed shares", [][]byte{shares[0], shares[1], otherX(t, wrong, shares[0], shares[1])}, ErrBadShares},
	}
	for _, tt := range tests {
		q := mustQuorum(t, b)
		mustSubmit(t, q, tt.shares)
		if err := b.VerifyQuorum(ctx, q, nil); !errors.Is(err, tt.err) {
			t.Errorf("%s: VerifyQuorum = %v, want %v", tt.name, err, tt.err)
		}
		if q.Progress() != 0 {
			t.Errorf("%s: progress %d after the attempt, want 0", tt.name, q.Progress())
		}
		if b.Sealed() {
			t.Fatalf("%s: VerifyQuorum sealed the barrier", tt.name)
		}
	}

	// A sealed barrier refuses; so does an attempt the config outdated.
	q := mustQuorum(t, b)
	mustSubmit(t, q, shares[:3])
	b.Seal()
	if err := b.VerifyQuorum(ctx, q, nil); !errors.Is(err, ErrSealed) {
		t.Fatalf("VerifyQuorum while sealed: %v", err)
	}
}

func TestVerifyQuorumAutoSeal(t *testing.T) {
	ctx := context.Background()
	hsm := mustFakeHSM(t)
	b := NewBarrier(newMemStore(), testLogger(t))
	res, err := b.InitializeAuto(ctx, AutoInitParams{RecoveryShares: 3, RecoveryThreshold: 2}, hsm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Seal)
	other := NewBarrier(newMemStore(), testLogger(t))
	wrong, err := other.InitializeAuto(ctx, AutoInitParams{RecoveryShares: 3, RecoveryThreshold: 2}, hsm)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		shares [][]byte
		as     AutoSeal
		err    error
	}{
		{"recovery shares", res.RecoveryShares[1:], hsm, nil},
		{"another barrier's recovery shares", wrong.RecoveryShares[:2], hsm, ErrBadShares},
		{"no auto seal given", res.RecoveryShares[:2], nil, ErrSealMismatch},
		{"another seal type", res.RecoveryShares[:2], &fakeHSM{Wrapper: hsm.Wrapper, typ: "other"}, ErrSealMismatch},
	}
	for _, tt := range tests {
		q := mustQuorum(t, b)
		if q.Required() != 2 {
			t.Fatalf("required %d, want the recovery threshold 2", q.Required())
		}
		mustSubmit(t, q, tt.shares)
		if err := b.VerifyQuorum(ctx, q, tt.as); !errors.Is(err, tt.err) {
			t.Errorf("%s: VerifyQuorum = %v, want %v", tt.name, err, tt.err)
		}
	}
}

// FuzzQuorumAdd: any sequence of submitted shares leaves the progress
// between 0 and the threshold, and never panics.
func FuzzQuorumAdd(f *testing.F) {
	f.Add([]byte{1, 2, 3}, 33, byte(7))
	f.Add(make([]byte, 66), 33, byte(0))
	f.Fuzz(func(t *testing.T, data []byte, size int, x byte) {
		q := NewQuorum(&SealConfig{Type: SealTypeShamir, SecretShares: 5, SecretThreshold: 3})
		if size <= 0 || size > 64 {
			size = 33
		}
		for len(data) > 0 {
			n := min(size, len(data))
			share := append([]byte(nil), data[:n]...)
			data = data[n:]
			share[len(share)-1] ^= x
			done, err := q.Add(q.Nonce(), share)
			if p := q.Progress(); p < 0 || p > q.Required() || (done && p != q.Required()) || (err != nil && done) {
				t.Fatalf("progress %d of %d, done %v, err %v", p, q.Required(), done, err)
			}
		}
	})
}
