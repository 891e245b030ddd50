package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"coffer/engines"
	"coffer/engines/enginestest"
)

// newFakeClock returns the clock tests move by hand.
func newFakeClock() *enginestest.Clock {
	return enginestest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// env is a loaded store over in-memory storage, with a root token.
type env struct {
	tb      testing.TB
	ctx     context.Context
	s       *Store
	storage *enginestest.Storage
	clock   *enginestest.Clock
	root    string
}

func mustEnv(tb testing.TB, opts ...func(*Config)) *env {
	tb.Helper()
	st := enginestest.NewStorage()
	clock := newFakeClock()
	cfg := Config{Storage: st, Clock: clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	s := New(cfg)
	ctx := context.Background()
	if err := s.Load(ctx); err != nil {
		tb.Fatalf("load: %v", err)
	}
	tb.Cleanup(func() {
		s.tidyWG.Wait()
		s.Reset()
	})
	root, err := s.CreateRoot(ctx, "")
	if err != nil {
		tb.Fatalf("create root: %v", err)
	}
	return &env{tb: tb, ctx: ctx, s: s, storage: st, clock: clock, root: root}
}

// do plays the system's part: it authenticates tok, spends a use, and
// hands the request to the store.
func (e *env) do(op engines.Operation, path, tok string, data map[string]any) (*engines.Response, error) {
	e.tb.Helper()
	te, err := e.s.Lookup(e.ctx, tok)
	if err != nil {
		return nil, err
	}
	if te == nil {
		return nil, engines.ErrPermissionDenied
	}
	if te.NumUses > 0 {
		if err := e.s.Use(e.ctx, te); err != nil {
			return nil, err
		}
	}
	if data == nil {
		data = map[string]any{}
	}
	return e.s.HandleRequest(e.ctx, &engines.Request{
		Operation: op, Path: path, MountPoint: "auth/token/", Data: data,
		ClientToken: tok, Token: te,
	})
}

func (e *env) mustDo(op engines.Operation, path, tok string, data map[string]any) *engines.Response {
	e.tb.Helper()
	resp, err := e.do(op, path, tok, data)
	if err != nil {
		e.tb.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}

// mustCreate creates a token through auth/token/<path> and returns its ID
// and accessor.
func (e *env) mustCreate(tok, path string, data map[string]any) (id, accessor string) {
	e.tb.Helper()
	resp := e.mustDo(engines.UpdateOperation, path, tok, data)
	if resp == nil || resp.Auth == nil || resp.Auth.ClientToken == "" || resp.Auth.Accessor == "" {
		e.tb.Fatalf("create at %s: no auth block: %+v", path, resp)
	}
	return resp.Auth.ClientToken, resp.Auth.Accessor
}

func (e *env) live(id string) bool {
	e.tb.Helper()
	te, err := e.s.Lookup(e.ctx, id)
	if err != nil {
		e.tb.Fatalf("lookup: %v", err)
	}
	return te != nil
}

func (e *env) mustLookup(id string) *engines.TokenEntry {
	e.tb.Helper()
	te, err := e.s.Lookup(e.ctx, id)
	if err != nil || te == nil {
		e.tb.Fatalf("lookup: %+v %v", te, err)
	}
	return te
}

// wantCode fails unless err carries code (and, if msg is set, that
// client message).
func wantCode(tb testing.TB, err error, code engines.Code, msg string) {
	tb.Helper()
	var ee *engines.Error
	if !errors.As(err, &ee) {
		tb.Fatalf("want a coded error %v %q, got %v", code, msg, err)
	}
	if ee.Code != code || (msg != "" && ee.Message != msg) {
		tb.Fatalf("want %v %q, got %v %q", code, msg, ee.Code, ee.Message)
	}
}
