package lease

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// waitPasses waits until the expiry loop has completed n more passes.
func (e *env) waitPasses(tb testing.TB, n int64) {
	tb.Helper()
	p := e.m.passes.Load()
	waitFor(tb, "expiry passes", func() bool { return e.m.passes.Load() >= p+n })
}

func TestExpireInTimeOrder(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.MaxInFlight = 1; c.PerMountConcurrency = 1; c.ScanPage = 4 })
	var want []string
	for i := range 30 {
		want = append(want, idOf(i))
	}
	for _, i := range rand.Perm(30) {
		e.mustRegister(t, &Entry{LeaseID: idOf(i), MountPath: "db/", ExpireTime: t0.Add(time.Duration(i+1) * time.Second)})
	}
	e.mustRun(t)
	e.waitPasses(t, 2)
	if n := len(e.rv.revokedIDs()); n != 0 {
		t.Fatalf("%d leases revoked before any was due", n)
	}
	e.clock.Advance(10*time.Second + 500*time.Millisecond)
	waitFor(t, "10 revocations", func() bool { return len(e.rv.revokedIDs()) >= 10 })
	e.waitPasses(t, 2)
	if got := e.rv.revokedIDs(); !slices.Equal(got, want[:10]) {
		t.Fatalf("revoked %v, want the first 10 in order", got)
	}
	if n := e.mustCount(t); n != 20 {
		t.Errorf("%d leases left, want 20", n)
	}
	e.clock.Advance(time.Minute)
	waitFor(t, "all revocations", func() bool { return e.mustCount(t) == 0 })
	if got := e.rv.revokedIDs(); !slices.Equal(got, want) {
		t.Errorf("revoked %v, want time order", got)
	}
	if keys := e.st.keys("sys/expire/"); len(keys) != 0 {
		t.Errorf("left behind: %v", keys)
	}
}

func TestExpireRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.mustRegister(t, e.lease("database/", "creds/ro", time.Second))
	e.rv.set(func(r *fakeRevoker) { r.failN[l.LeaseID] = 2 })
	e.mustRun(t)

	attempts := func(n int) func() bool {
		return func() bool { got := e.mustLookup(t, l.LeaseID); return got != nil && got.Attempts == n }
	}
	e.clock.Advance(time.Second) // due
	waitFor(t, "the first failure", attempts(1))
	got := e.mustLookup(t, l.LeaseID)
	if want := t0.Add(2 * time.Second); !got.NextAttempt.Equal(want) || got.LastError != errBackend.Error() {
		t.Errorf("after one failure: next %v (want %v), error %q", got.NextAttempt, want, got.LastError)
	}
	if v, _ := e.st.Get(e.ctx, timeKey(got.NextAttempt, l.LeaseID)); string(v) != l.LeaseID {
		t.Error("time index not moved to the retry time")
	}
	e.waitPasses(t, 3)
	if c := e.rv.callsOf(l.LeaseID); c != 1 {
		t.Fatalf("retried before the backoff: %d calls", c)
	}
	e.clock.Advance(time.Second)
	waitFor(t, "the second failure", attempts(2))
	if got := e.mustLookup(t, l.LeaseID); !got.NextAttempt.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("second backoff: next %v", got.NextAttempt)
	}
	e.clock.Advance(2 * time.Second)
	waitFor(t, "the revocation", func() bool { return e.mustLookup(t, l.LeaseID) == nil })
	if c := e.rv.callsOf(l.LeaseID); c != 3 {
		t.Errorf("%d calls, want 3", c)
	}
	if keys := e.st.keys("sys/expire/"); len(keys) != 0 {
		t.Errorf("left behind: %v", keys)
	}
}

