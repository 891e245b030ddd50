package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// cli runs the coffer CLI against n with the given token and stdin; it
// returns stdout, stderr and the exit code.
func cli(t testing.TB, n *Node, token, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return cliEnv(t, n, t.TempDir(), token, stdin, args...)
}

// cliEnv is cli with a given HOME, where the token helper file lives.
func cliEnv(t testing.TB, n *Node, home, token, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "VAULT_ADDR=http://" + n.Addr}
	if token != "" {
		env = append(env, "VAULT_TOKEN="+token)
	}
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run coffer %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

func mustCLI(t testing.TB, n *Node, token string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, n, token, "", args...)
	if code != 0 {
		t.Fatalf("coffer %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestCLILifecycle does what TestLifecycle does, through the CLI only.
func TestCLILifecycle(t *testing.T) {
	n := mustStartNode(t)

	if _, _, code := cli(t, n, "", "", "status"); code != 2 {
		t.Fatalf("status of an uninitialised node: exit %d, want 2", code)
	}
	var init struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
		Shares    int      `json:"unseal_shares"`
		Threshold int      `json:"unseal_threshold"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, n, "", "operator", "init", "-key-shares=5", "-key-threshold=3", "-format=json")), &init); err != nil {
		t.Fatalf("init -format=json output: %v", err)
	}
	if len(init.Keys) != 5 || init.RootToken == "" || init.Threshold != 3 {
		t.Fatalf("init: %d keys, threshold %d", len(init.Keys), init.Threshold)
	}
	if _, _, code := cli(t, n, "", "", "status"); code != 2 {
		t.Fatalf("status sealed: exit %d, want 2", code)
	}
	unseal := func(keys []string) {
		t.Helper()
		for i, k := range keys {
			var out string
			if i == 0 {
				// Without an argument the key is read from stdin.
				o, e, code := cli(t, n, "", k+"\n", "operator", "unseal")
				if code != 0 {
					t.Fatalf("unseal from stdin: exit %d: %s", code, e)
				}
				out = o
			} else {
				out = mustCLI(t, n, "", "operator", "unseal", k)
			}
			if !strings.Contains(out, "Unseal Progress") && i < len(keys)-1 {
				t.Fatalf("unseal output lacks progress:\n%s", out)
			}
		}
	}
	unseal(init.Keys[:3])
	if out := mustCLI(t, n, "", "status"); !strings.Contains(out, "Sealed") {
		t.Fatalf("status output:\n%s", out)
	}

	tok := init.RootToken
	mustCLI(t, n, tok, "secrets", "enable", "-path=secret", "kv-v2")
	if out := mustCLI(t, n, tok, "secrets", "list"); !strings.Contains(out, "secret/") {
		t.Fatalf("secrets list lacks secret/:\n%s", out)
	}
	mustCLI(t, n, tok, "kv", "put", "secret/app/db", "password=hunter2", "user=app")
	if got := mustCLI(t, n, tok, "kv", "get", "-field=password", "secret/app/db"); strings.TrimSpace(got) != "hunter2" {
		t.Fatalf("kv get -field: %q", got)
	}
	mustCLI(t, n, tok, "kv", "patch", "secret/app/db", "user=svc")
	if got := mustCLI(t, n, tok, "kv", "get", "-field=user", "secret/app/db"); strings.TrimSpace(got) != "svc" {
		t.Fatalf("after patch: %q", got)
	}
	if out := mustCLI(t, n, tok, "kv", "list", "secret/app"); !strings.Contains(out, "db") {
		t.Fatalf("kv list:\n%s", out)
	}
	// The generic commands, on a KV v1 mount.
	mustCLI(t, n, tok, "secrets", "enable", "-path=v1", "kv")
	mustCLI(t, n, tok, "write", "v1/team/svc", "api_key=abc123")
	if got := mustCLI(t, n, tok, "read", "-field=api_key", "v1/team/svc"); strings.TrimSpace(got) != "abc123" {
		t.Fatalf("read -field: %q", got)
	}
	if out := mustCLI(t, n, tok, "list", "v1/team"); !strings.Contains(out, "svc") {
		t.Fatalf("list:\n%s", out)
	}
	mustCLI(t, n, tok, "delete", "v1/team/svc")
	if _, _, code := cli(t, n, tok, "", "read", "v1/team/svc"); code != 2 {
		t.Fatalf("read after delete: exit %d, want 2", code)
	}
	mustCLI(t, n, tok, "secrets", "disable", "v1")

	mustCLI(t, n, tok, "kv", "delete", "secret/app/db")
	if _, _, code := cli(t, n, tok, "", "kv", "get", "secret/app/db"); code != 2 {
		t.Fatalf("kv get of a deleted secret: exit %d, want 2", code)
	}
	mustCLI(t, n, tok, "kv", "undelete", "-versions=2", "secret/app/db")
	if got := mustCLI(t, n, tok, "kv", "get", "-field=user", "secret/app/db"); strings.TrimSpace(got) != "svc" {
		t.Fatalf("after undelete: %q", got)
	}

	n.Restart()
	if _, _, code := cli(t, n, "", "", "status"); code != 2 {
		t.Fatalf("status after restart: exit %d, want 2 (sealed)", code)
	}
	unseal(init.Keys[2:5])
	if got := mustCLI(t, n, tok, "kv", "get", "-field=password", "secret/app/db"); strings.TrimSpace(got) != "hunter2" {
		t.Fatalf("after restart: %q", got)
	}
	mustCLI(t, n, tok, "operator", "seal")
	if _, _, code := cli(t, n, tok, "", "kv", "get", "secret/app/db"); code == 0 {
		t.Fatal("kv get succeeded on a sealed node")
	}
	if _, _, code := cli(t, n, "", "", "status"); code != 2 {
		t.Fatalf("status after seal: exit %d, want 2", code)
	}
}
