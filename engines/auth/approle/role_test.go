package approle_test

import (
	"slices"
	"testing"

	"coffer/engines"
)

func TestRoleWriteRead(t *testing.T) {
	cases := []struct {
		name, settings, want string
	}{
		{
			name:     "defaults",
			settings: `{}`,
			want: `{"bind_secret_id":true,"local_secret_ids":false,"secret_id_bound_cidrs":[],"secret_id_num_uses":0,"secret_id_ttl":0,
				"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_num_uses":0,
				"token_period":0,"token_policies":[],"token_ttl":0,"token_type":"default"}`,
		},
		{
			name: "everything",
			settings: `{"token_policies":"Web, db ,web","token_ttl":"1h","token_max_ttl":7200,"token_period":"30m","token_num_uses":3,
				"token_bound_cidrs":["10.0.0.0/8","192.168.1.7"],"token_no_default_policy":true,"token_type":"service","token_explicit_max_ttl":"2d",
				"secret_id_bound_cidrs":"10.1.0.0/16, 10.2.0.0/16","secret_id_num_uses":"5","secret_id_ttl":"10m","bind_secret_id":"true"}`,
			want: `{"bind_secret_id":true,"local_secret_ids":false,"secret_id_bound_cidrs":["10.1.0.0/16","10.2.0.0/16"],"secret_id_num_uses":5,"secret_id_ttl":600,
				"token_bound_cidrs":["10.0.0.0/8","192.168.1.7"],"token_explicit_max_ttl":172800,"token_max_ttl":7200,"token_no_default_policy":true,"token_num_uses":3,
				"token_period":1800,"token_policies":["db","web"],"token_ttl":3600,"token_type":"service"}`,
		},
		{
			name:     "legacy policies and period",
			settings: `{"policies":["b","a"],"period":60}`,
			want: `{"bind_secret_id":true,"local_secret_ids":false,"secret_id_bound_cidrs":[],"secret_id_num_uses":0,"secret_id_ttl":0,
				"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_num_uses":0,
				"token_period":60,"token_policies":["a","b"],"token_ttl":0,"token_type":"default","policies":["a","b"],"period":60}`,
		},
		{
			name:     "no secret id but bound to addresses",
			settings: `{"bind_secret_id":false,"secret_id_bound_cidrs":["127.0.0.1/32"]}`,
			want: `{"bind_secret_id":false,"local_secret_ids":false,"secret_id_bound_cidrs":["127.0.0.1/32"],"secret_id_num_uses":0,"secret_id_ttl":0,
				"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_num_uses":0,
				"token_period":0,"token_policies":[],"token_ttl":0,"token_type":"default"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t)
			h.mustDo(t, engines.UpdateOperation, "role/my-role", tc.settings)
			resp := h.mustDo(t, engines.ReadOperation, "role/my-role", "")
			jsonEqual(t, resp.Data, tc.want)
		})
	}
}

func TestRoleWriteRejects(t *testing.T) {
	cases := []struct{ settings, msg string }{
		{`{"token_ttl":"2h","token_max_ttl":"1h"}`, "'token_ttl' cannot be greater than 'token_max_ttl'"},
		{`{"token_ttl":-1}`, "'token_ttl' cannot be negative"},
		{`{"token_ttl":"forever"}`, `field "token_ttl"`},
		{`{"token_num_uses":-1}`, "'token_num_uses' cannot be negative"},
		{`{"token_type":"batch"}`, "only service tokens"},
		{`{"token_type":"weird"}`, "invalid 'token_type'"},
		{`{"token_bound_cidrs":"10.0.0.0/33"}`, "invalid token_bound_cidrs"},
		{`{"secret_id_bound_cidrs":["nope"]}`, "invalid secret_id_bound_cidrs"},
		{`{"secret_id_num_uses":-2}`, "secret_id_num_uses cannot be negative"},
		{`{"secret_id_ttl":"-5s"}`, "'secret_id_ttl' cannot be negative"},
		{`{"bind_secret_id":false}`, "at least one constraint"},
		{`{"bind_secret_id":"maybe"}`, `field "bind_secret_id"`},
		{`{"token_policies":{"a":1}}`, `field "token_policies"`},
	}
	for _, tc := range cases {
		t.Run(tc.settings, func(t *testing.T) {
			h := mustHarness(t)
			h.mustFail(t, engines.UpdateOperation, "role/r", tc.settings, engines.CodeInvalidRequest, tc.msg)
			if resp := h.mustDo(t, engines.ReadOperation, "role/r", ""); resp != nil {
				t.Fatalf("rejected write created the role: %+v", resp.Data)
			}
		})
	}
}

func TestRoleUpdateListDelete(t *testing.T) {
	h := mustHarness(t)
	id := h.mustRole(t, "a", `{"token_policies":"p1","token_ttl":60}`)
	h.mustRole(t, "b", `{}`)
	// An update changes only what it names.
	h.mustDo(t, engines.UpdateOperation, "role/a", `{"token_num_uses":2}`)
	resp := h.mustDo(t, engines.ReadOperation, "role/a", "")
	if resp.Data["token_ttl"] != int64(60) || resp.Data["token_num_uses"] != 2 || !slices.Equal(resp.Data["token_policies"].([]string), []string{"p1"}) {
		t.Fatalf("after update: %+v", resp.Data)
	}
	if again := h.mustRole(t, "a", `{}`); again != id {
		t.Fatalf("role_id changed on update: %s -> %s", id, again)
	}
	for _, p := range []string{"role", "role/"} {
		resp = h.mustDo(t, engines.ListOperation, p, "")
		if !slices.Equal(resp.Data["keys"].([]string), []string{"a", "b"}) {
			t.Fatalf("list %s: %+v", p, resp.Data)
		}
	}
	h.mustDo(t, engines.DeleteOperation, "role/a", "")
	h.mustDo(t, engines.DeleteOperation, "role/a", "") // idempotent
	if resp := h.mustDo(t, engines.ReadOperation, "role/a", ""); resp != nil {
		t.Fatalf("read after delete: %+v", resp.Data)
	}
	if resp := h.mustDo(t, engines.ReadOperation, "role/a/role-id", ""); resp != nil {
		t.Fatalf("role-id after delete: %+v", resp.Data)
	}
	if _, err := h.login(clientAddr, id, "x"); err == nil {
		t.Fatal("login with a deleted role's role_id succeeded")
	}
	h.mustDo(t, engines.DeleteOperation, "role/b", "")
	if resp := h.mustDo(t, engines.ListOperation, "role", ""); resp != nil {
		t.Fatalf("list of no roles: %+v", resp.Data)
	}
}

func TestRoleID(t *testing.T) {
	h := mustHarness(t)
	generated := h.mustRole(t, "web", `{}`)
	if len(generated) != 36 {
		t.Fatalf("generated role_id %q is not UUID-shaped", generated)
	}
	h.mustDo(t, engines.UpdateOperation, "role/web/role-id", `{"role_id":"my-custom-id"}`)
	if got := h.mustRole(t, "web", `{}`); got != "my-custom-id" {
		t.Fatalf("role_id after set: %q", got)
	}
	secret, _ := h.mustSecretID(t, "web", "")
	h.mustLogin(t, "my-custom-id", secret)
	if _, err := h.login(clientAddr, generated, secret); err == nil {
		t.Fatal("the replaced role_id still logs in")
	}
	// Another role cannot claim it, at creation or later.
	h.mustFail(t, engines.UpdateOperation, "role/other", `{"role_id":"my-custom-id"}`, engines.CodeInvalidRequest, "role_id already in use")
	h.mustRole(t, "other", `{}`)
	h.mustFail(t, engines.UpdateOperation, "role/other/role-id", `{"role_id":"my-custom-id"}`, engines.CodeInvalidRequest, "role_id already in use")
	h.mustFail(t, engines.UpdateOperation, "role/other/role-id", `{}`, engines.CodeInvalidRequest, "missing role_id")
	h.mustFail(t, engines.UpdateOperation, "role/ghost/role-id", `{"role_id":"x"}`, engines.CodeNotFound, "does not exist")
	// A role_id given at creation is used.
	if got := h.mustRole(t, "third", `{"role_id":"third-id"}`); got != "third-id" {
		t.Fatalf("role_id given at creation: %q", got)
	}
}

func TestRoleFieldEndpoints(t *testing.T) {
	h := mustHarness(t)
	h.mustRole(t, "r", `{"token_ttl":60,"policies":"a"}`)
	cases := []struct {
		sub, write, read, afterDelete string
	}{
		{"token-ttl", `{"token_ttl":"2m"}`, `{"token_ttl":120}`, `{"token_ttl":0}`},
		{"token-max-ttl", `{"token_max_ttl":600}`, `{"token_max_ttl":600}`, `{"token_max_ttl":0}`},
		{"token-num-uses", `{"token_num_uses":4}`, `{"token_num_uses":4}`, `{"token_num_uses":0}`},
		{"secret-id-num-uses", `{"secret_id_num_uses":4}`, `{"secret_id_num_uses":4}`, `{"secret_id_num_uses":0}`},
		{"secret-id-ttl", `{"secret_id_ttl":"1h"}`, `{"secret_id_ttl":3600}`, `{"secret_id_ttl":0}`},
		{"policies", `{"token_policies":["x","y"]}`, `{"token_policies":["x","y"]}`, `{"token_policies":[]}`},
		{"period", `{"token_period":30}`, `{"token_period":30}`, `{"token_period":0}`},
		{"bind-secret-id", `{"bind_secret_id":true}`, `{"bind_secret_id":true}`, `{"bind_secret_id":true}`},
		{"token-bound-cidrs", `{"token_bound_cidrs":"1.2.3.4"}`, `{"token_bound_cidrs":["1.2.3.4"]}`, `{"token_bound_cidrs":[]}`},
		{"secret-id-bound-cidrs", `{"secret_id_bound_cidrs":"1.2.3.0/24"}`, `{"secret_id_bound_cidrs":["1.2.3.0/24"]}`, `{"secret_id_bound_cidrs":[]}`},
	}
	for _, tc := range cases {
		t.Run(tc.sub, func(t *testing.T) {
			p := "role/r/" + tc.sub
			h.mustDo(t, engines.UpdateOperation, p, tc.write)
			jsonEqual(t, h.mustDo(t, engines.ReadOperation, p, "").Data, tc.read)
			h.mustDo(t, engines.DeleteOperation, p, "")
			jsonEqual(t, h.mustDo(t, engines.ReadOperation, p, "").Data, tc.afterDelete)
			h.mustFail(t, engines.UpdateOperation, p, `{}`, engines.CodeInvalidRequest, "missing")
		})
	}
	h.mustFail(t, engines.UpdateOperation, "role/nope/token-ttl", `{"token_ttl":1}`, engines.CodeNotFound, "does not exist")
	h.mustFail(t, engines.UpdateOperation, "role/r/local-secret-ids", `{"local_secret_ids":true}`, engines.CodeUnsupportedOperation, "")
	h.mustFail(t, engines.UpdateOperation, "role/r/bind-secret-id", `{"bind_secret_id":false}`, engines.CodeInvalidRequest, "at least one constraint")
}

func TestRouting(t *testing.T) {
	h := mustHarness(t)
	h.mustRole(t, "r", `{}`)
	cases := []struct {
		op   engines.Operation
		path string
		code engines.Code
	}{
		{engines.ReadOperation, "nothing", engines.CodeNotFound},
		{engines.ReadOperation, "role/r/unknown", engines.CodeNotFound},
		{engines.ReadOperation, "role/r/secret-id/unknown", engines.CodeNotFound},
		{engines.ReadOperation, "role/r/a/b/c", engines.CodeNotFound},
		{engines.ReadOperation, "role/bad name", engines.CodeNotFound},
		{engines.ReadOperation, "role/-x", engines.CodeNotFound},
		{engines.ReadOperation, "login", engines.CodeUnsupportedOperation},
		{engines.ReadOperation, "role", engines.CodeUnsupportedOperation},
		{engines.ListOperation, "role/r", engines.CodeUnsupportedOperation},
		{engines.DeleteOperation, "role/r/role-id", engines.CodeUnsupportedOperation},
		{engines.ReadOperation, "role/r/secret-id", engines.CodeUnsupportedOperation},
		{engines.ReadOperation, "role/r/secret-id/lookup", engines.CodeUnsupportedOperation},
		{engines.PatchOperation, "role/r", engines.CodeUnsupportedOperation},
		{engines.ReadOperation, "tidy/secret-id", engines.CodeUnsupportedOperation},
	}
	for _, tc := range cases {
		_, err := h.do(tc.op, tc.path, clientAddr, map[string]any{})
		if code, _ := engines.CodeOf(err); err == nil || code != tc.code {
			t.Errorf("%s %s: got %v, want code %d", tc.op, tc.path, err, tc.code)
		}
	}
	up, ok := h.backend.(engines.PathsUnauthenticated)
	if !ok || !slices.Equal(up.UnauthenticatedPaths(), []string{"login"}) {
		t.Fatalf("unauthenticated paths: %v", ok)
	}
}