func TestExpireIrrevocable(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.MaxAttempts = 3 })
	l := e.lease("database/", "creds/ro", time.Second)
	l.TokenKey = "acc"
	e.mustRegister(t, l)
	keep := e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))
	e.rv.set(func(r *fakeRevoker) { r.failAll = true })
	e.mustRun(t)
	for i, step := range []time.Duration{time.Second, time.Second, 2 * time.Second} {
		e.clock.Advance(step)
		waitFor(t, "an attempt", func() bool {
			got := e.mustLookup(t, l.LeaseID)
			return got != nil && got.Attempts == i+1
		})
	}
	got := e.mustLookup(t, l.LeaseID)
	if !got.Irrevocable || got.Attempts != 3 || !got.NextAttempt.IsZero() {
		t.Fatalf("after MaxAttempts: %+v", got)
	}
	list, err := e.m.Irrevocable(e.ctx)
	if err != nil || len(list) != 1 || list[0].LeaseID != l.LeaseID || list[0].LastError == "" {
		t.Fatalf("Irrevocable = %v, %v", list, err)
	}
	if keys := e.st.keys(timePrefix); !slices.Equal(keys, []string{timeKey(keep.ExpireTime, keep.LeaseID)}) {
		t.Errorf("time index: %v", keys)
	}
	if keys := e.st.keys(irrevocablePrefix); len(keys) != 1 {
		t.Errorf("irrevocable index: %v", keys)
	}
	e.clock.Advance(time.Minute)
	e.waitPasses(t, 3)
	if c := e.rv.callsOf(l.LeaseID); c != 3 {
		t.Errorf("an irrevocable lease was tried again: %d calls", c)
	}
	if n := e.mustCount(t); n != 2 {
		t.Errorf("Count = %d, want 2 (irrevocable leases are kept)", n)
	}
	// An operator can still revoke it once the backend is back.
	e.rv.set(func(r *fakeRevoker) { r.failAll = false })
	if err := e.m.Revoke(e.ctx, l.LeaseID); err != nil {
		t.Fatal(err)
	}
	if keys := e.st.keys(irrevocablePrefix); len(keys) != 0 {
		t.Errorf("irrevocable index left: %v", keys)
	}
	if keys := e.st.keys(tokenPrefix); len(keys) != 0 {
		t.Errorf("token index left: %v", keys)
	}
}

func TestExpireResumesAfterRestart(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	var ids []string
	for i := range 10 {
		ids = append(ids, e.mustRegister(t, e.lease("database/", "creds/ro", time.Duration(i+1)*time.Second)).LeaseID)
	}
	e.rv.set(func(r *fakeRevoker) { r.failN[ids[0]] = 1 })
	stop := e.mustRun(t)
	e.clock.Advance(3 * time.Second)
	waitFor(t, "two revocations and a failure", func() bool {
		got := e.mustLookup(t, ids[0])
		return len(e.rv.revokedIDs()) == 2 && got != nil && got.Attempts == 1
	})
	stop() // leadership lost

	e.clock.Advance(time.Hour) // everything is due while no one leads
	e2 := e.restart()
	e2.mustRun(t)
	waitFor(t, "the new leader to revoke the rest", func() bool { return e2.mustCount(t) == 0 })
	for _, id := range ids {
		if c := e.rv.callsOf(id); c != 1 && !(id == ids[0] && c == 2) {
			t.Errorf("%s: %d backend calls", id, c)
		}
	}
}

func TestExpireStopsWhenLeadershipEnds(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.mustRegister(t, e.lease("database/", "creds/ro", time.Second))
	e.rv.set(func(r *fakeRevoker) { r.gate = make(chan struct{}) })
	stop := e.mustRun(t)
	e.clock.Advance(time.Second)
	waitFor(t, "the revocation to start", func() bool { return e.rv.activeOf("database/") == 1 })
	batches := e.st.batches.Load()
	stop() // returns only once the revocation in flight returned
	if n := e.st.batches.Load(); n != batches {
		t.Errorf("%d writes after leadership ended", n-batches)
	}
	got := e.mustLookup(t, l.LeaseID)
	if got == nil || got.Attempts != 0 {
		t.Fatalf("after losing leadership: %+v", got)
	}
	// The next leader revokes it.
	e.rv.set(func(r *fakeRevoker) { r.gate = nil })
	e.restart().mustRun(t)
	waitFor(t, "the revocation", func() bool { return e.mustLookup(t, l.LeaseID) == nil })
}

