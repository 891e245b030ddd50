package token

import (
	"strings"
	"testing"

	"coffer/engines"
)

// TestRouteExactPath: the store routes on the path the ACL checked, so a
// trailing slash or an empty segment reaches no endpoint; only a list may
// carry one trailing slash.
func TestRouteExactPath(t *testing.T) {
	e := mustEnv(t)
	e.mustDo(engines.UpdateOperation, "roles/web", e.root, nil)
	cases := []struct {
		op   engines.Operation
		path string
		ok   bool
	}{
		{engines.UpdateOperation, "create", true},
		{engines.UpdateOperation, "create/", false},
		{engines.UpdateOperation, "/create", false},
		{engines.UpdateOperation, "create//", false},
		{engines.UpdateOperation, "auth//create", false},
		{engines.UpdateOperation, "create-orphan/", false},
		{engines.UpdateOperation, "create/web", true},
		{engines.UpdateOperation, "create//web", false},
		{engines.UpdateOperation, "create/web/", false},
		{engines.UpdateOperation, "revoke-orphan/", false},
		{engines.UpdateOperation, "lookup-self/", false},
		{engines.UpdateOperation, "tidy/", false},
		{engines.UpdateOperation, "", false},
		{engines.UpdateOperation, "/", false},
		{engines.ListOperation, "accessors", true},
		{engines.ListOperation, "accessors/", true},
		{engines.ListOperation, "accessors//", false},
		{engines.ListOperation, "/accessors", false},
		{engines.ListOperation, "roles", true},
		{engines.ListOperation, "roles/", true},
		{engines.ListOperation, "roles//", false},
		{engines.ListOperation, "/", false},
		{engines.ReadOperation, "roles/web", true},
		{engines.ReadOperation, "roles/web/", false},
		{engines.ReadOperation, "roles//web", false},
		{engines.ReadOperation, "roles/", false},
		{engines.UpdateOperation, "roles/web/", false},
		{engines.DeleteOperation, "roles/web/", false},
	}
	for _, c := range cases {
		t.Run(string(c.op)+" "+c.path, func(t *testing.T) {
			_, err := e.do(c.op, c.path, e.root, nil)
			if c.ok {
				if err != nil {
					t.Fatalf("want served, got %v", err)
				}
				return
			}
			wantCode(t, err, engines.CodeNotFound, "unsupported path")
		})
	}
	// Nothing above left an extra token or dropped the role.
	if r, err := e.s.readRole(e.ctx, "web"); err != nil || r == nil {
		t.Fatalf("role web: %v %v", r, err)
	}
}

// TestExists: a write to roles/<name> is a create until the role exists;
// every other write is an update, as in Vault.
func TestExists(t *testing.T) {
	e := mustEnv(t)
	e.mustDo(engines.UpdateOperation, "roles/web", e.root, nil)
	cases := []struct {
		path string
		want bool
	}{
		{"roles/web", true},
		{"roles/new", false},
		{"roles/-bad-", false},
		{"roles/web/", true}, // unsupported path: the handler refuses it
		{"create", true},
		{"create/web", true},
		{"create/nope", true},
		{"revoke", true},
		{"tidy", true},
	}
	for _, c := range cases {
		got, err := e.s.Exists(e.ctx, &engines.Request{Operation: engines.UpdateOperation, Path: c.path, MountPoint: "auth/token/"})
		if err != nil || got != c.want {
			t.Errorf("Exists(%q) = %v, %v; want %v", c.path, got, err, c.want)
		}
	}
	e.mustDo(engines.DeleteOperation, "roles/web", e.root, nil)
	if got, err := e.s.Exists(e.ctx, &engines.Request{Operation: engines.UpdateOperation, Path: "roles/web"}); err != nil || got {
		t.Fatalf("deleted role exists: %v %v", got, err)
	}
	var _ engines.ExistenceChecker = e.s
}

// FuzzRoutePath: whatever the path, the store routes on the string the
// ACL checked (a list less one trailing slash), and never on one with an
// empty segment.
func FuzzRoutePath(f *testing.F) {
	for _, p := range []string{"create", "create/", "/create", "auth//create", "accessors/", "roles//", "create/web", ""} {
		f.Add(p, true)
		f.Add(p, false)
	}
	f.Fuzz(func(t *testing.T, path string, list bool) {
		op := engines.UpdateOperation
		if list {
			op = engines.ListOperation
		}
		got, ok := routePath(&engines.Request{Operation: op, Path: path})
		if !ok {
			return
		}
		if got != path && !(list && got+"/" == path) {
			t.Fatalf("routed %q as %q", path, got)
		}
		if got == "" || strings.HasPrefix(got, "/") || strings.HasSuffix(got, "/") || strings.Contains(got, "//") {
			t.Fatalf("routed on %q", got)
		}
	})
}
