package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/engines/enginestest"
	"coffer/seal"
)

var _ Storage = (*seal.Barrier)(nil)

// t0 is the fake clock's start.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// memStore is an in-memory Storage with atomic Batch and ordered Scan. It
// keeps a sorted key slice (merged lazily) so Scan costs a binary search
// plus the page, even with 100,000 keys.
type memStore struct {
	mu      sync.Mutex
	data    map[string][]byte
	sorted  []string // sorted; may hold deleted keys and duplicates until compacted
	pending []string // keys added since the last merge
	batches atomic.Int64
	// failBatch, when set, may fail a Batch before it applies.
	failBatch func(puts map[string][]byte, deletes []string) error
}

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (s *memStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	if !ok {
		return nil, nil
	}
	return slices.Clone(v), nil
}

func (s *memStore) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return enginestest.Children(s.data, prefix), nil
}

func (s *memStore) Batch(ctx context.Context, puts map[string][]byte, deletes []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failBatch != nil {
		if err := s.failBatch(puts, deletes); err != nil {
			return err
		}
	}
	s.batches.Add(1)
	for k, v := range puts {
		if _, ok := s.data[k]; !ok {
			s.pending = append(s.pending, k)
		}
		s.data[k] = slices.Clone(v)
	}
	for _, k := range deletes {
		delete(s.data, k)
	}
	return nil
}

func (s *memStore) Scan(_ context.Context, prefix, after string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.merge()
	start := max(prefix, after)
	i := sort.SearchStrings(s.sorted, start)
	var out []string
	last := ""
	for ; i < len(s.sorted) && len(out) < limit; i++ {
		k := s.sorted[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		if k <= after || k == last {
			continue
		}
		if _, ok := s.data[k]; ok {
			out = append(out, k)
			last = k
		}
	}
	return out, nil
}

// merge folds pending keys into sorted, dropping deleted keys when they
// are many.
func (s *memStore) merge() {
	if len(s.pending) == 0 && len(s.sorted) <= 2*len(s.data)+64 {
		return
	}
	sort.Strings(s.pending)
	all := make([]string, 0, len(s.data))
	i, j := 0, 0
	for i < len(s.sorted) || j < len(s.pending) {
		var k string
		if j >= len(s.pending) || (i < len(s.sorted) && s.sorted[i] <= s.pending[j]) {
			k, i = s.sorted[i], i+1
		} else {
			k, j = s.pending[j], j+1
		}
		if _, ok := s.data[k]; !ok || (len(all) > 0 && all[len(all)-1] == k) {
			continue
		}
		all = append(all, k)
	}
	s.sorted, s.pending = all, nil
}

// keys returns the stored keys under prefix, sorted.
func (s *memStore) keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (s *memStore) setFailBatch(f func(puts map[string][]byte, deletes []string) error) {
	s.mu.Lock()
	s.failBatch = f
	s.mu.Unlock()
}

func (s *memStore) del(key string) {
	s.mu.Lock()
	delete(s.data, key)
	s.mu.Unlock()
}

var errBackend = errors.New("backend: database unreachable")

// fakeRevoker records calls, can fail, can block on a gate, and tracks
// concurrent revocations per mount.
type fakeRevoker struct {
	mu       sync.Mutex
	failN    map[string]int // lease ID -> failures left
	failAll  bool
	revoked  []string
	calls    map[string]int
	active   map[string]int
	maxSeen  map[string]int
	renewed  map[string]time.Time
	renewErr error
	gate     chan struct{} // when set, Revoke waits for it to close (or ctx)
	total    atomic.Int64
}

func newFakeRevoker() *fakeRevoker {
	return &fakeRevoker{
		failN: map[string]int{}, calls: map[string]int{}, active: map[string]int{},
		maxSeen: map[string]int{}, renewed: map[string]time.Time{},
	}
}

func (r *fakeRevoker) Revoke(ctx context.Context, e *Entry) error {
	r.total.Add(1)
	r.mu.Lock()
	r.calls[e.LeaseID]++
	r.active[e.MountPath]++
	r.maxSeen[e.MountPath] = max(r.maxSeen[e.MountPath], r.active[e.MountPath])
	gate := r.gate
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.active[e.MountPath]--
		r.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAll {
		return errBackend
	}
	if r.failN[e.LeaseID] > 0 {
		r.failN[e.LeaseID]--
		return errBackend
	}
	r.revoked = append(r.revoked, e.LeaseID)
	return nil
}

func (r *fakeRevoker) Renew(_ context.Context, e *Entry, newExpire time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.renewErr != nil {
		return r.renewErr
	}
	r.renewed[e.LeaseID] = newExpire
	return nil
}

func (r *fakeRevoker) set(f func(r *fakeRevoker)) {
	r.mu.Lock()
	f(r)
	r.mu.Unlock()
}

func (r *fakeRevoker) revokedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.revoked)
}

