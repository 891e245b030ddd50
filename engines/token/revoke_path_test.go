package token

import (
	"errors"
	"sync"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

// mustLogin creates a token as a login at mount (with its slash) does.
func (e *env) mustLogin(mount, user string) string {
	e.tb.Helper()
	req := &engines.Request{Operation: engines.UpdateOperation, MountPoint: mount, Path: "login/" + user}
	te, err := e.s.CreateFromAuth(e.ctx, req, &engines.Auth{Policies: []string{"p"}, DisplayName: user})
	if err != nil {
		e.tb.Fatalf("login at %s: %v", mount, err)
	}
	return te.ID
}

func TestRevokeByPath(t *testing.T) {
	e := mustEnv(t)
	alice := e.mustLogin("auth/userpass/", "alice")
	bob := e.mustLogin("auth/userpass/", "bob")
	aliceChild, _ := e.mustCreate(alice, "create", nil)
	aliceGrand, _ := e.mustCreate(aliceChild, "create", nil)
	aliceOrphan, _ := e.mustCreate(e.root, "create-orphan", map[string]any{"policies": "p"})
	other := e.mustLogin("auth/userpass2/", "carol") // a mount whose name extends the prefix
	app := e.mustLogin("auth/approle/", "app")
	plain, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p"})

	if _, err := e.s.RevokeByPath(e.ctx, ""); err == nil {
		t.Fatal("empty prefix accepted")
	}

	// A storage failure on the first login (its revocation mark) does not
	// stop the scan, and the next run finishes the job.
	e.storage.FailAfter(enginestest.OpPut, 0)
	if n, err := e.s.RevokeByPath(e.ctx, "auth/userpass/"); !errors.Is(err, enginestest.ErrInjected) || n != 1 {
		t.Fatalf("want one revoked and the injected failure, got %d %v", n, err)
	}
	if n, err := e.s.RevokeByPath(e.ctx, "auth/userpass/"); err != nil || n != 1 {
		t.Fatalf("second run: %d %v", n, err)
	}
	for id, want := range map[string]bool{
		alice: false, bob: false, aliceChild: false, aliceGrand: false,
		aliceOrphan: true, other: true, app: true, plain: true, e.root: true,
	} {
		if e.live(id) != want {
			t.Errorf("alive = %v, want %v", !want, want)
		}
		if f, _ := e.s.findID(e.ctx, id); (f != nil) != want {
			t.Errorf("record present = %v, want %v", f != nil, want)
		}
	}
	// Idempotent: nothing left to do.
	if n, err := e.s.RevokeByPath(e.ctx, "auth/userpass/"); err != nil || n != 0 {
		t.Fatalf("third run: %d %v", n, err)
	}
	if _, err := e.s.Tidy(e.ctx); err != nil {
		t.Fatal(err)
	}
	assertIndexesConsistent(t, e)

	// Sealed: it fails at once with ErrSealed.
	e.s.Reset()
	if _, err := e.s.RevokeByPath(e.ctx, "auth/approle/"); !errors.Is(err, engines.ErrSealed) {
		t.Fatalf("sealed: %v", err)
	}
	if err := e.s.Load(e.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRevokeByPathConcurrent runs RevokeByPath twice at once while the
// doomed tokens keep making children: no token of the mount, nor any
// descendant, survives, and the other mount's tokens are untouched.
func TestRevokeByPathConcurrent(t *testing.T) {
	e := mustEnv(t)
	var doomed []string
	for _, u := range []string{"a", "b", "c", "d"} {
		doomed = append(doomed, e.mustLogin("auth/userpass/", u))
	}
	keep := e.mustLogin("auth/ldap/", "k")
	var mu sync.Mutex
	var children []string
	var wg sync.WaitGroup
	for _, p := range doomed {
		wg.Go(func() {
			for range 10 {
				// Fails once the parent is dead; what succeeds is recorded.
				te, err := e.s.Lookup(e.ctx, p)
				if err != nil || te == nil {
					return
				}
				resp, err := e.s.HandleRequest(e.ctx, &engines.Request{
					Operation: engines.UpdateOperation, Path: "create", MountPoint: "auth/token/",
					ClientToken: p, Token: te, Data: map[string]any{},
				})
				if err == nil {
					mu.Lock()
					children = append(children, resp.Auth.ClientToken)
					mu.Unlock()
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			if _, err := e.s.RevokeByPath(e.ctx, "auth/userpass/"); err != nil {
				t.Errorf("revoke by path: %v", err)
			}
		})
	}
	wg.Wait()
	for _, id := range append(doomed, children...) {
		if e.live(id) {
			t.Fatal("a token of the disabled mount survived")
		}
	}
	if !e.live(keep) || !e.live(e.root) {
		t.Fatal("a token of another mount was revoked")
	}
	if _, err := e.s.Tidy(e.ctx); err != nil {
		t.Fatal(err)
	}
	assertIndexesConsistent(t, e)
	keys, _ := e.storage.List(e.ctx, idPrefix)
	if len(keys) != 2 { // root and keep
		t.Fatalf("records left: %d", len(keys))
	}
}
