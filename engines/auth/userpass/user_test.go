package userpass

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"coffer/engines"
)

func TestUserWriteRead(t *testing.T) {
	cases := []struct{ name, settings, want string }{
		{
			name:     "password only",
			settings: `{"password":"pw"}`,
			want: `{"token_bound_cidrs":[],"token_explicit_max_ttl":0,"token_max_ttl":0,"token_no_default_policy":false,"token_num_uses":0,
				"token_period":0,"token_policies":[],"token_ttl":0,"token_type":"default"}`,
		},
		{
			name: "token fields",
			settings: `{"password":"pw","token_policies":["Admin","dev"],"token_ttl":"1h","token_max_ttl":"2h","token_bound_cidrs":"127.0.0.1,10.0.0.0/8",
				"token_num_uses":5,"token_period":0,"token_no_default_policy":true}`,
			want: `{"token_bound_cidrs":["127.0.0.1","10.0.0.0/8"],"token_explicit_max_ttl":0,"token_max_ttl":7200,"token_no_default_policy":true,"token_num_uses":5,
				"token_period":0,"token_policies":["admin","dev"],"token_ttl":3600,"token_type":"default"}`,
		},
		{
			name:     "legacy fields",
			settings: `{"password":"pw","policies":"a,b","ttl":60,"max_ttl":"10m","bound_cidrs":["10.0.0.0/8"]}`,
			want: `{"token_bound_cidrs":["10.0.0.0/8"],"token_explicit_max_ttl":0,"token_max_ttl":600,"token_no_default_policy":false,"token_num_uses":0,
				"token_period":0,"token_policies":["a","b"],"token_ttl":60,"token_type":"default",
				"policies":["a","b"],"ttl":60,"max_ttl":600,"bound_cidrs":["10.0.0.0/8"]}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, cheapKDF)
			h.mustDo(t, engines.UpdateOperation, "users/alice", tc.settings)
			resp := h.mustDo(t, engines.ReadOperation, "users/alice", "")
			jsonEqual(t, resp.Data, tc.want)
		})
	}
}

func TestUserWriteRejects(t *testing.T) {
	cases := []struct{ settings, msg string }{
		{`{}`, "missing password"},
		{`{"password":""}`, "missing password"},
		{`{"password":"pw","token_ttl":"2h","token_max_ttl":"1h"}`, "cannot be greater"},
		{`{"password":"pw","ttl":"2h","max_ttl":"1h"}`, "cannot be greater"},
		{`{"password":"pw","token_bound_cidrs":"999.0.0.1"}`, "invalid token_bound_cidrs"},
		{`{"password":"pw","bound_cidrs":"x"}`, "invalid bound_cidrs"},
		{`{"password":"pw","token_type":"batch"}`, "only service tokens"},
		{`{"password":"pw","token_num_uses":"many"}`, `"token_num_uses"`},
		{`{"password":{"x":1}}`, `"password"`},
	}
	for _, tc := range cases {
		t.Run(tc.settings, func(t *testing.T) {
			h := mustHarness(t, cheapKDF)
			h.mustFail(t, engines.UpdateOperation, "users/bob", tc.settings, engines.CodeInvalidRequest, tc.msg)
			if resp := h.mustDo(t, engines.ReadOperation, "users/bob", ""); resp != nil {
				t.Fatalf("rejected write created the user: %+v", resp.Data)
			}
		})
	}
}

func TestUserUpdateListDelete(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"one","token_policies":"a","token_ttl":60}`)
	h.mustDo(t, engines.UpdateOperation, "users/bob", `{"password":"two"}`)
	// An update without a password keeps the password and other fields.
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"token_num_uses":3}`)
	resp := h.mustDo(t, engines.ReadOperation, "users/alice", "")
	if resp.Data["token_ttl"] != int64(60) || resp.Data["token_num_uses"] != 3 {
		t.Fatalf("after update: %+v", resp.Data)
	}
	h.mustLogin(t, "alice", "one")
	for _, p := range []string{"users", "users/"} {
		list := h.mustDo(t, engines.ListOperation, p, "")
		if !slices.Equal(list.Data["keys"].([]string), []string{"alice", "bob"}) {
			t.Fatalf("list %s: %+v", p, list.Data)
		}
	}
	h.mustDo(t, engines.DeleteOperation, "users/alice", "")
	if resp := h.mustDo(t, engines.ReadOperation, "users/alice", ""); resp != nil {
		t.Fatalf("read after delete: %+v", resp.Data)
	}
	if _, err := h.login(clientAddr, "alice", "one"); err == nil {
		t.Fatal("deleted user logged in")
	}
	h.mustDo(t, engines.DeleteOperation, "users/bob", "")
	if resp := h.mustDo(t, engines.ListOperation, "users", ""); resp != nil {
		t.Fatalf("list of no users: %+v", resp.Data)
	}
}

func TestPasswordChange(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"old-password"}`)
	h.mustLogin(t, "alice", "old-password")
	h.mustDo(t, engines.UpdateOperation, "users/alice/password", `{"password":"new-password"}`)
	if _, err := h.login(clientAddr, "alice", "old-password"); err == nil {
		t.Fatal("old password still works")
	}
	h.mustLogin(t, "alice", "new-password")
	// Through the user endpoint too.
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"third"}`)
	h.mustLogin(t, "alice", "third")
	h.mustFail(t, engines.UpdateOperation, "users/alice/password", `{}`, engines.CodeInvalidRequest, "missing password")
	h.mustFail(t, engines.UpdateOperation, "users/ghost/password", `{"password":"x"}`, engines.CodeInvalidRequest, "username does not exist")
}

func TestPoliciesEndpoint(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"pw","token_policies":"a","token_ttl":30}`)
	h.mustDo(t, engines.UpdateOperation, "users/alice/policies", `{"token_policies":"x, Y"}`)
	auth := h.mustLogin(t, "alice", "pw")
	if !slices.Equal(auth.Policies, []string{"x", "y"}) || auth.LeaseDuration.Seconds() != 30 {
		t.Fatalf("auth after policy change: %+v", auth)
	}
	h.mustDo(t, engines.UpdateOperation, "users/alice/policies", `{"policies":["legacy"]}`)
	resp := h.mustDo(t, engines.ReadOperation, "users/alice", "")
	jsonEqual(t, []any{resp.Data["token_policies"], resp.Data["policies"]}, `[["legacy"],["legacy"]]`)
	h.mustFail(t, engines.UpdateOperation, "users/alice/policies", `{}`, engines.CodeInvalidRequest, "must provide token_policies")
	h.mustFail(t, engines.UpdateOperation, "users/ghost/policies", `{"token_policies":"a"}`, engines.CodeInvalidRequest, "username does not exist")
}

