package token

import (
	"context"
	"fmt"
	"testing"

	"coffer/engines"
)

func TestRecordCacheEpoch(t *testing.T) {
	r := &record{Type: "service"}
	for _, c := range []struct {
		name    string
		between func(c *recordCache) // runs between begin and put
		kept    bool
	}{
		{"nothing in between", func(*recordCache) {}, true},
		{"same key invalidated", func(c *recordCache) { c.invalidate("k") }, false},
		{"other key invalidated", func(c *recordCache) { c.invalidate("other") }, false},
		{"purged", func(c *recordCache) { c.purge() }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rc recordCache
			epoch := rc.begin()
			c.between(&rc)
			rc.put(epoch, "k", r)
			if _, ok := rc.get("k"); ok != c.kept {
				t.Fatalf("kept = %v, want %v", ok, c.kept)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		var rc recordCache
		for i := range maxCachedRecords + 10 {
			rc.put(rc.begin(), fmt.Sprint(i), r)
		}
		n := 0
		rc.entries.Range(func(any, any) bool { n++; return true })
		if n > maxCachedRecords {
			t.Fatalf("%d records cached, bound %d", n, maxCachedRecords)
		}
	})
}

// observedStorage tells after about every key written or deleted, as the
// FSM observer does on every node once a change is applied.
type observedStorage struct {
	engines.Storage
	after func(key string)
}

func (o *observedStorage) Put(ctx context.Context, key string, value []byte) error {
	err := o.Storage.Put(ctx, key, value)
	o.after(key)
	return err
}

func (o *observedStorage) Delete(ctx context.Context, key string) error {
	err := o.Storage.Delete(ctx, key)
	o.after(key)
	return err
}

// TestLookupSeesOtherNodesChanges: two stores over one storage stand for
// two nodes over one replicated FSM. A token the second looked up (and
// cached) and the first then revoked is gone on the second as soon as the
// revocation is applied and observed.
func TestLookupSeesOtherNodesChanges(t *testing.T) {
	for _, observed := range []bool{true, false} {
		t.Run(fmt.Sprintf("observed=%v", observed), func(t *testing.T) {
			var other *Store
			e := mustEnv(t, func(c *Config) {
				c.Storage = &observedStorage{Storage: c.Storage, after: func(key string) {
					if observed && other != nil {
						other.Invalidate(key)
					}
				}}
			})
			other = New(Config{Storage: e.storage, Clock: e.clock.Now})
			if err := other.Load(e.ctx); err != nil {
				t.Fatalf("load: %v", err)
			}
			t.Cleanup(other.Reset)
			id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p"})
			if te, err := other.Lookup(e.ctx, id); err != nil || te == nil {
				t.Fatalf("other node's lookup: %v, %v", te, err)
			}
			if err := e.s.Revoke(e.ctx, id); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			te, err := other.Lookup(e.ctx, id)
			if err != nil {
				t.Fatalf("lookup after revoke: %v", err)
			}
			if observed && te != nil {
				t.Fatal("a revoked token still authenticates on the other node")
			}
			if !observed && te == nil {
				// Without the observer the other node answers from its
				// cache: what the observer is there to prevent.
				t.Fatal("the other node re-read the record: the test no longer exercises its cache")
			}
			if e.live(id) {
				t.Fatal("a revoked token still authenticates on the node that revoked it")
			}
		})
	}
}

func TestLookupEntryIsACopy(t *testing.T) {
	e := mustEnv(t)
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"a", "b"}, "meta": map[string]any{"app": "x"}})
	te := e.mustLookup(id)
	te.Policies[0] = "root"
	te.Meta["app"] = "changed"
	again := e.mustLookup(id)
	if again.Policies[0] == "root" || again.Meta["app"] != "x" {
		t.Fatalf("a change to one lookup's entry reached the next: %v %v", again.Policies, again.Meta)
	}
}
