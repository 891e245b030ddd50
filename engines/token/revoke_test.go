package token

import (
	"context"
	"errors"
	"strings"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

// tree builds root -> parent -> {child1 -> {grand1, grand2}, child2} and
// an orphan made by parent; it returns the IDs by name.
func mustTree(e *env) map[string]string {
	e.tb.Helper()
	ids := map[string]string{}
	ids["parent"], _ = e.mustCreate(e.root, "create", map[string]any{"policies": "p"})
	ids["child1"], _ = e.mustCreate(ids["parent"], "create", nil)
	ids["child2"], _ = e.mustCreate(ids["parent"], "create", nil)
	ids["grand1"], _ = e.mustCreate(ids["child1"], "create", nil)
	ids["grand2"], _ = e.mustCreate(ids["child1"], "create", nil)
	ids["orphan"], _ = e.mustCreate(ids["parent"], "create-orphan", nil)
	return ids
}

func TestRevokeTree(t *testing.T) {
	cases := []struct {
		name  string
		do    func(e *env, ids map[string]string) error
		alive []string
	}{
		{"revoke", func(e *env, ids map[string]string) error {
			_, err := e.do(engines.UpdateOperation, "revoke", e.root, map[string]any{"token": ids["parent"]})
			return err
		}, []string{"orphan"}},
		{"revoke-self", func(e *env, ids map[string]string) error {
			_, err := e.do(engines.UpdateOperation, "revoke-self", ids["parent"], nil)
			return err
		}, []string{"orphan"}},
		{"revoke-accessor", func(e *env, ids map[string]string) error {
			_, err := e.do(engines.UpdateOperation, "revoke-accessor", e.root, map[string]any{"accessor": e.mustLookup(ids["parent"]).Accessor})
			return err
		}, []string{"orphan"}},
		{"revoke a middle token", func(e *env, ids map[string]string) error {
			return e.s.Revoke(e.ctx, ids["child1"])
		}, []string{"parent", "child2", "orphan"}},
		{"revoke-orphan", func(e *env, ids map[string]string) error {
			_, err := e.do(engines.UpdateOperation, "revoke-orphan", e.root, map[string]any{"token": ids["parent"]})
			return err
		}, []string{"child1", "child2", "grand1", "grand2", "orphan"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mustEnv(t)
			ids := mustTree(e)
			if err := c.do(e, ids); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			for name, id := range ids {
				want := strings.Contains(" "+strings.Join(c.alive, " ")+" ", " "+name+" ")
				if got := e.live(id); got != want {
					t.Errorf("%s alive = %v, want %v", name, got, want)
				}
			}
			if c.name == "revoke-orphan" {
				for _, n := range []string{"child1", "child2"} {
					if te := e.mustLookup(ids[n]); !te.Orphan || te.Parent != "" {
						t.Errorf("%s not orphaned: %+v", n, te)
					}
				}
				// The orphaned subtree still revokes as a tree.
				if err := e.s.Revoke(e.ctx, ids["child1"]); err != nil || e.live(ids["grand1"]) || e.live(ids["grand2"]) {
					t.Fatalf("revoke orphaned child1: %v", err)
				}
			}
			// Nothing of the revoked tokens is left in storage.
			res, err := e.s.Tidy(e.ctx)
			if err != nil || res != (TidyResult{}) {
				t.Fatalf("tidy after revoke found work: %+v %v", res, err)
			}
			assertIndexesConsistent(t, e)
		})
	}
}

// assertIndexesConsistent checks there is exactly one accessor index per
// record and parent index entries only for live parent/child pairs.
func assertIndexesConsistent(tb testing.TB, e *env) {
	tb.Helper()
	records, _ := e.storage.List(e.ctx, idPrefix)
	accs, _ := e.storage.List(e.ctx, accessorPrefix)
	if len(records) != len(accs) {
		tb.Fatalf("%d records, %d accessor indexes", len(records), len(accs))
	}
	children := 0
	for _, k := range records {
		r, err := e.s.read(e.ctx, k)
		if err != nil || r == nil {
			tb.Fatalf("read %s: %v", k, err)
		}
		if r.parent != "" {
			children++
		}
	}
	entries := 0
	dirs, _ := e.storage.List(e.ctx, parentPrefix)
	for _, d := range dirs {
		cs, _ := e.storage.List(e.ctx, parentPrefix+d)
		entries += len(cs)
	}
	if entries != children {
		tb.Fatalf("%d parent index entries for %d children", entries, children)
	}
}

func TestRevokeEdges(t *testing.T) {
	e := mustEnv(t)
	// Unknown tokens: revoke is a no-op, revoke-accessor warns,
	// revoke-orphan refuses.
	if resp := e.mustDo(engines.UpdateOperation, "revoke", e.root, map[string]any{"token": "hvs.unknown"}); resp != nil {
		t.Fatalf("revoke unknown: %+v", resp)
	}
	resp := e.mustDo(engines.UpdateOperation, "revoke-accessor", e.root, map[string]any{"accessor": "unknown"})
	if resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("revoke-accessor unknown: %+v", resp)
	}
	_, err := e.do(engines.UpdateOperation, "revoke-orphan", e.root, map[string]any{"token": "hvs.unknown"})
	wantCode(t, err, engines.CodeInvalidRequest, "token to revoke not found")
	for _, p := range []string{"revoke", "revoke-orphan"} {
		_, err = e.do(engines.UpdateOperation, p, e.root, nil)
		wantCode(t, err, engines.CodeInvalidRequest, "missing token ID")
	}
	_, err = e.do(engines.UpdateOperation, "revoke-accessor", e.root, nil)
	wantCode(t, err, engines.CodeInvalidRequest, "missing accessor")
	// With a sudo check configured, revoke-orphan asks it.
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p"})
	e.s.hasSudo = func(context.Context, *engines.TokenEntry, string) bool { return false }
	_, err = e.do(engines.UpdateOperation, "revoke-orphan", id, map[string]any{"token": id})
	wantCode(t, err, engines.CodeInvalidRequest, "root or sudo privileges required to revoke and orphan")
	if got := e.s.SudoPaths(); len(got) != 2 {
		t.Fatalf("sudo paths: %v", got)
	}
}

