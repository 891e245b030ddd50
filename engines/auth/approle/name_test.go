package approle_test

import (
	"maps"
	"testing"

	"coffer/engines"
)

// snapshot is every stored key and value.
func (h *harness) snapshot(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for k, v := range h.storage.Snapshot() {
		out[k] = string(v)
	}
	return out
}

// TestRoleNameNotLowerCase checks that every path naming a role refuses a
// name that is not lower case instead of folding it onto the lower-case
// role a policy may guard.
func TestRoleNameNotLowerCase(t *testing.T) {
	cases := []struct {
		op       engines.Operation
		path     string
		settings string
		want     string
	}{
		{engines.UpdateOperation, "role/ADMIN", `{"token_policies":"root"}`, "admin"},
		{engines.CreateOperation, "role/Admin", `{}`, "admin"},
		{engines.ReadOperation, "role/ADMIN", ``, "admin"},
		{engines.DeleteOperation, "role/Admin", ``, "admin"},
		{engines.ReadOperation, "role/ADMIN/role-id", ``, "admin"},
		{engines.UpdateOperation, "role/ADMIN/role-id", `{"role_id":"mine"}`, "admin"},
		{engines.UpdateOperation, "role/ADMIN/policies", `{"token_policies":"root"}`, "admin"},
		{engines.DeleteOperation, "role/ADMIN/token-bound-cidrs", ``, "admin"},
		{engines.ReadOperation, "role/ADMIN/token-ttl", ``, "admin"},
		{engines.UpdateOperation, "role/ADMIN/secret-id", `{}`, "admin"},
		{engines.ListOperation, "role/ADMIN/secret-id/", ``, "admin"},
		{engines.UpdateOperation, "role/ADMIN/custom-secret-id", `{"secret_id":"chosen-by-attacker"}`, "admin"},
		{engines.UpdateOperation, "role/ADMIN/secret-id/lookup", `{"secret_id":"x"}`, "admin"},
		{engines.UpdateOperation, "role/ADMIN/secret-id/destroy", `{"secret_id":"x"}`, "admin"},
		{engines.UpdateOperation, "role/ADMIN/secret-id-accessor/lookup", `{"secret_id_accessor":"x"}`, "admin"},
		{engines.DeleteOperation, "role/ADMIN/secret-id-accessor/destroy", `{"secret_id_accessor":"x"}`, "admin"},
		{engines.UpdateOperation, "role/New-Role", `{}`, "new-role"},
		// U+212A KELVIN SIGN lower-cases to an ASCII k.
		{engines.UpdateOperation, "role/\u212Aey", `{}`, "key"},
	}
	for _, tc := range cases {
		t.Run(string(tc.op)+" "+tc.path, func(t *testing.T) {
			h := mustHarness(t)
			roleID := h.mustRole(t, "admin", `{"token_policies":"admin"}`)
			secretID, _ := h.mustSecretID(t, "admin", "")
			before := h.snapshot(t)
			h.mustFail(t, tc.op, tc.path, tc.settings, engines.CodeInvalidRequest, `role names are lower case; use "`+tc.want+`"`)
			if after := h.snapshot(t); !maps.Equal(before, after) {
				t.Fatalf("refused request changed storage:\n%v\n%v", before, after)
			}
			h.mustLogin(t, roleID, secretID)
		})
	}
}
