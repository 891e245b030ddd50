package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/audit"
	"coffer/engines"
)

// mustAuditLog writes a small audit log through a real file device and
// returns its path.
func mustAuditLog(t *testing.T, opts map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	o := map[string]string{"file_path": path}
	for k, v := range opts {
		o[k] = v
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	b := audit.NewBroker(nil)
	if err := b.Enable(context.Background(), audit.DeviceConfig{Type: "file", Name: "file", Options: o}, salt); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		in := &audit.Input{Request: &engines.Request{Operation: engines.ReadOperation, Path: "secret/data/app"}, FullPath: "secret/data/app"}
		if err := b.LogRequest(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	good := mustAuditLog(t, nil)
	signed := mustAuditLog(t, map[string]string{"checkpoint_key_file": keyFile, "checkpoint_interval": "2"})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	edited := filepath.Join(dir, "edited.log")
	os.WriteFile(edited, []byte(lines[0]+strings.Replace(lines[1], "read", "list", 1)+strings.Join(lines[2:], "")), 0o600)
	deleted := filepath.Join(dir, "deleted.log")
	os.WriteFile(deleted, []byte(lines[0]+strings.Join(lines[2:], "")), 0o600)

	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderrIn string
	}{
		{"good", []string{good}, 0, "OK: 4 lines in 1 segments", ""},
		{"edited", []string{edited}, 2, "FAIL: " + edited + ":3: prev_hash", ""},
		{"deleted", []string{deleted}, 2, "FAIL: " + deleted + ":2: seq 2, expected 1", ""},
		{"signed with key", []string{"-key=" + keyFile, signed}, 0, "OK: 6 lines in 1 segments\nCheckpoints: 2 verified", ""},
		{"unsigned with key", []string{"-key=" + keyFile, good}, 2, "FAIL: " + good + ":1: genesis is not signed", ""},
		{"missing file", []string{filepath.Join(dir, "nope")}, 1, "", "Error:"},
		{"bad key file", []string{"-key=" + good, good}, 1, "", "checkpoint key"},
		{"no files", nil, 1, "", "Not enough arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runAuditVerify(tc.args, strings.NewReader(""), &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out.String(), errOut.String())
			}
			if !strings.HasPrefix(out.String(), tc.stdout) {
				t.Fatalf("stdout %q, want prefix %q", out.String(), tc.stdout)
			}
			if !strings.Contains(errOut.String(), tc.stderrIn) {
				t.Fatalf("stderr %q, want %q", errOut.String(), tc.stderrIn)
			}
		})
	}
}
