package token

import (
	"slices"
	"testing"
	"time"

	"coffer/engines"
)

func TestRolesCRUD(t *testing.T) {
	e := mustEnv(t)
	if resp := e.mustDo(engines.ListOperation, "roles", e.root, nil); resp != nil {
		t.Fatalf("empty list: %+v", resp)
	}
	resp := e.mustDo(engines.UpdateOperation, "roles/web", e.root, map[string]any{
		"allowed_policies": "a, B", "disallowed_policies": []any{"x"}, "orphan": true, "path_suffix": "v1",
		"period": "1h", "token_explicit_max_ttl": 7200, "explicit_max_ttl": 60, "token_num_uses": 4,
		"token_bound_cidrs": "10.0.0.0/8", "token_ttl": "30m", "token_max_ttl": "2h",
	})
	if resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("want the deprecated-field warning: %+v", resp)
	}
	d := e.mustDo(engines.ReadOperation, "roles/web", e.root, nil).Data
	want := map[string]any{
		"name": "web", "orphan": true, "renewable": true, "path_suffix": "v1", "period": int64(3600),
		"token_period": int64(3600), "explicit_max_ttl": int64(0), "token_explicit_max_ttl": int64(7200),
		"token_num_uses": 4, "token_ttl": int64(1800), "token_max_ttl": int64(7200), "token_type": "default-service",
		"token_no_default_policy": false,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	if !slices.Equal(d["allowed_policies"].([]string), []string{"a", "b"}) || !slices.Equal(d["token_bound_cidrs"].([]string), []string{"10.0.0.0/8"}) {
		t.Errorf("lists: %v %v", d["allowed_policies"], d["token_bound_cidrs"])
	}
	// An update changes only what it names.
	e.mustDo(engines.UpdateOperation, "roles/web", e.root, map[string]any{"renewable": false})
	d = e.mustDo(engines.ReadOperation, "roles/web", e.root, nil).Data
	if d["renewable"] != false || d["orphan"] != true || d["token_num_uses"] != 4 {
		t.Fatalf("after update: %v", d)
	}
	e.mustDo(engines.UpdateOperation, "roles/db", e.root, nil)
	keys := e.mustDo(engines.ListOperation, "roles/", e.root, nil).Data["keys"].([]string)
	if !slices.Equal(keys, []string{"db", "web"}) {
		t.Fatalf("list: %v", keys)
	}
	e.mustDo(engines.DeleteOperation, "roles/db", e.root, nil)
	if resp := e.mustDo(engines.ReadOperation, "roles/db", e.root, nil); resp != nil {
		t.Fatalf("deleted role read: %+v", resp)
	}
	for _, bad := range []map[string]any{
		{"path_suffix": "../x"}, {"token_type": "batch"}, {"token_type": "nope"}, {"token_num_uses": -1},
		{"token_ttl": "3h", "token_max_ttl": "1h"}, {"token_bound_cidrs": "nope"}, {"orphan": "maybe"},
	} {
		_, err := e.do(engines.UpdateOperation, "roles/bad", e.root, bad)
		wantCode(t, err, engines.CodeInvalidRequest, "")
	}
	_, err := e.do(engines.UpdateOperation, "roles/-bad-", e.root, nil)
	wantCode(t, err, engines.CodeInvalidRequest, "")
}

