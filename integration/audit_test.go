package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

// mustTmpfs mounts a small tmpfs for one audit device, so a test can fill
// it; it is unmounted at the end of the test.
func mustTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount tmpfs (the audit tests need root to mount a small tmpfs): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func auditConfig(files ...string) string {
	var b strings.Builder
	for i, f := range files {
		fmt.Fprintf(&b, "audit \"file\" \"file%d\" {\n  options {\n    file_path = %q\n  }\n}\n", i+1, f)
	}
	return b.String()
}

// auditLines reads the JSON lines of an audit file (a torn last line after
// a full disk is skipped).
func auditLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open audit log: %v", err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func marker(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "MARKER" + hex.EncodeToString(b)
}

// fillDisk writes until the filesystem at dir is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			return
		}
	}
}

// TestAuditTrail checks what issue 6 promises of the trail itself: every
// request and response on the record, nothing secret in plaintext, the
// hash chain verifiable, and edits detected.
func TestAuditTrail(t *testing.T) {
	dirA, dirB := mustTmpfs(t, "4m"), mustTmpfs(t, "4m")
	logA, logB := filepath.Join(dirA, "audit.log"), filepath.Join(dirB, "audit.log")
	n := mustStartNodeWith(t, auditConfig(logA, logB))
	ctx := t.Context()
	keys, rootTok := mustInitUnseal(t, n)
	_ = keys
	root := n.Client(rootTok)
	if err := root.Sys().MountWithContext(ctx, "secret", &vault.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	canary := marker(t)
	if _, err := root.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": canary}); err != nil {
		t.Fatalf("put: %v", err)
	}
	if s, err := root.KVv2("secret").Get(ctx, "app/db"); err != nil || s.Data["password"] != canary {
		t.Fatalf("get: %v %v", s, err)
	}
	child, err := root.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	hashed, err := root.Sys().AuditHashWithContext(ctx, "file1", canary)
	if err != nil || !strings.HasPrefix(hashed, "hmac-sha256:") {
		t.Fatalf("audit-hash: %q %v", hashed, err)
	}
	devices, err := root.Sys().ListAuditWithContext(ctx)
	if err != nil || devices["file1/"] == nil || devices["file2/"] == nil {
		t.Fatalf("list audit: %v %v", devices, err)
	}

	for _, log := range []string{logA, logB} {
		raw, err := os.ReadFile(log)
		if err != nil {
			t.Fatalf("read %s: %v", log, err)
		}
		for _, secret := range []string{canary, rootTok, child.Auth.ClientToken, child.Auth.Accessor} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Fatalf("%s contains a secret in plaintext", log)
			}
		}
		var sawReq, sawResp bool
		for _, e := range auditLines(t, log) {
			req, _ := e["request"].(map[string]any)
			if req == nil || req["path"] != "secret/data/app/db" {
				continue
			}
			switch e["type"] {
			case "request":
				sawReq = req["operation"] == "update" || req["operation"] == "create" || req["operation"] == "read"
			case "response":
				sawResp = true
			}
		}
		if !sawReq || !sawResp {
			t.Fatalf("%s lacks the request or response entry of secret/data/app/db", log)
		}
	}
	rawA, _ := os.ReadFile(logA)
	if !bytes.Contains(rawA, []byte(hashed)) {
		t.Fatal("the audit-hash of the canary does not appear in the log")
	}

	// The chain verifies; an edited copy and a copy missing a line do not.
	if out, err := exec.Command(binary, "audit", "verify", logA).CombinedOutput(); err != nil {
		t.Fatalf("verify of the real log failed: %v\n%s", err, out)
	}
	lines := bytes.Split(bytes.TrimSuffix(rawA, []byte("\n")), []byte("\n"))
	if len(lines) < 6 {
		t.Fatalf("too few audit lines: %d", len(lines))
	}
	edited := append([][]byte{}, lines...)
	edited[3] = bytes.Replace(edited[3], []byte(`"operation":"`), []byte(`"operation":"x`), 1)
	deleted := append(append([][]byte{}, lines[:4]...), lines[5:]...)
	for name, variant := range map[string][][]byte{"edited": edited, "deleted": deleted} {
		p := filepath.Join(t.TempDir(), name+".log")
		if err := os.WriteFile(p, append(bytes.Join(variant, []byte("\n")), '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(binary, "audit", "verify", p).CombinedOutput()
		if err == nil {
			t.Fatalf("verify accepted the %s copy:\n%s", name, out)
		}
	}

	// Fill one device's disk: requests still succeed through the other.
	fillDisk(t, dirA)
	for i := 0; i < 5; i++ {
		if _, err := root.KVv2("secret").Get(ctx, "app/db"); err != nil {
			t.Fatalf("read with one audit device full: %v", err)
		}
	}
	// Fill both: reads fail, and each read that succeeded is on the record.
	fillDisk(t, dirB)
	var served []string
	failed := 0
	for i := 0; i < 20; i++ {
		s, err := root.Logical().ReadWithContext(ctx, "secret/data/app/db")
		if err != nil {
			failed++
			continue
		}
		served = append(served, s.RequestID)
	}
	if failed == 0 {
		t.Fatal("with every audit device full, reads still succeeded")
	}
	recorded := map[string]bool{}
	for _, log := range []string{logA, logB} {
		for _, e := range auditLines(t, log) {
			if req, _ := e["request"].(map[string]any); e["type"] == "response" && req != nil {
				if id, _ := req["id"].(string); id != "" {
					recorded[id] = true
				}
			}
		}
	}
	for _, id := range served {
		if !recorded[id] {
			t.Fatalf("read %s was answered but its response entry is in no audit log", id)
		}
	}
	if s, err := root.Logical().ReadWithContext(ctx, "secret/data/app/db"); err == nil {
		t.Fatalf("a read was answered with both devices full: %v", s)
	} else if strings.Contains(err.Error(), canary) {
		t.Fatal("the refusal carries the secret")
	}
	_ = http.StatusOK
}

// TestAuditCanaries places a marker in every kind of input and checks it
// never appears in plaintext in any audit line or in the server's log.
func TestAuditCanaries(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit.log")
	n := mustStartNodeWith(t, auditConfig(logPath))
	ctx := t.Context()
	_, rootTok := mustInitUnseal(t, n)
	root := n.Client(rootTok)
	if err := root.Sys().MountWithContext(ctx, "secret", &vault.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	m := marker(t)
	base := "http://" + n.Addr + "/v1/"
	send := func(method, path, body string, header map[string]string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("X-Vault-Token", rootTok)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
	}
	nested := fmt.Sprintf(`{"data":{"a":%q,"list":[%q,{"deep":%q}],"bin":%q}}`, m, m, m, hexBytes(m))
	send("PUT", "secret/data/canary", nested, map[string]string{"X-Custom": m})
	send("GET", "secret/data/canary?version=1&extra="+m, "", nil)
	send("PUT", "secret/data/canary", fmt.Sprintf(`{"options":{"cas":99},"data":{"v":%q}}`, m), nil) // CAS error path
	send("PUT", "secret/data/canary", `{"data":`+m, nil)                                             // malformed body
	send("POST", "secret/metadata/canary", fmt.Sprintf(`{"custom_metadata":{"k":%q}}`, m), nil)
	send("PUT", "sys/policies/acl/p", fmt.Sprintf(`{"policy":"path \"x\" { capabilities = [\"read\"] } # %s"}`, m), nil)
	send("POST", "auth/token/create", fmt.Sprintf(`{"meta":{"k":%q},"display_name":"d"}`, m), nil)
	n.Stop()

	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	if len(raw) == 0 {
		t.Fatal("empty audit log")
	}
	for _, where := range []struct{ name, text string }{{"audit log", string(raw)}, {"server log", n.Log()}} {
		for _, form := range []string{m, strings.ToLower(m), hexBytes(m)} {
			if strings.Contains(where.text, form) {
				t.Errorf("the marker appears in plaintext in the %s", where.name)
			}
		}
	}
}

func hexBytes(s string) string { return hex.EncodeToString([]byte(s)) }

// TestAuditNeverUnaudited checks that sealing is itself on the record and
// that a node told to audit stays sealed when no device can be enabled.
func TestAuditNeverUnaudited(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "audit.log")
	n := mustStartNodeWith(t, auditConfig(logPath))
	ctx := t.Context()
	_, rootTok := mustInitUnseal(t, n)
	if err := n.Client(rootTok).Sys().SealWithContext(ctx); err != nil {
		t.Fatalf("seal: %v", err)
	}
	var sawResponse bool
	for _, e := range auditLines(t, logPath) {
		if req, _ := e["request"].(map[string]any); e["type"] == "response" && req != nil && req["path"] == "sys/seal" {
			sawResponse = true
		}
	}
	if !sawResponse {
		t.Fatal("sys/seal has no response entry")
	}

	// The only device points into a directory that does not exist.
	bad := mustStartNodeWith(t, auditConfig(filepath.Join(t.TempDir(), "missing", "dir", "audit.log")))
	anon := bad.Client("")
	init, err := anon.Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, err := anon.Sys().UnsealWithContext(ctx, init.KeysB64[0]); err == nil {
		t.Fatal("unseal succeeded with no audit device that could be enabled")
	}
	st, err := anon.Sys().SealStatusWithContext(ctx)
	if err != nil || !st.Sealed {
		t.Fatalf("the node must stay sealed: %+v %v", st, err)
	}
}
