package token

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"coffer/engines"
)

func TestCreateChild(t *testing.T) {
	e := mustEnv(t)
	resp := e.mustDo(engines.UpdateOperation, "create", e.root, map[string]any{
		"policies": []any{"Web", "db", " web "}, "meta": map[string]any{"team": "a", "n": 1},
		"display_name": "my app!", "ttl": "1h", "explicit_max_ttl": 7200,
	})
	a := resp.Auth
	if !slices.Equal(a.Policies, []string{"db", "default", "web"}) || !slices.Equal(a.TokenPolicies, a.Policies) {
		t.Fatalf("policies: %v / %v", a.Policies, a.TokenPolicies)
	}
	if a.LeaseDuration != time.Hour || !a.Renewable || a.Orphan || a.TokenType != "service" || a.EntityID != "" ||
		a.Metadata["team"] != "a" || a.Metadata["n"] != "1" || a.DisplayName != "token-my-app" {
		t.Fatalf("auth block: %+v", a)
	}
	te := e.mustLookup(a.ClientToken)
	root := e.mustLookup(e.root)
	if te.Parent != root.Accessor || te.Orphan || te.Accessor != a.Accessor || te.Path != "auth/token/create" ||
		te.ExplicitMaxTTL != 2*time.Hour || !te.ExpireTime.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("entry: %+v", te)
	}
	// A child of a child, with inherited policies.
	resp = e.mustDo(engines.UpdateOperation, "create", a.ClientToken, nil)
	if !slices.Equal(resp.Auth.Policies, []string{"db", "default", "web"}) || resp.Auth.LeaseDuration != 768*time.Hour {
		t.Fatalf("grandchild: %+v", resp.Auth)
	}
}