func TestExpirePerMountConcurrency(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.PerMountConcurrency = 4; c.MaxInFlight = 64; c.ScanPage = 16 })
	mounts := []string{"db1/", "db2/"}
	for i := range 100 {
		e.mustRegister(t, e.lease(mounts[i%2], "creds/ro", time.Second+time.Duration(i)*time.Millisecond))
	}
	gate := make(chan struct{})
	e.rv.set(func(r *fakeRevoker) { r.gate = gate })
	e.mustRun(t)
	e.clock.Advance(time.Minute)
	waitFor(t, "both mounts at their limit", func() bool {
		return e.rv.activeOf("db1/") == 4 && e.rv.activeOf("db2/") == 4
	})
	close(gate)
	waitFor(t, "all revocations", func() bool { return e.mustCount(t) == 0 })
	for _, m := range mounts {
		if got := e.rv.maxOf(m); got != 4 {
			t.Errorf("mount %s: at most %d concurrent revocations, want 4", m, got)
		}
	}
	if n := e.rv.total.Load(); n != 100 {
		t.Errorf("%d backend calls for 100 leases", n)
	}
}

func TestExpireManyLeases(t *testing.T) {
	t.Parallel()
	const n = 20000
	e := mustEnv(t, func(c *Config) { c.PerMountConcurrency = 16 })
	mounts := []string{"db1/", "db2/", "db3/", "db4/"}
	for i := range n {
		l := e.lease(mounts[i%len(mounts)], "creds/ro", time.Second+time.Duration(i)*time.Millisecond/2)
		l.InternalData = nil
		e.mustRegister(t, l)
	}
	e.mustRun(t)
	e.clock.Advance(time.Minute)
	waitFor(t, "all leases revoked", func() bool { return e.rv.total.Load() >= n && e.mustCount(t) == 0 })
	got := e.rv.revokedIDs()
	slices.Sort(got)
	if len(slices.Compact(got)) != n || e.rv.total.Load() != n {
		t.Errorf("%d distinct revocations in %d calls, want %d", len(got), e.rv.total.Load(), n)
	}
	for _, m := range mounts {
		if c := e.rv.maxOf(m); c > 16 {
			t.Errorf("mount %s: %d concurrent revocations", m, c)
		}
	}
	if keys := e.st.keys("sys/expire/"); len(keys) != 0 {
		t.Errorf("%d keys left", len(keys))
	}
}

func TestExpireDropsStaleAndDanglingEntries(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))
	stale := timeKey(t0.Add(time.Second), l.LeaseID) // left by a renewal, say
	dangling := timeKey(t0.Add(time.Second), "database/creds/ro/gone")
	if err := e.st.Batch(e.ctx, map[string][]byte{
		stale:                             []byte(l.LeaseID),
		dangling:                          []byte("database/creds/ro/gone"),
		timePrefix + "00garbage":          []byte("x"),
		timeKey(t0, "x/y") + "-not-a-key": []byte("x/y"),
	}, nil); err != nil {
		t.Fatal(err)
	}
	e.mustRun(t)
	e.clock.Advance(time.Minute)
	want := []string{timeKey(l.ExpireTime, l.LeaseID)}
	waitFor(t, "the bad entries to go", func() bool { return slices.Equal(e.st.keys(timePrefix), want) })
	if e.rv.total.Load() != 0 {
		t.Error("a lease was revoked through a stale entry")
	}
	if e.mustLookup(t, l.LeaseID) == nil {
		t.Error("the lease was lost")
	}
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt int
		want    time.Duration
	}{{1, 2 * time.Second}, {3, 8 * time.Second}, {8, 256 * time.Second}, {9, 5 * time.Minute}, {60, 5 * time.Minute}, {0, time.Second}}
	for _, tt := range tests {
		for range 20 {
			got := defaultBackoff(tt.attempt)
			lo, hi := tt.want*8/10, tt.want*12/10
			if got < lo || got > hi {
				t.Errorf("defaultBackoff(%d) = %v, want %v ±20%%", tt.attempt, got, tt.want)
			}
		}
	}
}

func TestExpireRevokeTimeout(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.RevokeTimeout = 20 * time.Millisecond })
	l := e.mustRegister(t, e.lease("database/", "creds/ro", time.Second))
	e.rv.set(func(r *fakeRevoker) { r.gate = make(chan struct{}) }) // a backend that hangs
	e.mustRun(t)
	e.clock.Advance(time.Second)
	waitFor(t, "the attempt to time out", func() bool {
		got := e.mustLookup(t, l.LeaseID)
		return got != nil && got.Attempts == 1
	})
	if got := e.mustLookup(t, l.LeaseID); got.LastError != "context deadline exceeded" {
		t.Errorf("LastError = %q", got.LastError)
	}
}
