package token

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"coffer/engines"
)

func TestUseConcurrent(t *testing.T) {
	const uses, callers, tries = 10, 32, 3
	e := mustEnv(t)
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "num_uses": uses})
	var granted, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range tries {
				te, err := e.s.Lookup(e.ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				if te == nil {
					refused.Add(1)
					continue
				}
				switch err := e.s.Use(e.ctx, te); {
				case err == nil:
					granted.Add(1)
				case errors.Is(err, ErrUsesExhausted):
					refused.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if granted.Load() != uses || granted.Load()+refused.Load() != callers*tries {
		t.Fatalf("granted %d, refused %d; want exactly %d granted", granted.Load(), refused.Load(), uses)
	}
	if e.live(id) {
		t.Fatal("token alive after its last use")
	}
	assertIndexesConsistent(t, e)
}

func TestUseCounts(t *testing.T) {
	e := mustEnv(t)
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "num_uses": 3})
	for i, want := range []int{2, 1, -1} {
		d := e.mustDo(engines.ReadOperation, "lookup-self", id, nil).Data
		if d["num_uses"] != want || d["id"] != id {
			t.Fatalf("use %d: num_uses %v, want %d", i, d["num_uses"], want)
		}
	}
	if e.live(id) {
		t.Fatal("token alive after three uses")
	}
	_, err := e.do(engines.ReadOperation, "lookup-self", id, nil)
	wantCode(t, err, engines.CodePermissionDenied, "permission denied")

	// Unlimited tokens are not touched; a stale entry is refused.
	root := e.mustLookup(e.root)
	if err := e.s.Use(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Use(e.ctx, &engines.TokenEntry{Accessor: "gone", NumUses: 1}); !errors.Is(err, ErrUsesExhausted) {
		t.Fatalf("use of an unknown token: %v", err)
	}
	if err := e.s.Use(e.ctx, nil); err == nil {
		t.Fatal("use of nil accepted")
	}
}
