package token

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"coffer/engines"
	"coffer/engines/enginestest"
)

func TestTidy(t *testing.T) {
	e := mustEnv(t)
	short, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "ttl": "1m"})
	child, _ := e.mustCreate(short, "create", map[string]any{"ttl": "1h"}) // outlives its parent's TTL
	long, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "ttl": "1h"})
	longChild, _ := e.mustCreate(long, "create", nil)
	gone, goneAcc := e.mustCreate(e.root, "create", map[string]any{"policies": "p"})

	// Dangling indexes: a record deleted behind the store's back leaves its
	// accessor index and its entry under the root's children.
	f, _ := e.s.findID(e.ctx, gone)
	if err := e.storage.Delete(e.ctx, idPrefix+f.key); err != nil {
		t.Fatal(err)
	}
	// And a parent index for a child that never got written.
	rootAK, _ := e.s.accessorKey(e.mustLookup(e.root).Accessor)
	_ = e.storage.Put(e.ctx, parentPrefix+rootAK+"/feedface", []byte("0000"))

	e.clock.Advance(2 * time.Minute)
	if e.live(short) || !e.live(child) {
		t.Fatal("setup: short should be expired and its child alive")
	}
	res, err := e.s.Tidy(e.ctx)
	if err != nil {
		t.Fatalf("tidy: %v", err)
	}
	if res.Revoked != 1 || res.Accessors != 1 || res.Parents != 2 || res.Errors != 0 {
		t.Fatalf("tidy result: %+v", res)
	}
	// The expired parent took its child with it, as Vault's expiry does.
	for id, want := range map[string]bool{short: false, child: false, long: true, longChild: true, e.root: true} {
		if e.live(id) != want {
			t.Errorf("alive = %v, want %v", !want, want)
		}
		if f, _ := e.s.findID(e.ctx, id); (f != nil) != want {
			t.Errorf("record present = %v, want %v", f != nil, want)
		}
	}
	if te, _ := e.s.LookupAccessor(e.ctx, goneAcc); te != nil {
		t.Fatal("dangling accessor still resolves")
	}
	assertIndexesConsistent(t, e)
	if res, err := e.s.Tidy(e.ctx); err != nil || res != (TidyResult{}) {
		t.Fatalf("second tidy: %+v %v", res, err)
	}
}

func TestTidyEndpoint(t *testing.T) {
	e := mustEnv(t)
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "ttl": "1m"})
	e.clock.Advance(time.Hour)
	e.s.tidying.Store(true) // a pass already running
	resp := e.mustDo(engines.UpdateOperation, "tidy", e.root, nil)
	if resp.StatusCode != 0 || len(resp.Warnings) != 1 || resp.Warnings[0] != tidyRunning {
		t.Fatalf("tidy while running: %+v", resp)
	}
	e.s.tidying.Store(false)
	resp = e.mustDo(engines.UpdateOperation, "tidy", e.root, nil)
	if resp.StatusCode != 202 || len(resp.Warnings) != 1 || resp.Warnings[0] != tidyStarted {
		t.Fatalf("tidy: %+v", resp)
	}
	e.s.tidyWG.Wait()
	if f, _ := e.s.findID(e.ctx, id); f != nil {
		t.Fatal("background tidy left the expired token")
	}
}

func TestListAccessors(t *testing.T) {
	e := mustEnv(t)
	_, a1 := e.mustCreate(e.root, "create", map[string]any{"policies": "p"})
	id2, a2 := e.mustCreate(e.root, "create", map[string]any{"policies": "p"})
	_, a3 := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "ttl": "1m"})
	if err := e.s.Revoke(e.ctx, id2); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	keys := e.mustDo(engines.ListOperation, "accessors/", e.root, nil).Data["keys"].([]string)
	want := map[string]bool{a1: true, e.mustLookup(e.root).Accessor: true}
	if len(keys) != len(want) || !want[keys[0]] || !want[keys[1]] {
		t.Fatalf("accessors: %v (revoked %s, expired %s)", keys, a2, a3)
	}
	_, err := e.do(engines.ReadOperation, "accessors", e.root, nil)
	wantCode(t, err, engines.CodeUnsupportedOperation, "")
}

// blockingStorage holds a List of the token records, once armed, until
// the caller's context is cancelled or the test releases it.
type blockingStorage struct {
	*enginestest.Storage
	armed    atomic.Bool
	entered  chan struct{}
	release  chan struct{}
	canceled atomic.Bool
}

func (b *blockingStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix == idPrefix && b.armed.CompareAndSwap(true, false) {
		close(b.entered)
		select {
		case <-ctx.Done():
			b.canceled.Store(true)
			return nil, ctx.Err()
		case <-b.release:
		}
	}
	return b.Storage.List(ctx, prefix)
}

// TestResetStopsTidy: sealing cancels a tidy started through the endpoint
// and waits for it before the salt is zeroed; the store then starts tidy
// again after the next Load.
func TestResetStopsTidy(t *testing.T) {
	bs := &blockingStorage{entered: make(chan struct{}), release: make(chan struct{})}
	e := mustEnv(t, func(c *Config) { bs.Storage = c.Storage.(*enginestest.Storage); c.Storage = bs })
	t.Cleanup(func() { close(bs.release) }) // never leave the tidy stuck if Reset does not stop it
	bs.armed.Store(true)
	// The request's context ends with the request; the tidy outlives it.
	reqCtx, cancelReq := context.WithCancel(e.ctx)
	te := e.mustLookup(e.root)
	resp, err := e.s.HandleRequest(reqCtx, &engines.Request{Operation: engines.UpdateOperation, Path: "tidy", ClientToken: e.root, Token: te})
	cancelReq()
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("tidy: %+v %v", resp, err)
	}
	select {
	case <-bs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("tidy never started")
	}
	if bs.canceled.Load() {
		t.Fatal("tidy stopped with the request")
	}
	kr := e.s.keys
	done := make(chan struct{})
	go func() { e.s.Reset(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Reset did not stop the running tidy")
	}
	if !bs.canceled.Load() || e.s.tidying.Load() {
		t.Fatalf("tidy still running after Reset (canceled %v)", bs.canceled.Load())
	}
	if !bytes.Equal(kr.salt, make([]byte, saltBytes)) {
		t.Fatal("salt not zeroed")
	}
	// Sealed: no tidy starts.
	if _, err := e.s.handleTidy(e.ctx); !errors.Is(err, engines.ErrSealed) {
		t.Fatalf("tidy while sealed: %v", err)
	}
	if err := e.s.Load(e.ctx); err != nil {
		t.Fatal(err)
	}
	resp = e.mustDo(engines.UpdateOperation, "tidy", e.root, nil)
	if resp.StatusCode != 202 {
		t.Fatalf("tidy after reload: %+v", resp)
	}
	e.s.tidyWG.Wait()
}
