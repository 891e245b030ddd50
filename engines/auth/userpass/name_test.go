package userpass

import (
	"context"
	"testing"

	"coffer/engines"
)

// TestNameNotLowerCase checks that every path naming a user, except login,
// refuses a name that is not lower case instead of folding it onto the
// lower-case user a policy may guard.
func TestNameNotLowerCase(t *testing.T) {
	cases := []struct {
		op       engines.Operation
		path     string
		settings string
		msg      string
	}{
		{engines.UpdateOperation, "users/ADMIN", `{"password":"evil"}`, `use "admin"`},
		{engines.CreateOperation, "users/Admin", `{"password":"evil"}`, `use "admin"`},
		{engines.UpdateOperation, "users/aDmin", `{"token_policies":"root"}`, `use "admin"`},
		{engines.ReadOperation, "users/ADMIN", ``, `use "admin"`},
		{engines.DeleteOperation, "users/Admin", ``, `use "admin"`},
		{engines.UpdateOperation, "users/ADMIN/password", `{"password":"evil"}`, `use "admin"`},
		{engines.UpdateOperation, "users/ADMIN/policies", `{"token_policies":"root"}`, `use "admin"`},
		{engines.UpdateOperation, "users/New-User", `{"password":"x"}`, `use "new-user"`},
		// U+212A KELVIN SIGN lower-cases to an ASCII k.
		{engines.UpdateOperation, "users/\u212Aate", `{"password":"x"}`, `use "kate"`},
	}
	for _, tc := range cases {
		t.Run(string(tc.op)+" "+tc.path, func(t *testing.T) {
			h := mustHarness(t, cheapKDF)
			h.mustDo(t, engines.UpdateOperation, "users/admin", `{"password":"admin-pw","token_policies":"admin"}`)
			before := h.storage.Keys()
			raw, _ := h.storage.Get(context.Background(), userPrefix+"admin")
			h.mustFail(t, tc.op, tc.path, tc.settings, engines.CodeInvalidRequest, "user names are lower case; "+tc.msg)
			after := h.storage.Keys()
			again, _ := h.storage.Get(context.Background(), userPrefix+"admin")
			if len(before) != len(after) || string(raw) != string(again) {
				t.Fatalf("refused request changed storage: keys %v -> %v", before, after)
			}
			h.mustLogin(t, "admin", "admin-pw")
		})
	}
}

// TestLoginFoldsCase checks that login, which grants nothing a policy
// could deny, still accepts any case as Vault does.
func TestLoginFoldsCase(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"pw"}`)
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		auth := h.mustLogin(t, name, "pw")
		if auth.Metadata["username"] != "alice" || auth.DisplayName != "userpass-alice" {
			t.Fatalf("login as %s: %+v", name, auth)
		}
	}
}