// TestRevokeResumesAfterFailure cuts a tree revocation short at every
// possible delete and checks the parent is dead at once and that running
// Revoke again (or Tidy) finishes the job.
func TestRevokeResumesAfterFailure(t *testing.T) {
	const deletes = 5 * 3 // five tokens in the tree, three keys each
	for after := 0; after < deletes; after++ {
		for _, finish := range []string{"revoke", "tidy"} {
			e := mustEnv(t)
			ids := mustTree(e)
			e.storage.FailAfter(enginestest.OpDelete, after)
			if err := e.s.Revoke(e.ctx, ids["parent"]); !errors.Is(err, enginestest.ErrInjected) {
				t.Fatalf("after=%d: want the injected failure, got %v", after, err)
			}
			if e.live(ids["parent"]) {
				t.Fatalf("after=%d: parent alive after a failed revoke", after)
			}
			var err error
			switch finish {
			case "revoke":
				if err = e.s.Revoke(e.ctx, ids["parent"]); err == nil {
					_, err = e.s.Tidy(e.ctx) // the index the cut delete left
				}
			case "tidy":
				_, err = e.s.Tidy(e.ctx)
			}
			if err != nil {
				t.Fatalf("after=%d: finish by %s: %v", after, finish, err)
			}
			for name, id := range ids {
				if e.live(id) != (name == "orphan") {
					t.Fatalf("after=%d, %s: %s alive = %v", after, finish, name, e.live(id))
				}
			}
			assertIndexesConsistent(t, e)
		}
	}
}

// TestChildOfDyingParent: a child whose parent is revoked while it is
// created is revoked too, never left outside the tree.
func TestChildOfDyingParent(t *testing.T) {
	e := mustEnv(t)
	parent, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p"})
	pe := e.mustLookup(parent)
	// The parent is marked (as revocation does first), but the request
	// already authenticated it.
	f, _ := e.s.findID(e.ctx, parent)
	f.rec.Revoking = revokeTree
	if err := e.s.write(e.ctx, f.key, f.rec); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.HandleRequest(e.ctx, &engines.Request{Operation: engines.UpdateOperation, Path: "create", ClientToken: parent, Token: pe})
	wantCode(t, err, engines.CodeInvalidRequest, "parent token lookup failed: no parent found")
	if err := e.s.Revoke(e.ctx, parent); err != nil {
		t.Fatal(err)
	}
	keys, _ := e.storage.List(e.ctx, idPrefix)
	if len(keys) != 1 { // the root
		t.Fatalf("records left: %d", len(keys))
	}
	assertIndexesConsistent(t, e)
}
