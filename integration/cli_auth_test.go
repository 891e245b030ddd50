package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLILoginAndPolicy drives policies, userpass login and tokens through
// the CLI, with the token helper file carrying the login between commands.
func TestCLILoginAndPolicy(t *testing.T) {
	n := mustStartDevNode(t, "root-cli-auth")
	home := t.TempDir()
	run := func(token, stdin string, args ...string) (string, string, int) {
		t.Helper()
		return cliEnv(t, n, home, token, stdin, args...)
	}
	must := func(token string, args ...string) string {
		t.Helper()
		out, errOut, code := run(token, "", args...)
		if code != 0 {
			t.Fatalf("coffer %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	root := "root-cli-auth"
	policyFile := filepath.Join(home, "app.hcl")
	if err := os.WriteFile(policyFile, []byte(`path "secret/data/app/*" { capabilities = ["read"] }`), 0o600); err != nil {
		t.Fatal(err)
	}
	must(root, "kv", "put", "secret/app/db", "password=hunter2")
	must(root, "policy", "write", "app-read", policyFile)
	if out := must(root, "policy", "list"); !strings.Contains(out, "app-read") {
		t.Fatalf("policy list:\n%s", out)
	}
	if out := must(root, "policy", "read", "app-read"); !strings.Contains(out, "secret/data/app/*") {
		t.Fatalf("policy read:\n%s", out)
	}
	must(root, "auth", "enable", "userpass")
	if out := must(root, "auth", "list"); !strings.Contains(out, "userpass/") {
		t.Fatalf("auth list:\n%s", out)
	}
	must(root, "write", "auth/userpass/users/alice", "password=s3cret", "token_policies=app-read")

	must("", "login", "-method=userpass", "username=alice", "password=s3cret")
	info, err := os.Stat(filepath.Join(home, ".vault-token"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token helper file: %v %v", info, err)
	}
	// No VAULT_TOKEN from here on: the stored login token is used.
	if got := must("", "kv", "get", "-field=password", "secret/app/db"); strings.TrimSpace(got) != "hunter2" {
		t.Fatalf("read with the login token: %q", got)
	}
	if _, errOut, code := run("", "", "kv", "put", "secret/app/db", "password=x"); code != 2 || !strings.Contains(errOut, "permission denied") {
		t.Fatalf("write with a read-only token: exit %d: %s", code, errOut)
	}
	if out := must("", "token", "capabilities", "secret/data/app/db"); strings.TrimSpace(out) != "read" {
		t.Fatalf("token capabilities: %q", out)
	}
	if out := must("", "token", "lookup"); !strings.Contains(out, "app-read") {
		t.Fatalf("token lookup:\n%s", out)
	}
	child := strings.TrimSpace(must(root, "token", "create", "-policy=app-read", "-ttl=1h", "-field=token"))
	if child == "" {
		t.Fatal("token create -field=token printed nothing")
	}
	must(root, "token", "revoke", child)
	if _, _, code := run(child, "", "kv", "get", "secret/app/db"); code == 0 {
		t.Fatal("a revoked token still reads")
	}
	must("", "token", "revoke", "-self")
	if _, _, code := run("", "", "kv", "get", "secret/app/db"); code == 0 {
		t.Fatal("the revoked login token still reads")
	}
}
