package integration

import (
	"net/http"
	"slices"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

// TestAppRoleLogin checks role-id + secret-id logins, single-use secret
// IDs and CIDR binding, through the stock client.
func TestAppRoleLogin(t *testing.T) {
	n := mustStartDevNode(t, "root-approle")
	ctx := t.Context()
	root := n.Client("root-approle")
	if err := root.Sys().PutPolicyWithContext(ctx, "app-read", appPolicy); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	if err := root.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("enable approle: %v", err)
	}
	auths, err := root.Sys().ListAuthWithContext(ctx)
	if err != nil || auths["approle/"] == nil || auths["token/"] == nil {
		t.Fatalf("list auth: %v %v", auths, err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "auth/approle/role/web", map[string]any{
		"token_policies": []string{"app-read"}, "token_ttl": "1h",
	}); err != nil {
		t.Fatalf("write role: %v", err)
	}
	rid, err := root.Logical().ReadWithContext(ctx, "auth/approle/role/web/role-id")
	if err != nil || rid == nil {
		t.Fatalf("read role-id: %v %v", rid, err)
	}
	roleID := rid.Data["role_id"].(string)
	secretID := func(body map[string]any) string {
		t.Helper()
		s, err := root.Logical().WriteWithContext(ctx, "auth/approle/role/web/secret-id", body)
		if err != nil || s == nil {
			t.Fatalf("generate secret-id: %v %v", s, err)
		}
		return s.Data["secret_id"].(string)
	}
	anon := n.Client("")
	login := func(sid string) (*vault.Secret, error) {
		return anon.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": sid})
	}

	sec, err := login(secretID(nil))
	if err != nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatalf("login: %v %v", sec, err)
	}
	if !slices.Contains(sec.Auth.Policies, "app-read") || sec.Auth.LeaseDuration != 3600 {
		t.Fatalf("login auth block: policies %v ttl %d", sec.Auth.Policies, sec.Auth.LeaseDuration)
	}
	app := n.Client(sec.Auth.ClientToken)
	if _, err := root.KVv2("secret").Put(ctx, "app/db", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if _, err := app.KVv2("secret").Get(ctx, "app/db"); err != nil {
		t.Fatalf("approle token reads its policy's path: %v", err)
	}
	if _, err := app.KVv2("secret").Put(ctx, "app/db", map[string]any{"v": "2"}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("approle token writing: want 403, got %v", err)
	}

	once := secretID(map[string]any{"num_uses": 1})
	if _, err := login(once); err != nil {
		t.Fatalf("first use of a single-use secret-id: %v", err)
	}
	if _, err := login(once); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("second use of a single-use secret-id: want 400, got %v", err)
	}
	if _, err := login("made-up-secret-id"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("made-up secret-id: want 400, got %v", err)
	}
	// The test client connects from 127.0.0.1; a secret-id bound elsewhere
	// must not log in.
	bound := secretID(map[string]any{"cidr_list": "10.1.2.0/24"})
	if _, err := login(bound); err == nil {
		t.Fatal("login from outside secret_id_bound_cidrs succeeded")
	}
	local := secretID(map[string]any{"cidr_list": "127.0.0.0/8"})
	if _, err := login(local); err != nil {
		t.Fatalf("login from inside the bound CIDR: %v", err)
	}
}

// TestUserpassLogin checks logins and that a wrong password and an unknown
// user are indistinguishable.
func TestUserpassLogin(t *testing.T) {
	n := mustStartDevNode(t, "root-userpass")
	ctx := t.Context()
	root := n.Client("root-userpass")
	if err := root.Sys().EnableAuthWithOptionsWithContext(ctx, "userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatalf("enable userpass: %v", err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "auth/userpass/users/alice", map[string]any{
		"password": "correct horse", "token_policies": "default",
	}); err != nil {
		t.Fatalf("create user: %v", err)
	}
	sec, err := n.Client("").Logical().WriteWithContext(ctx, "auth/userpass/login/alice", map[string]any{"password": "correct horse"})
	if err != nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatalf("login: %v %v", sec, err)
	}
	if self, err := n.Client(sec.Auth.ClientToken).Auth().Token().LookupSelfWithContext(ctx); err != nil || self.Data["display_name"] == nil {
		t.Fatalf("lookup-self of the login token: %v %v", self, err)
	}
	base := "http://" + n.Addr + "/v1/auth/userpass/login/"
	wrongCode, wrongBody := rawRequest(t, "POST", base+"alice", "", "", `{"password":"wrong"}`)
	unknownCode, unknownBody := rawRequest(t, "POST", base+"mallory", "", "", `{"password":"wrong"}`)
	if wrongCode != unknownCode || wrongBody != unknownBody || wrongCode < 400 || wrongCode >= 500 {
		t.Fatalf("wrong password (%d %s) and unknown user (%d %s) must answer the same 4xx", wrongCode, wrongBody, unknownCode, unknownBody)
	}
}
