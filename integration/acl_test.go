package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

const appPolicy = `
path "secret/data/app/*" {
  capabilities = ["read", "list"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
path "secret/data/app/+/admin" {
  capabilities = ["deny"]
}
`

// TestLeastPrivilege checks a policy-bound token gets exactly what its
// policy grants, through the stock client against a real process.
func TestLeastPrivilege(t *testing.T) {
	n := mustStartDevNode(t, "root-acl")
	ctx := t.Context()
	root := n.Client("root-acl")
	kv := root.KVv2("secret")
	for _, p := range []string{"app/db", "app/team/admin", "app/team/config", "other/x"} {
		if _, err := kv.Put(ctx, p, map[string]any{"v": p}); err != nil {
			t.Fatalf("seed %s: %v", p, err)
		}
	}
	if err := root.Sys().PutPolicyWithContext(ctx, "app-read", appPolicy); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	got, err := root.Sys().GetPolicyWithContext(ctx, "app-read")
	if err != nil || !strings.Contains(got, "secret/data/app/*") {
		t.Fatalf("get policy: %q %v", got, err)
	}
	policies, err := root.Sys().ListPoliciesWithContext(ctx)
	if err != nil || !slices.Contains(policies, "app-read") || !slices.Contains(policies, "default") {
		t.Fatalf("list policies: %v %v", policies, err)
	}

	sec, err := root.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{Policies: []string{"app-read"}})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	tok := sec.Auth.ClientToken
	app := n.Client(tok)
	akv := app.KVv2("secret")

	if s, err := akv.Get(ctx, "app/db"); err != nil || s.Data["v"] != "app/db" {
		t.Fatalf("allowed read: %v %v", s, err)
	}
	if s, err := akv.Get(ctx, "app/team/config"); err != nil || s.Data["v"] != "app/team/config" {
		t.Fatalf("allowed nested read: %v %v", s, err)
	}
	if _, err := app.Logical().ListWithContext(ctx, "secret/metadata/app/"); err != nil {
		t.Fatalf("allowed list: %v", err)
	}
	denied := []struct {
		name string
		do   func() error
	}{
		{"write allowed path", func() error { _, err := akv.Put(ctx, "app/db", map[string]any{"v": "x"}); return err }},
		{"read outside policy", func() error { _, err := akv.Get(ctx, "other/x"); return err }},
		{"read denied + path", func() error { _, err := akv.Get(ctx, "app/team/admin"); return err }},
		{"list mounts", func() error { _, err := app.Sys().ListMountsWithContext(ctx); return err }},
		{"read unknown mount", func() error { _, err := app.Logical().ReadWithContext(ctx, "nosuch/thing"); return err }},
		{"create policy", func() error { return app.Sys().PutPolicyWithContext(ctx, "x", appPolicy) }},
		{"seal", func() error { return app.Sys().SealWithContext(ctx) }},
	}
	for _, d := range denied {
		if err := d.do(); statusOf(err) != http.StatusForbidden {
			t.Errorf("%s: want 403, got %v", d.name, err)
		}
	}
	// The 403 body says nothing more than "permission denied".
	code, body := rawRequest(t, "GET", "http://"+n.Addr+"/v1/secret/data/other/x", tok, "", "")
	if code != 403 || strings.TrimSpace(body) != `{"errors":["permission denied"]}` {
		t.Fatalf("403 body: %d %s", code, body)
	}
	for _, bad := range []string{"", "hvs.madeup", tok + "x"} {
		code, body := rawRequest(t, "GET", "http://"+n.Addr+"/v1/secret/data/app/db", bad, "", "")
		if code != 403 || strings.TrimSpace(body) != `{"errors":["permission denied"]}` {
			t.Fatalf("token %q: %d %s", bad, code, body)
		}
	}

	caps, err := app.Sys().CapabilitiesSelfWithContext(ctx, "secret/data/app/db")
	if err != nil || !slices.Equal(sorted(caps), []string{"list", "read"}) {
		t.Fatalf("capabilities-self on allowed path: %v %v", caps, err)
	}
	if caps, err := app.Sys().CapabilitiesSelfWithContext(ctx, "secret/data/app/team/admin"); err != nil || !slices.Equal(caps, []string{"deny"}) {
		t.Fatalf("capabilities-self on denied path: %v %v", caps, err)
	}
	if caps, err := root.Sys().CapabilitiesWithContext(ctx, tok, "secret/data/other/x"); err != nil || !slices.Equal(caps, []string{"deny"}) {
		t.Fatalf("capabilities for token outside policy: %v %v", caps, err)
	}

	// Lookup and revoke by accessor.
	look, err := root.Auth().Token().LookupAccessorWithContext(ctx, sec.Auth.Accessor)
	if err != nil {
		t.Fatalf("lookup accessor: %v", err)
	}
	if pol, _ := look.TokenPolicies(); !slices.Contains(pol, "app-read") {
		t.Fatalf("lookup accessor policies: %v", pol)
	}
	if err := root.Auth().Token().RevokeAccessorWithContext(ctx, sec.Auth.Accessor); err != nil {
		t.Fatalf("revoke accessor: %v", err)
	}
	if _, err := akv.Get(ctx, "app/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("revoked token: want 403, got %v", err)
	}

	// A 2-second token is refused after its TTL.
	short, err := root.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{Policies: []string{"app-read"}, TTL: "2s"})
	if err != nil {
		t.Fatalf("create short token: %v", err)
	}
	sc := n.Client(short.Auth.ClientToken)
	if _, err := sc.KVv2("secret").Get(ctx, "app/db"); err != nil {
		t.Fatalf("short token before expiry: %v", err)
	}
	time.Sleep(3 * time.Second) // the TTL itself is what is under test
	if _, err := sc.KVv2("secret").Get(ctx, "app/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("short token after 3s: want 403, got %v", err)
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

// TestTokenTree checks that revoking a parent revokes its descendants
// while an orphan survives.
func TestTokenTree(t *testing.T) {
	n := mustStartDevNode(t, "root-tree")
	ctx := t.Context()
	root := n.Client("root-tree")
	if err := root.Sys().PutPolicyWithContext(ctx, "creator", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	mk := func(c *vault.Client, orphan bool) string {
		t.Helper()
		req := &vault.TokenCreateRequest{Policies: []string{"creator"}}
		var s *vault.Secret
		var err error
		if orphan {
			s, err = root.Auth().Token().CreateOrphanWithContext(ctx, req)
		} else {
			s, err = c.Auth().Token().CreateWithContext(ctx, req)
		}
		if err != nil {
			t.Fatalf("create token: %v", err)
		}
		return s.Auth.ClientToken
	}
	parent := mk(root, false)
	child := mk(n.Client(parent), false)
	grandchild := mk(n.Client(child), false)
	orphan := mk(root, true)

	if err := root.Auth().Token().RevokeTreeWithContext(ctx, parent); err != nil {
		t.Fatalf("revoke parent: %v", err)
	}
	for name, tok := range map[string]string{"parent": parent, "child": child, "grandchild": grandchild} {
		if _, err := n.Client(tok).Auth().Token().LookupSelfWithContext(ctx); statusOf(err) != http.StatusForbidden {
			t.Errorf("%s after parent revoked: want 403, got %v", name, err)
		}
	}
	if _, err := n.Client(orphan).Auth().Token().LookupSelfWithContext(ctx); err != nil {
		t.Fatalf("orphan after parent revoked: %v", err)
	}
}

// TestNoPathTricks checks that a policy cannot be sidestepped by spelling
// a path differently, and that disabling an auth method ends its tokens.
func TestNoPathTricks(t *testing.T) {
	n := mustStartDevNode(t, "root-tricks")
	ctx := t.Context()
	root := n.Client("root-tricks")
	pol := `
path "auth/token/*"      { capabilities = ["create", "read", "update", "list"] }
path "auth/token/create" { capabilities = ["deny"] }
path "sys/policies/acl/*"     { capabilities = ["update", "read"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }
`
	if err := root.Sys().PutPolicyWithContext(ctx, "tricky", pol); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	sec, err := root.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{Policies: []string{"tricky"}})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	tok := sec.Auth.ClientToken
	base := "http://" + n.Addr + "/v1/"
	for _, p := range []string{"auth/token/create", "auth/token/create/", "auth/token//create", "auth/token/./create", "auth/token/x/../create"} {
		if code, body := rawRequest(t, "POST", base+p, tok, "", `{}`); code < 400 || code >= 500 {
			t.Errorf("POST %s with create denied: status %d %s", p, code, body)
		}
	}
	if code, _ := rawRequest(t, "LIST", base+"auth/token//accessors", tok, "", ""); code < 400 || code >= 500 {
		t.Errorf("LIST auth/token//accessors without sudo: status %d", code)
	}
	for _, name := range []string{"admin", "ADMIN", "Admin"} {
		code, _ := rawRequest(t, "PUT", base+"sys/policies/acl/"+name, tok, "", `{"policy":"path \"*\" { capabilities = [\"sudo\", \"read\"] }"}`)
		if code < 400 || code >= 500 {
			t.Errorf("PUT sys/policies/acl/%s with admin denied: status %d", name, code)
		}
	}
	if got, _ := root.Sys().GetPolicyWithContext(ctx, "admin"); got != "" {
		t.Fatalf("policy admin was written: %q", got)
	}

	// Disabling an auth method revokes the tokens it issued.
	if err := root.Sys().EnableAuthWithOptionsWithContext(ctx, "userpass", &vault.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatalf("enable userpass: %v", err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "auth/userpass/users/bob", map[string]any{"password": "pw"}); err != nil {
		t.Fatalf("create user: %v", err)
	}
	login, err := n.Client("").Logical().WriteWithContext(ctx, "auth/userpass/login/bob", map[string]any{"password": "pw"})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	bob := n.Client(login.Auth.ClientToken)
	if _, err := bob.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		t.Fatalf("login token before disable: %v", err)
	}
	if err := root.Sys().DisableAuthWithContext(ctx, "userpass"); err != nil {
		t.Fatalf("disable userpass: %v", err)
	}
	if _, err := bob.Auth().Token().LookupSelfWithContext(ctx); statusOf(err) != http.StatusForbidden {
		t.Fatalf("login token after its auth method was disabled: want 403, got %v", err)
	}
}