func TestCreateAgainstRole(t *testing.T) {
	e := mustEnv(t, func(c *Config) { c.MaxTTL = 10 * time.Hour })
	parent, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"p", "q"}})
	e.mustDo(engines.UpdateOperation, "roles/app", e.root, map[string]any{
		"allowed_policies": []any{"a", "b"}, "disallowed_policies": "b2", "path_suffix": "v2",
		"token_period": "0", "token_explicit_max_ttl": "3h", "token_num_uses": 0,
	})
	e.mustDo(engines.UpdateOperation, "roles/deny", e.root, map[string]any{"disallowed_policies": "q", "orphan": true})
	e.mustDo(engines.UpdateOperation, "roles/plain", e.root, map[string]any{
		"renewable": false, "token_period": "2h", "token_num_uses": 2, "token_bound_cidrs": "10.0.0.0/8", "token_no_default_policy": true,
	})
	e.mustDo(engines.UpdateOperation, "roles/nodef", e.root, map[string]any{"allowed_policies": "a", "disallowed_policies": "default"})
	cases := []struct {
		name, tok, role string
		data            map[string]any
		msg             string
		check           func(t *testing.T, a *engines.Auth, te *engines.TokenEntry)
	}{
		{name: "allowed set used when none asked", tok: parent, role: "app",
			check: func(t *testing.T, a *engines.Auth, te *engines.TokenEntry) {
				// The role grants policies the parent lacks.
				if !slices.Equal(a.Policies, []string{"a", "b", "default"}) || te.Role != "app" || te.Path != "auth/token/create/app/v2" ||
					te.ExplicitMaxTTL != 3*time.Hour || a.LeaseDuration != 3*time.Hour || te.Orphan {
					t.Fatalf("%+v %+v", a, te)
				}
			}},
		{name: "subset of allowed", tok: parent, role: "app", data: map[string]any{"policies": "a"},
			check: func(t *testing.T, a *engines.Auth, _ *engines.TokenEntry) {
				if !slices.Equal(a.Policies, []string{"a", "default"}) {
					t.Fatalf("%v", a.Policies)
				}
			}},
		{name: "outside allowed", tok: parent, role: "app", data: map[string]any{"policies": "c"},
			msg: `token policies (["c" "default"]) must be subset of the role's allowed policies (["a" "b" "default"])`},
		{name: "disallowed", tok: parent, role: "deny", data: map[string]any{"policies": []any{"p", "q"}},
			msg: `token policy "q" is disallowed by this role`},
		{name: "disallowed-only role inherits parent, orphan", tok: e.root, role: "deny", data: map[string]any{"policies": "z"},
			check: func(t *testing.T, a *engines.Auth, te *engines.TokenEntry) {
				if !slices.Equal(a.Policies, []string{"default", "z"}) || !te.Orphan {
					t.Fatalf("%+v", te)
				}
			}},
		{name: "disallowed default", tok: parent, role: "nodef",
			check: func(t *testing.T, a *engines.Auth, _ *engines.TokenEntry) {
				if !slices.Equal(a.Policies, []string{"a"}) {
					t.Fatalf("%v", a.Policies)
				}
			}},
		{name: "role period, uses, cidrs, not renewable", tok: parent, role: "plain", data: map[string]any{"num_uses": 5},
			check: func(t *testing.T, a *engines.Auth, te *engines.TokenEntry) {
				if te.Period != 2*time.Hour || a.LeaseDuration != 2*time.Hour || te.NumUses != 2 || a.Renewable ||
					!slices.Equal(te.BoundCIDRs, []string{"10.0.0.0/8"}) || !slices.Equal(a.Policies, []string{"p", "q"}) {
					t.Fatalf("%+v", te)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := e.do(engines.UpdateOperation, "create/"+c.role, c.tok, c.data)
			if c.msg != "" {
				wantCode(t, err, engines.CodeInvalidRequest, c.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, resp.Auth, e.mustLookup(resp.Auth.ClientToken))
		})
	}

	// Renewal of a role token follows the role as it is now.
	resp := e.mustDo(engines.UpdateOperation, "create/app", parent, nil)
	id := resp.Auth.ClientToken
	e.mustDo(engines.UpdateOperation, "roles/app", e.root, map[string]any{"token_period": "20m"})
	e.clock.Advance(time.Minute)
	if a := e.mustDo(engines.UpdateOperation, "renew-self", id, nil).Auth; a.LeaseDuration != 20*time.Minute {
		t.Fatalf("renew under the changed role: %v", a.LeaseDuration)
	}
	e.mustDo(engines.DeleteOperation, "roles/app", e.root, nil)
	_, err := e.do(engines.UpdateOperation, "renew-self", id, nil)
	wantCode(t, err, engines.CodeInvalidRequest, `original token role "app" could not be found, not renewing`)
}