func TestCreateRules(t *testing.T) {
	e := mustEnv(t)
	limited, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"a", "b"}})
	noDefault, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"a"}, "no_default_policy": true})
	uses, _ := e.mustCreate(e.root, "create", map[string]any{"num_uses": 5})
	expiring, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"root"}, "ttl": "1h"})
	sudoer, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"admin"}})
	e.s.hasSudo = func(_ context.Context, te *engines.TokenEntry, path string) bool {
		return slices.Contains(te.Policies, "admin") && path == "auth/token/create"
	}

	cases := []struct {
		name     string
		tok      string
		path     string
		data     map[string]any
		code     engines.Code
		msg      string
		policies []string
		orphan   bool
	}{
		{name: "subset", tok: limited, path: "create", data: map[string]any{"policies": "a"}, policies: []string{"a", "default"}},
		{name: "not a subset", tok: limited, path: "create", data: map[string]any{"policies": []any{"a", "c"}},
			code: engines.CodeInvalidRequest, msg: "child policies must be subset of parent"},
		{name: "no default from a parent without it", tok: noDefault, path: "create", data: map[string]any{"policies": []any{"a"}}, policies: []string{"a"}},
		{name: "non-root asks for root", tok: limited, path: "create", data: map[string]any{"policies": []any{"root"}},
			code: engines.CodeInvalidRequest, msg: "child policies must be subset of parent"},
		{name: "sudo asks for root", tok: sudoer, path: "create", data: map[string]any{"policies": []any{"root"}},
			code: engines.CodeInvalidRequest, msg: "root tokens may not be created without parent token being root"},
		{name: "sudo grants beyond its own", tok: sudoer, path: "create", data: map[string]any{"policies": []any{"x"}}, policies: []string{"default", "x"}},
		{name: "sudo no_parent", tok: sudoer, path: "create", data: map[string]any{"no_parent": true}, policies: []string{"admin", "default"}, orphan: true},
		{name: "no_parent without sudo", tok: limited, path: "create", data: map[string]any{"no_parent": true},
			code: engines.CodeInvalidRequest, msg: "root or sudo privileges required to create orphan token"},
		{name: "create-orphan needs no sudo", tok: limited, path: "create-orphan", policies: []string{"a", "b", "default"}, orphan: true},
		{name: "id without sudo", tok: limited, path: "create", data: map[string]any{"id": "mine"},
			code: engines.CodeInvalidRequest, msg: "root or sudo privileges required to specify token id"},
		{name: "id with hvs prefix", tok: e.root, path: "create", data: map[string]any{"id": "hvs.mine"},
			code: engines.CodeInvalidRequest, msg: "custom token ID cannot have the 'hvs.' prefix"},
		{name: "id with a dot", tok: e.root, path: "create", data: map[string]any{"id": "a.b"},
			code: engines.CodeInvalidRequest, msg: "custom token ID cannot have a '.' in the value"},
		{name: "period without sudo", tok: limited, path: "create", data: map[string]any{"period": "1h"},
			code: engines.CodeInvalidRequest, msg: "root or sudo privileges required to create periodic token"},
		{name: "parent with uses", tok: uses, path: "create",
			code: engines.CodeInvalidRequest, msg: "restricted use token cannot generate child tokens"},
		{name: "batch", tok: e.root, path: "create", data: map[string]any{"type": "batch"},
			code: engines.CodeInvalidRequest, msg: "batch tokens are not supported"},
		{name: "bad type", tok: e.root, path: "create", data: map[string]any{"type": "x"}, code: engines.CodeInvalidRequest},
		{name: "negative uses", tok: e.root, path: "create", data: map[string]any{"num_uses": -1},
			code: engines.CodeInvalidRequest, msg: "number of uses cannot be negative"},
		{name: "bad ttl", tok: e.root, path: "create", data: map[string]any{"ttl": "soon"}, code: engines.CodeInvalidRequest},
		{name: "non-assignable", tok: e.root, path: "create", data: map[string]any{"policies": []any{"response-wrapping"}},
			code: engines.CodeInvalidRequest, msg: `cannot assign policy "response-wrapping"`},
		{name: "expiring root makes non-expiring root", tok: expiring, path: "create",
			code: engines.CodeInvalidRequest, msg: "expiring root tokens cannot create non-expiring root tokens"},
		{name: "expiring root makes expiring root", tok: expiring, path: "create", data: map[string]any{"ttl": "10m"}, policies: []string{"root"}},
		{name: "entity alias", tok: e.root, path: "create", data: map[string]any{"entity_alias": "x"}, code: engines.CodeInvalidRequest},
		{name: "unknown role", tok: e.root, path: "create/nope", code: engines.CodeInvalidRequest, msg: "unknown role nope"},
		{name: "read is not create", tok: e.root, path: "create", code: engines.CodeUnsupportedOperation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := engines.UpdateOperation
			if c.name == "read is not create" {
				op = engines.ReadOperation
			}
			resp, err := e.do(op, c.path, c.tok, c.data)
			if c.code != 0 || c.msg != "" {
				wantCode(t, err, c.code, c.msg)
				return
			}
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if !slices.Equal(resp.Auth.Policies, c.policies) || resp.Auth.Orphan != c.orphan {
				t.Fatalf("got policies %v orphan %v", resp.Auth.Policies, resp.Auth.Orphan)
			}
		})
	}
}

func TestCreateRootTokens(t *testing.T) {
	e := mustEnv(t)
	resp := e.mustDo(engines.UpdateOperation, "create", e.root, map[string]any{"id": "custom-root", "policies": []any{"root", "x"}})
	a := resp.Auth
	if a.ClientToken != "custom-root" || !slices.Equal(a.Policies, []string{"root"}) || a.LeaseDuration != 0 || a.Renewable {
		t.Fatalf("root child: %+v", a)
	}
	if te := e.mustLookup("custom-root"); !te.ExpireTime.IsZero() || te.Orphan {
		t.Fatalf("root child entry: %+v", te)
	}
	_, err := e.do(engines.UpdateOperation, "create", e.root, map[string]any{"id": "custom-root"})
	wantCode(t, err, engines.CodeInvalidRequest, "cannot create a token with a duplicate ID")
	// Root with an explicit max TTL expires.
	resp = e.mustDo(engines.UpdateOperation, "create", e.root, map[string]any{"explicit_max_ttl": "30m"})
	if resp.Auth.LeaseDuration != 30*time.Minute {
		t.Fatalf("root with explicit max: %+v", resp.Auth)
	}
}

