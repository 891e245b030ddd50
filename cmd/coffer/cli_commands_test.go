package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestStatus(t *testing.T) {
	f := mustFakeServer(t)
	r := f.mustCLI(t, 0, "", "status")
	for _, s := range []string{
		"Key                     Value\n---                     -----\n",
		"Seal Type               shamir\n",
		"Sealed                  false\n",
		"Total Shares            3\n",
		"HA Enabled              true\n",
		"HA Mode                 active\n",
		"Active Since            2025-01-02T03:04:05Z\n",
		"Raft Committed Index    42\n",
		"Build Date              n/a\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("status lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Unseal Progress") {
		t.Fatalf("unsealed status shows unseal progress:\n%s", r.stdout)
	}

	f.mu.Lock()
	f.sealed = true
	f.mu.Unlock()
	r = f.mustCLI(t, 2, "", "status")
	if !strings.Contains(r.stdout, "Unseal Progress    0/2") || strings.Contains(r.stdout, "HA Mode") {
		t.Fatalf("sealed status:\n%s", r.stdout)
	}
	r = f.mustCLI(t, 2, "", "status", "-format=json")
	var st map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if st["sealed"] != true || st["t"] != float64(2) || st["ha_enabled"] != true {
		t.Fatalf("json status = %v", st)
	}

	// Nothing listening: an error is exit 1 (2 means sealed).
	var out, errb strings.Builder
	if code := run([]string{"status", "-address=http://127.0.0.1:1"}, strings.NewReader(""), &out, &errb); code != 1 {
		t.Fatalf("unreachable status exit %d", code)
	}
	if !strings.HasPrefix(errb.String(), "Error checking seal status: ") {
		t.Fatalf("stderr = %s", errb.String())
	}
	f.mustCLI(t, 1, "", "status", "-format=yaml")
	f.mustCLI(t, 1, "", "status", "extra")
}

func TestOperatorInit(t *testing.T) {
	f := mustFakeServer(t)
	r := f.mustCLI(t, 0, "", "operator", "init", "-key-shares=3", "-key-threshold=2")
	req := f.last(t)
	if req.Method != "PUT" || req.Path != "sys/init" || req.Body["secret_shares"] != json.Number("3") || req.Body["secret_threshold"] != json.Number("2") {
		t.Fatalf("init request = %+v", req)
	}
	for _, s := range []string{"Unseal Key 1: qg==\nUnseal Key 2: uw==\nUnseal Key 3: zA==\n\nInitial Root Token: s.root\n",
		"Coffer initialized with 3 key shares and a key threshold of 2."} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("init output lacks %q:\n%s", s, r.stdout)
		}
	}
	f.mustCLI(t, 0, "", "operator", "init")
	if b := f.last(t).Body; b["secret_shares"] != json.Number("5") || b["secret_threshold"] != json.Number("3") {
		t.Fatalf("default shares = %v", b)
	}
	r = f.mustCLI(t, 0, "", "operator", "init", "-format=json", "-n=3", "-t=2")
	var out initOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	want := initOutput{UnsealKeysB64: []string{"qg==", "uw==", "zA=="}, UnsealKeysHex: []string{"aa", "bb", "cc"},
		UnsealShares: 3, UnsealThreshold: 2, RecoveryKeysB64: []string{}, RecoveryKeysHex: []string{}, RootToken: "s.root"}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("json init = %+v", out)
	}
	r = f.mustCLI(t, 0, "", "operator", "init", "-status")
	if r.stdout != "Coffer is initialized\n" {
		t.Fatalf("init -status = %q", r.stdout)
	}
}

