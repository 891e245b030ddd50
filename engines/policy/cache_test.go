package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeStore is a policy loader over a map, counting loads.
type fakeStore struct {
	mu     sync.Mutex
	texts  map[string]string
	loads  atomic.Int64
	err    error
	before func(name string) // called at the start of each load
}

func (s *fakeStore) load(_ context.Context, name string) (*Policy, error) {
	s.loads.Add(1)
	if s.before != nil {
		s.before(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	text, ok := s.texts[name]
	switch {
	case !ok && name == "gone":
		return nil, fmt.Errorf("lookup: %w", ErrNotFound)
	case !ok:
		return nil, nil
	}
	return Parse(name, text)
}

func (s *fakeStore) set(name, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.texts[name] = text
}

func newFakeStore() *fakeStore {
	return &fakeStore{texts: map[string]string{
		"a": `path "a/*" { capabilities = ["read"] }`,
		"b": `path "b/*" { capabilities = ["read"] }`,
		"c": `path "c/*" { capabilities = ["read"] }`,
	}}
}

func mustCacheACL(tb testing.TB, c *Cache, names ...string) *ACL {
	tb.Helper()
	a, err := c.ACL(context.Background(), names)
	if err != nil {
		tb.Fatalf("ACL(%q): %v", names, err)
	}
	return a
}

func TestCacheSetsAndHits(t *testing.T) {
	s := newFakeStore()
	c := NewCache(s.load, 0)
	ab := mustCacheACL(t, c, "a", "b")
	if n := s.loads.Load(); n != 2 {
		t.Errorf("loads = %d, want 2", n)
	}
	for _, names := range [][]string{{"b", "a"}, {"a", "b", "a"}, {"b", "b", "a", "a"}} {
		if got := mustCacheACL(t, c, names...); got != ab {
			t.Errorf("ACL(%q) is a different ACL", names)
		}
	}
	if n := s.loads.Load(); n != 2 {
		t.Errorf("loads after hits = %d, want 2", n)
	}
	if mustCacheACL(t, c, "a") == ab || mustCacheACL(t, c, "a", "b", "c") == ab {
		t.Error("different sets share an ACL")
	}
	if !ab.Allowed("a/x", "read", nil).Allowed || !ab.Allowed("b/x", "read", nil).Allowed || ab.Allowed("c/x", "read", nil).Allowed {
		t.Error("ACL for {a, b} grants the wrong paths")
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d", c.Len())
	}
}

func TestCacheMissingAndErrors(t *testing.T) {
	s := newFakeStore()
	c := NewCache(s.load, 10)
	a := mustCacheACL(t, c, "a", "nope", "gone")
	if !a.Allowed("a/x", "read", nil).Allowed {
		t.Error("missing policies broke the others")
	}
	if none := mustCacheACL(t, c, "nope"); none.Allowed("a/x", "read", nil).Allowed {
		t.Error("an ACL of unknown policies allows")
	}
	if empty := mustCacheACL(t, c); empty.Allowed("a/x", "read", nil).Allowed {
		t.Error("an ACL of no policies allows")
	}

	boom := errors.New("storage down")
	s.err = boom
	if _, err := c.ACL(context.Background(), []string{"c"}); !errors.Is(err, boom) {
		t.Errorf("load error = %v", err)
	}
	s.err = nil
	if !mustCacheACL(t, c, "c").Allowed("c/x", "read", nil).Allowed {
		t.Error("a failed load was cached")
	}
}

func TestCacheRoot(t *testing.T) {
	s := newFakeStore()
	c := NewCache(s.load, 10)
	if !mustCacheACL(t, c, "root").IsRoot() {
		t.Error("root is not root")
	}
	if s.loads.Load() != 0 {
		t.Error("root was loaded")
	}
	if _, err := c.ACL(context.Background(), []string{"root", "a"}); !errors.Is(err, ErrRootWithOther) {
		t.Errorf("root with a: %v", err)
	}
}

func TestCacheInvalidate(t *testing.T) {
	s := newFakeStore()
	c := NewCache(s.load, 10)
	ab := mustCacheACL(t, c, "a", "b")
	b := mustCacheACL(t, c, "b")
	ac := mustCacheACL(t, c, "a", "c")

	s.set("a", `path "a/*" { capabilities = ["deny"] }`)
	c.Invalidate("a")
	if got := mustCacheACL(t, c, "b"); got != b {
		t.Error("invalidating a dropped {b}")
	}
	ab2 := mustCacheACL(t, c, "b", "a")
	if ab2 == ab || ab2.Allowed("a/x", "read", nil).Allowed {
		t.Error("{a, b} still uses the old a")
	}
	if got := mustCacheACL(t, c, "c", "a"); got == ac {
		t.Error("{a, c} was not dropped")
	}
	c.Invalidate("unknown") // harmless
	c.Purge()
	if c.Len() != 0 {
		t.Errorf("Len after Purge = %d", c.Len())
	}
}

// TestCacheInvalidateDuringLoad: an ACL compiled from a policy loaded
// before an invalidation must not be cached.
func TestCacheInvalidateDuringLoad(t *testing.T) {
	s := newFakeStore()
	started, release := make(chan struct{}), make(chan struct{})
	s.before = func(name string) {
		if name == "a" {
			close(started)
			<-release
		}
	}
	c := NewCache(s.load, 10)
	done := make(chan *ACL)
	go func() {
		a, err := c.ACL(context.Background(), []string{"a"})
		if err != nil {
			t.Error(err)
		}
		done <- a
	}()
	<-started
	c.Invalidate("a")
	close(release)
	stale := <-done
	s.before = nil
	if got := mustCacheACL(t, c, "a"); got == stale {
		t.Error("the ACL loaded across an invalidation was cached")
	}
}

func TestCacheEviction(t *testing.T) {
	s := newFakeStore()
	c := NewCache(s.load, 2)
	a := mustCacheACL(t, c, "a")
	mustCacheACL(t, c, "b")
	mustCacheACL(t, c, "a") // hit: a gets its second chance
	mustCacheACL(t, c, "c") // evicts b
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	loads := s.loads.Load()
	if mustCacheACL(t, c, "a") != a || s.loads.Load() != loads {
		t.Error("the recently used set was evicted")
	}
	mustCacheACL(t, c, "b")
	if s.loads.Load() != loads+1 {
		t.Error("b was not evicted")
	}
}

func TestCacheConcurrent(t *testing.T) {
	s := newFakeStore()
	c := NewCache(s.load, 3)
	sets := [][]string{{"a"}, {"b"}, {"c"}, {"a", "b"}, {"b", "c"}, {"a", "c"}, {"a", "b", "c"}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				names := sets[(g+i)%len(sets)]
				a, err := c.ACL(context.Background(), names)
				if err != nil {
					t.Error(err)
					return
				}
				if !a.Allowed(names[0]+"/x", "read", nil).Allowed {
					t.Errorf("ACL(%q) denies %s/x", names, names[0])
					return
				}
				if i%50 == 0 {
					c.Invalidate(names[len(names)-1])
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 3 {
		t.Errorf("Len = %d over size 3", c.Len())
	}
}

func TestNoAllocations(t *testing.T) {
	a := benchACL(t)
	data := map[string]any{"ttl": "1h", "name": "x"}
	for _, r := range benchRequests {
		if n := testing.AllocsPerRun(100, func() { a.Allowed(r.path, r.op, data) }); n != 0 {
			t.Errorf("Allowed(%s %s) allocates %v times", r.op, r.path, n)
		}
	}
	c := NewCache(newFakeStore().load, 10)
	ctx := context.Background()
	names := []string{"c", "a", "b"}
	mustCacheACL(t, c, names...)
	if n := testing.AllocsPerRun(100, func() { _, _ = c.ACL(ctx, names) }); n != 0 {
		t.Errorf("Cache.ACL hit allocates %v times", n)
	}
}