func TestCreateTTLCaps(t *testing.T) {
	e := mustEnv(t, func(c *Config) { c.DefaultTTL, c.MaxTTL = time.Hour, 10*time.Hour })
	cases := []struct {
		data map[string]any
		want time.Duration
		warn bool
	}{
		{map[string]any{}, time.Hour, false},
		{map[string]any{"ttl": "2h"}, 2 * time.Hour, false},
		{map[string]any{"ttl": "20h"}, 10 * time.Hour, true},
		{map[string]any{"ttl": "5h", "explicit_max_ttl": "3h"}, 3 * time.Hour, true},
		{map[string]any{"period": "2h"}, 2 * time.Hour, false},
		{map[string]any{"period": "20h"}, 10 * time.Hour, true},
		{map[string]any{"lease": "90m"}, 90 * time.Minute, false},
		{map[string]any{"ttl": 120}, 2 * time.Minute, false},
		{map[string]any{"ttl": json.Number("60")}, time.Minute, false},
	}
	for _, c := range cases {
		c.data["policies"] = "x" // a root child without policies would be root
		resp := e.mustDo(engines.UpdateOperation, "create", e.root, c.data)
		if resp.Auth.LeaseDuration != c.want || (len(resp.Warnings) > 0) != c.warn {
			t.Errorf("create %v: ttl %v warnings %v, want %v", c.data, resp.Auth.LeaseDuration, resp.Warnings, c.want)
		}
	}
	resp := e.mustDo(engines.UpdateOperation, "create", e.root, map[string]any{"bogus": 1})
	if len(resp.Warnings) != 1 || resp.Warnings[0] != "Endpoint ignored these unrecognized parameters: [bogus]" {
		t.Fatalf("unknown field warning: %v", resp.Warnings)
	}
}

func TestCreateFromAuth(t *testing.T) {
	e := mustEnv(t, func(c *Config) { c.MaxTTL = 10 * time.Hour })
	cases := []struct {
		name    string
		mount   string
		path    string
		auth    engines.Auth
		display string
		ttl     time.Duration
		pols    []string
		code    engines.Code
	}{
		{name: "approle", mount: "auth/approle/", path: "login",
			auth:    engines.Auth{Policies: []string{"web"}, LeaseDuration: time.Hour, Renewable: true, NumUses: 2, BoundCIDRs: []string{"10.0.0.0/8"}},
			display: "approle", ttl: time.Hour, pols: []string{"default", "web"}},
		{name: "userpass", mount: "auth/userpass/", path: "login/alice",
			auth:    engines.Auth{Policies: []string{"a"}, DisplayName: "alice", Metadata: map[string]string{"username": "alice"}, NoDefaultPolicy: true},
			display: "userpass-alice", ttl: 10 * time.Hour, pols: []string{"a"}},
		{name: "capped", mount: "auth/userpass/", path: "login/bob",
			auth:    engines.Auth{DisplayName: "userpass-bob", LeaseDuration: 20 * time.Hour, ExplicitMaxTTL: 5 * time.Hour},
			display: "userpass-bob", ttl: 5 * time.Hour, pols: []string{"default"}},
		{name: "periodic", mount: "auth/approle/", path: "login",
			auth:    engines.Auth{Period: 30 * time.Minute, LeaseDuration: time.Hour},
			display: "approle", ttl: 30 * time.Minute, pols: []string{"default"}},
		{name: "root refused", mount: "auth/approle/", path: "login", auth: engines.Auth{Policies: []string{"root"}}, code: engines.CodeInvalidRequest},
		{name: "bad cidr", mount: "auth/approle/", path: "login", auth: engines.Auth{BoundCIDRs: []string{"x"}}, code: engines.CodeInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := c.auth
			req := &engines.Request{MountPoint: c.mount, Path: c.path}
			te, err := e.s.CreateFromAuth(e.ctx, req, &auth)
			if c.code != 0 {
				wantCode(t, err, c.code, "")
				return
			}
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			got := e.mustLookup(te.ID)
			if got.DisplayName != c.display || got.TTL != c.ttl || !slices.Equal(got.Policies, c.pols) || !got.Orphan ||
				got.Path != c.mount+c.path || got.NumUses != c.auth.NumUses || !slices.Equal(got.BoundCIDRs, c.auth.BoundCIDRs) ||
				got.Renewable != c.auth.Renewable || got.Period != c.auth.Period {
				t.Fatalf("entry: %+v", got)
			}
			if auth.ClientToken != te.ID || auth.Accessor != got.Accessor || auth.LeaseDuration != c.ttl || !auth.Orphan ||
				!slices.Equal(auth.TokenPolicies, c.pols) {
				t.Fatalf("auth block not filled: %+v", auth)
			}
		})
	}
}