func TestOperatorUnsealAndSeal(t *testing.T) {
	f := mustFakeServer(t)
	r := f.mustCLI(t, 0, "", "operator", "seal")
	if r.stdout != "Success! Coffer is sealed.\n" {
		t.Fatalf("seal output = %q", r.stdout)
	}
	if req := f.last(t); req.Method != "PUT" || req.Path != "sys/seal" {
		t.Fatalf("seal request = %+v", req)
	}
	r = f.mustCLI(t, 0, "", "operator", "unseal", "key-one")
	if req := f.requests(false)[1]; req.Path != "sys/unseal" || req.Body["key"] != "key-one" {
		t.Fatalf("unseal request = %+v", req)
	}
	if !strings.Contains(r.stdout, "Sealed             true") || !strings.Contains(r.stdout, "Unseal Progress    1/2") {
		t.Fatalf("unseal output:\n%s", r.stdout)
	}
	// No argument and stdin not a terminal: one line from stdin.
	r = f.mustCLI(t, 0, "key-two\nignored\n", "operator", "unseal", "-format=json")
	var st map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st["sealed"] != false {
		t.Fatalf("unseal json = %s (%v)", r.stdout, err)
	}
	var sent string
	for _, req := range f.requests(false) {
		if req.Path == "sys/unseal" {
			sent, _ = req.Body["key"].(string)
		}
	}
	if sent != "key-two" {
		t.Fatalf("key read from stdin = %q", sent)
	}
	f.mustCLI(t, 1, "", "operator", "unseal")
	f.mustCLI(t, 0, "", "operator", "unseal", "-reset")
	if req := f.last(t); req.Path == "sys/unseal" && req.Body["reset"] != true {
		t.Fatalf("reset request = %+v", req)
	}
	f.mustCLI(t, 1, "", "operator", "unseal", "a", "b")
}