func TestRouting(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"pw"}`)
	cases := []struct {
		op   engines.Operation
		path string
		code engines.Code
	}{
		{engines.ReadOperation, "nothing", engines.CodeNotFound},
		{engines.ReadOperation, "login", engines.CodeNotFound},
		{engines.ReadOperation, "users/alice/other", engines.CodeNotFound},
		{engines.ReadOperation, "users/a/b/c", engines.CodeNotFound},
		{engines.ReadOperation, "users/bad name", engines.CodeNotFound},
		{engines.ReadOperation, "login/alice", engines.CodeUnsupportedOperation},
		{engines.ReadOperation, "users", engines.CodeUnsupportedOperation},
		{engines.ListOperation, "users/alice", engines.CodeUnsupportedOperation},
		{engines.ReadOperation, "users/alice/password", engines.CodeUnsupportedOperation},
		{engines.DeleteOperation, "users/alice/policies", engines.CodeUnsupportedOperation},
		{engines.PatchOperation, "users/alice", engines.CodeUnsupportedOperation},
	}
	for _, tc := range cases {
		_, err := h.do(tc.op, tc.path, clientAddr, map[string]any{})
		if code, _ := engines.CodeOf(err); err == nil || code != tc.code {
			t.Errorf("%s %s: got %v, want code %d", tc.op, tc.path, err, tc.code)
		}
	}
	var b engines.Backend = h.backend
	up, ok := b.(engines.PathsUnauthenticated)
	if !ok || !slices.Equal(up.UnauthenticatedPaths(), []string{"login/*"}) {
		t.Fatal("unauthenticated paths")
	}
}

// TestStorageHoldsNoPassword scans every stored key and value for the
// passwords in the encodings a dump could reveal them in.
func TestStorageHoldsNoPassword(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	passwords := map[string]string{"alice": "Correct-Horse-Battery-Staple", "bob": "hunter2-but-longer"}
	for u, pw := range passwords {
		h.mustDo(t, engines.UpdateOperation, "users/"+u, `{"password":"first-`+pw+`"}`)
		h.mustDo(t, engines.UpdateOperation, "users/"+u+"/password", `{"password":"`+pw+`"}`)
		h.mustLogin(t, u, pw)
	}
	for _, pw := range passwords {
		raw := []byte(pw)
		forms := []string{pw, strings.ToLower(pw), hex.EncodeToString(raw),
			base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)}
		for k, v := range h.storage.Snapshot() {
			for _, form := range forms {
				if strings.Contains(k, form) || strings.Contains(string(v), form) {
					t.Fatalf("password stored at %s (as %q)", k, form)
				}
			}
			if !strings.Contains(string(v), "$argon2id$v=19$") {
				t.Fatalf("user entry %s has no argon2id hash: %s", k, v)
			}
		}
	}
}