func (r *fakeRevoker) callsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

func (r *fakeRevoker) activeOf(mount string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active[mount]
}

func (r *fakeRevoker) maxOf(mount string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxSeen[mount]
}

// env is a Manager over a memStore and a fakeRevoker, with a fake clock.
type env struct {
	ctx   context.Context
	m     *Manager
	st    *memStore
	rv    *fakeRevoker
	clock *enginestest.Clock
	cfg   Config
}

// mustEnv returns an env; opt may adjust the Config. Backoff defaults to
// attempt seconds (deterministic) and Interval to 1 ms.
func mustEnv(tb testing.TB, opt ...func(*Config)) *env {
	tb.Helper()
	e := &env{ctx: context.Background(), st: newMemStore(), rv: newFakeRevoker(), clock: enginestest.NewClock(t0)}
	e.cfg = Config{
		Storage: e.st, Revoker: e.rv, Clock: e.clock.Now,
		Backoff:  func(a int) time.Duration { return time.Duration(a) * time.Second },
		Interval: time.Millisecond,
	}
	for _, f := range opt {
		f(&e.cfg)
	}
	e.m = New(e.cfg)
	return e
}

// restart returns a new Manager on the same storage, revoker and clock.
func (e *env) restart() *env {
	c := *e
	c.m = New(e.cfg)
	return &c
}

// mustRun runs the expiry loop until the returned stop is called (or the
// test ends); stop waits for Run to return.
func (e *env) mustRun(tb testing.TB) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.m.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				tb.Errorf("Run did not return after its context ended")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// lease returns an Entry on mount for ttl from the clock's now.
func (e *env) lease(mount, path string, ttl time.Duration) *Entry {
	now := e.clock.Now()
	return &Entry{
		LeaseID: NewLeaseID(mount, path), Path: mount + path,
		MountAccessor: "acc_" + mount, MountPath: mount,
		IssueTime: now, ExpireTime: now.Add(ttl), LastRenewal: now,
		Renewable: true, MaxExpire: now.Add(10 * ttl),
		InternalData: map[string]any{"username": "v-ro-1"},
	}
}

func (e *env) mustRegister(tb testing.TB, l *Entry) *Entry {
	tb.Helper()
	if err := e.m.Register(e.ctx, l); err != nil {
		tb.Fatalf("Register(%s): %v", l.LeaseID, err)
	}
	return l
}

func (e *env) mustLookup(tb testing.TB, id string) *Entry {
	tb.Helper()
	l, err := e.m.Lookup(e.ctx, id)
	if err != nil {
		tb.Fatalf("Lookup(%s): %v", id, err)
	}
	return l
}

func (e *env) mustCount(tb testing.TB) int {
	tb.Helper()
	n, err := e.m.Count(e.ctx, "")
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// waitFor waits until cond holds, failing the test after a deadline.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func idOf(i int) string { return fmt.Sprintf("db/creds/ro/%06d", i) }