func TestReadWriteListDelete(t *testing.T) {
	f := mustFakeServer(t)
	file := mustWriteFile(t, "pw", "from-file")
	r := f.mustCLI(t, 0, "", "write", "kv1/app", "user=admin", "pw=@"+file)
	if r.stdout != "Success! Data written to: kv1/app\n" {
		t.Fatalf("write output = %q", r.stdout)
	}
	if req := f.last(t); req.Method != "PUT" || !reflect.DeepEqual(req.Body, map[string]any{"user": "admin", "pw": "from-file"}) {
		t.Fatalf("write request = %+v", req)
	}
	r = f.mustCLI(t, 0, "", "read", "kv1/app")
	want := "Key                 Value\n" +
		"---                 -----\n" +
		"refresh_interval    768h\n" +
		"pw                  from-file\n" +
		"user                admin\n"
	if r.stdout != want {
		t.Fatalf("read output:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = f.mustCLI(t, 0, "", "read", "-field=user", "kv1/app")
	if r.stdout != "admin" {
		t.Fatalf("read -field = %q", r.stdout)
	}
	r = f.mustCLI(t, 0, "", "read", "-format=json", "kv1/app")
	var s struct {
		Data          map[string]string `json:"data"`
		LeaseDuration int               `json:"lease_duration"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Data["pw"] != "from-file" || s.LeaseDuration != 2764800 {
		t.Fatalf("read json = %s (%v)", r.stdout, err)
	}
	r = f.mustCLI(t, 2, "", "read", "kv1/missing")
	if r.stderr != "No value found at kv1/missing\n" {
		t.Fatalf("missing read stderr = %q", r.stderr)
	}
	r = f.mustCLI(t, 2, "", "read", "forbidden/thing")
	if !strings.HasPrefix(r.stderr, "Error reading forbidden/thing: ") || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("forbidden stderr = %q", r.stderr)
	}
	r = f.mustCLI(t, 0, "", "list", "kv1")
	if req := f.last(t); req.Method != "LIST" || req.Path != "kv1" {
		t.Fatalf("list request = %+v", req)
	}
	if r.stdout != "Keys\n----\napp\n" {
		t.Fatalf("list output = %q", r.stdout)
	}
	r = f.mustCLI(t, 0, "", "delete", "/kv1/app/")
	if req := f.last(t); req.Method != "DELETE" || req.Path != "kv1/app" {
		t.Fatalf("delete request = %+v", req)
	}
	if r.stdout != "Success! Data deleted (if it existed) at: kv1/app\n" {
		t.Fatalf("delete output = %q", r.stdout)
	}
	f.mustCLI(t, 1, "", "write", "kv1/app")
	f.mustCLI(t, 0, "", "write", "-force", "kv1/app")
	f.mustCLI(t, 1, "", "read")
	f.mustCLI(t, 2, "", "list", "nothing")
}

func TestSecrets(t *testing.T) {
	f := mustFakeServer(t)
	r := f.mustCLI(t, 0, "", "secrets", "enable", "-path=team", "-description=Team secrets", "kv-v2")
	if r.stdout != "Success! Enabled the kv-v2 secrets engine at: team/\n" {
		t.Fatalf("enable output = %q", r.stdout)
	}
	req := f.last(t)
	if req.Method != "POST" || req.Path != "sys/mounts/team" || req.Body["type"] != "kv" ||
		!reflect.DeepEqual(req.Body["options"], map[string]any{"version": "2"}) || req.Body["description"] != "Team secrets" {
		t.Fatalf("enable request = %+v", req)
	}
	f.mustCLI(t, 0, "", "secrets", "enable", "-version=1", "kv")
	if req := f.last(t); req.Path != "sys/mounts/kv" || !reflect.DeepEqual(req.Body["options"], map[string]any{"version": "1"}) {
		t.Fatalf("enable kv request = %+v", req)
	}

	r = f.mustCLI(t, 0, "", "secrets", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if lines[0] != "Path       Type      Accessor       Description" || lines[1] != "----       ----      --------       -----------" {
		t.Fatalf("list header:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "kv1/       kv        kv_5678        n/a\n") {
		t.Fatalf("list rows:\n%s", r.stdout)
	}
	r = f.mustCLI(t, 0, "", "secrets", "list", "-detailed")
	if !strings.Contains(r.stdout, "Default TTL") || !strings.Contains(r.stdout, "map[version:2]") {
		t.Fatalf("detailed list:\n%s", r.stdout)
	}
	r = f.mustCLI(t, 0, "", "secrets", "list", "-format=json")
	var mounts map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &mounts); err != nil || mounts["secret/"]["type"] != "kv" {
		t.Fatalf("json list = %s (%v)", r.stdout, err)
	}

	r = f.mustCLI(t, 0, "", "secrets", "disable", "team")
	if req := f.last(t); req.Method != "DELETE" || req.Path != "sys/mounts/team" {
		t.Fatalf("disable request = %+v", req)
	}
	if r.stdout != "Success! Disabled the secrets engine (if it existed) at: team/\n" {
		t.Fatalf("disable output = %q", r.stdout)
	}
	f.mustCLI(t, 1, "", "secrets", "enable")
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string // substring
		stderr     string // substring
		noRequests bool
	}{
		{args: []string{"help"}, code: 0, stdout: "Common commands:"},
		{args: []string{"-h"}, code: 0, stdout: "Other commands:"},
		{args: []string{}, code: 1, stderr: "Usage: coffer <command>"},
		{args: []string{"nope"}, code: 1, stderr: "Unknown command: nope"},
		{args: []string{"kv"}, code: 1, stderr: "Usage: coffer kv <subcommand>"},
		{args: []string{"kv", "frob"}, code: 1, stderr: "Unknown command: kv frob"},
		{args: []string{"kv", "metadata", "-h"}, code: 0, stdout: "delete"},
		{args: []string{"help", "kv", "put"}, code: 0, stderr: "Usage: coffer kv put"},
		{args: []string{"read", "-h"}, code: 0, stderr: "-field"},
		{args: []string{"read", "-bogus", "x"}, code: 1, stderr: "flag provided but not defined: -bogus"},
		{args: []string{"version"}, code: 0, stdout: "Coffer v"},
		{args: []string{"-version"}, code: 0, stdout: "Coffer v"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			var out, errb strings.Builder
			code := run(tt.args, strings.NewReader(""), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
		})
	}
}
