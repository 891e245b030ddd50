package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

const appPolicy = `path "secret/data/app/*" {
  capabilities = ["read", "list"]
}
`

func TestPolicyWriteReadListDelete(t *testing.T) {
	a := mustAuthFake(t)
	file := mustWriteFile(t, "app.hcl", appPolicy)
	r := a.mustCLI(t, 0, "", "policy", "write", "App", file)
	if r.stdout != "Success! Uploaded policy: app\n" {
		t.Fatalf("write output = %q", r.stdout)
	}
	if req := a.last(t); req.Method != "PUT" || req.Path != "sys/policies/acl/app" || !reflect.DeepEqual(req.Body, map[string]any{"policy": appPolicy}) {
		t.Fatalf("write request = %+v", req)
	}
	a.mustCLI(t, 0, `path "kv1/*" { capabilities = ["read"] }`, "policy", "write", "ops", "-")
	if req := a.last(t); req.Path != "sys/policies/acl/ops" || req.Body["policy"] != `path "kv1/*" { capabilities = ["read"] }` {
		t.Fatalf("write from stdin request = %+v", req)
	}

	r = a.mustCLI(t, 0, "", "policy", "read", "app")
	if req := a.last(t); req.Method != "GET" || req.Path != "sys/policies/acl/app" {
		t.Fatalf("read request = %+v", req)
	}
	if r.stdout != appPolicy {
		t.Fatalf("read output = %q", r.stdout)
	}
	r = a.mustCLI(t, 0, "", "policy", "read", "-format=json", "app")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["policy"] != appPolicy {
		t.Fatalf("json read = %s (%v)", r.stdout, err)
	}

	r = a.mustCLI(t, 0, "", "policy", "list")
	if req := a.last(t); req.Method != "LIST" || req.Path != "sys/policies/acl" {
		t.Fatalf("list request = %+v", req)
	}
	if r.stdout != "app\ndefault\nops\nroot\n" {
		t.Fatalf("list output = %q", r.stdout)
	}
	r = a.mustCLI(t, 0, "", "policy", "list", "-format=json")
	var names []string
	if err := json.Unmarshal([]byte(r.stdout), &names); err != nil || len(names) != 4 {
		t.Fatalf("json list = %s (%v)", r.stdout, err)
	}

	r = a.mustCLI(t, 0, "", "policy", "delete", "app")
	if req := a.last(t); req.Method != "DELETE" || req.Path != "sys/policies/acl/app" {
		t.Fatalf("delete request = %+v", req)
	}
	if r.stdout != "Success! Deleted policy: app\n" {
		t.Fatalf("delete output = %q", r.stdout)
	}
	r = a.mustCLI(t, 2, "", "policy", "read", "app")
	if r.stderr != "No policy named: app\n" {
		t.Fatalf("missing read stderr = %q", r.stderr)
	}
	r = a.mustCLI(t, 2, "", "policy", "delete", "root")
	if !strings.HasPrefix(r.stderr, "Error deleting root: ") {
		t.Fatalf("delete root stderr = %q", r.stderr)
	}

	n := len(a.requests(false))
	a.mustCLI(t, 1, "", "policy", "write", "x", "/nonexistent/policy.hcl")
	a.mustCLI(t, 1, "", "policy", "write", "x")
	a.mustCLI(t, 1, "", "policy", "read")
	a.mustCLI(t, 1, "", "policy", "list", "extra")
	if len(a.requests(false)) != n {
		t.Fatal("a local error sent a request")
	}
}

const messyPolicy = `# Application policy
path "secret/data/app/*"    {
capabilities=["read","list"]
  }
path   "secret/data/app/+/admin" { capabilities = ["deny"]
min_wrapping_ttl = "1s"
    max_wrapping_ttl = 90
}`

const tidyPolicy = `# Application policy
path "secret/data/app/*" {
  capabilities = ["read", "list"]
}

path "secret/data/app/+/admin" {
  capabilities     = ["deny"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 90
}
`

func TestPolicyFmt(t *testing.T) {
	f := mustFakeServer(t)
	p := mustWriteFile(t, "app.hcl", messyPolicy)
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	r := f.mustCLI(t, 0, "", "policy", "fmt", p)
	if r.stdout != "Success! Formatted policy: "+p+"\n" {
		t.Fatalf("fmt output = %q", r.stdout)
	}
	mustFileContent(t, p, tidyPolicy)
	f.mustCLI(t, 0, "", "policy", "fmt", p) // idempotent
	mustFileContent(t, p, tidyPolicy)
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode after fmt = %v (%v), want 0640 kept", fi.Mode().Perm(), err)
	}
	if len(f.requests(true)) != 0 {
		t.Fatal("policy fmt talked to the server")
	}
}

func TestPolicyFmtRejects(t *testing.T) {
	tests := []struct {
		name, src, stderr string
	}{
		{name: "syntax", src: "path \"a\" {\n  capabilities = [\"read\"\n}\n", stderr: "failed to parse policy: "},
		{name: "unknown top-level key", src: "pth \"a\" {\n  capabilities = [\"read\"]\n}\n", stderr: `failed to parse policy: invalid key "pth" on line 1`},
		{name: "unknown path key", src: "path \"a\" {\n  capabilities = [\"read\"]\n  colour = \"red\"\n}\n", stderr: `path "a": invalid key "colour" on line 3`},
		{name: "unknown capability", src: "path \"a\" {\n  capabilities = [\"reed\"]\n}\n", stderr: `path "a": invalid capability "reed"`},
		{name: "bad legacy policy", src: "path \"a\" {\n  policy = \"all\"\n}\n", stderr: `path "a": invalid policy "all"`},
		{name: "bad wrapping ttl", src: "path \"a\" {\n  min_wrapping_ttl = \"soon\"\n}\n", stderr: `path "a": error parsing min_wrapping_ttl: `},
		{name: "wrapping ttls reversed", src: "path \"a\" {\n  min_wrapping_ttl = \"1h\"\n  max_wrapping_ttl = \"1m\"\n}\n", stderr: `path "a": max_wrapping_ttl cannot be less than min_wrapping_ttl`},
		{name: "path without a name", src: "path {\n  capabilities = [\"read\"]\n}\n", stderr: "path block without a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFakeServer(t)
			p := mustWriteFile(t, "bad.hcl", tt.src)
			r := f.mustCLI(t, 1, "", "policy", "fmt", p)
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("stderr = %q, want %q", r.stderr, tt.stderr)
			}
			mustFileContent(t, p, tt.src)
		})
	}
	f := mustFakeServer(t)
	f.mustCLI(t, 1, "", "policy", "fmt", "/nonexistent/policy.hcl")
	f.mustCLI(t, 1, "", "policy", "fmt")
}

// mustFileContent fails unless the file at p holds want.
func mustFileContent(tb testing.TB, p, want string) {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	if string(b) != want {
		tb.Fatalf("%s:\n%s\nwant:\n%s", p, b, want)
	}
}

func FuzzFormatPolicy(f *testing.F) {
	f.Add([]byte(messyPolicy))
	f.Add([]byte(tidyPolicy))
	f.Add([]byte(`name = "x"` + "\n" + `path "a/+/b" { capabilities = ["sudo"] allowed_parameters = { "k" = ["v"] } }`))
	f.Add([]byte("path \"a\" {\n  capabilities = [\"read\"\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := formatPolicy(src)
		if err != nil {
			return
		}
		if _, err := formatPolicy(out); err != nil {
			t.Fatalf("formatted policy does not check:\n%s\nerror: %v", out, err)
		}
	})
}
