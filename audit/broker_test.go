package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/engines"
)

func TestNoDeviceLetsRequestsThrough(t *testing.T) {
	b := mustBroker(t)
	if b.Enabled() {
		t.Fatal("enabled with no device")
	}
	if err := b.LogRequest(context.Background(), testInput()); err != nil {
		t.Fatal(err)
	}
	if err := b.LogResponse(context.Background(), testInput()); err != nil {
		t.Fatal(err)
	}
}

func TestFailClosed(t *testing.T) {
	tests := []struct {
		name    string
		failing []bool // one injected device each
		wantErr bool
	}{
		{"one device, healthy", []bool{false}, false},
		{"one device, failing", []bool{true}, true},
		{"two devices, one failing", []bool{true, false}, false},
		{"two devices, other failing", []bool{false, true}, false},
		{"two devices, both failing", []bool{true, true}, true},
		{"three devices, two failing", []bool{true, false, true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustBroker(t)
			ws := make([]*faultWriter, len(tc.failing))
			for i, f := range tc.failing {
				ws[i] = &faultWriter{}
				if err := enableWriter(t, b, fmt.Sprintf("dev%d", i), ws[i], nil); err != nil {
					t.Fatal(err)
				}
				ws[i].setFailing(f)
			}
			for _, log := range []func(context.Context, *Input) error{b.LogRequest, b.LogResponse} {
				err := log(context.Background(), testInput())
				if tc.wantErr != (err != nil) {
					t.Fatalf("got %v, want error %v", err, tc.wantErr)
				}
				if err != nil && !errors.Is(err, ErrAuditFailed) {
					t.Fatalf("got %v, want ErrAuditFailed", err)
				}
			}
			for i, w := range ws {
				n := strings.Count(w.String(), "\n")
				if want := map[bool]int{false: 3, true: 1}[tc.failing[i]]; n != want {
					t.Fatalf("device %d: %d lines, want %d", i, n, want)
				}
			}
		})
	}
}

func TestFailedDeviceRecoversWithNewSegment(t *testing.T) {
	b := mustBroker(t)
	w := &faultWriter{}
	if err := enableWriter(t, b, "dev", w, nil); err != nil {
		t.Fatal(err)
	}
	mustLog(t, b, 1)
	w.setFailing(true)
	if err := b.LogRequest(context.Background(), testInput()); !errors.Is(err, ErrAuditFailed) {
		t.Fatalf("got %v", err)
	}
	w.setFailing(false) // the disk has room again
	mustLog(t, b, 1)
	p := tempPath(t, "mem.log")
	if err := os.WriteFile(p, []byte(w.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	st := mustVerify(t, nil, p)
	if st.Segments != 2 || st.Lines != 6 {
		t.Fatalf("stats %+v, want 6 lines in 2 segments", st)
	}
}

func TestEnableRefusesDeviceThatCannotWrite(t *testing.T) {
	b := mustBroker(t)
	err := b.Enable(context.Background(), DeviceConfig{Type: "file", Name: "bad", Options: map[string]string{
		"file_path": filepath.Join(t.TempDir(), "missing", "audit.log"),
	}}, testSalt(t))
	if err == nil {
		t.Fatal("enabled a device on a missing directory")
	}
	if b.Enabled() {
		t.Fatal("failed device is enabled")
	}
	w := &faultWriter{}
	w.setFailing(true)
	if err := enableWriter(t, b, "full", w, nil); err == nil || b.Enabled() {
		t.Fatalf("enabled a device whose genesis write failed: %v", err)
	}
}

func TestReopenOnRemovedDirectory(t *testing.T) {
	b := mustBroker(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	mustEnableFile(t, b, "a", filepath.Join(dirA, "audit.log"), nil)
	mustEnableFile(t, b, "b", filepath.Join(dirB, "audit.log"), nil)
	if err := os.RemoveAll(dirA); err != nil {
		t.Fatal(err)
	}
	if err := b.Reopen(); err == nil {
		t.Fatal("reopen on a removed directory reported no error")
	}
	if err := b.LogRequest(context.Background(), testInput()); err != nil {
		t.Fatalf("one device left: %v", err)
	}
	if err := os.RemoveAll(dirB); err != nil {
		t.Fatal(err)
	}
	_ = b.Reopen()
	if err := b.LogRequest(context.Background(), testInput()); !errors.Is(err, ErrAuditFailed) {
		t.Fatalf("no device left: got %v", err)
	}
	// Directory back: the device writes again on the next entry.
	if err := os.MkdirAll(dirA, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := b.LogRequest(context.Background(), testInput()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	mustVerify(t, nil, filepath.Join(dirA, "audit.log"))
}

func TestBlockingDeviceFailsByTimeout(t *testing.T) {
	b := mustBroker(t)
	blocked := newBlockWriter()
	good := &faultWriter{}
	if err := enableWriter(t, b, "good", good, nil); err != nil {
		t.Fatal(err)
	}
	// The genesis must get through: unblock until enabled, then block.
	gate := &gatedWriter{w: blocked}
	if err := enableWriter(t, b, "slow", gate, map[string]string{"write_timeout": "50ms"}); err != nil {
		t.Fatal(err)
	}
	gate.block()
	t.Cleanup(blocked.unblock)

	start := time.Now()
	if err := b.LogRequest(context.Background(), testInput()); err != nil {
		t.Fatalf("good device left: %v", err)
	}
	// The stalled device now fails at once instead of waiting again.
	if err := b.LogRequest(context.Background(), testInput()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("blocked for %v", d)
	}

	// Alone, the blocking device fails the request by its timeout.
	if err := b.Disable("good"); err != nil {
		t.Fatal(err)
	}
	if err := b.LogRequest(context.Background(), testInput()); !errors.Is(err, ErrAuditFailed) {
		t.Fatalf("got %v", err)
	}
	// A caller's deadline shorter than write_timeout wins too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := b.LogRequest(ctx, testInput()); !errors.Is(err, ErrAuditFailed) {
		t.Fatalf("got %v", err)
	}
	// Unblocked, the device records again.
	blocked.unblock()
	waitFor(t, "the stalled write to finish", func() bool {
		return b.LogRequest(context.Background(), testInput()) == nil
	})
}

// gatedWriter passes writes to a faultWriter until block, then to w.
type gatedWriter struct {
	mu      sync.Mutex
	blocked bool
	w       *blockWriter
}

func (g *gatedWriter) block() { g.mu.Lock(); g.blocked = true; g.mu.Unlock() }

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	blocked := g.blocked
	g.mu.Unlock()
	if blocked {
		return g.w.Write(p)
	}
	return len(p), nil
}

func TestCloseUnderStalledWrite(t *testing.T) {
	b := NewBroker(nil)
	blocked := newBlockWriter()
	gate := &gatedWriter{w: blocked}
	if err := enableWriter(t, b, "slow", gate, map[string]string{"write_timeout": "20ms"}); err != nil {
		t.Fatal(err)
	}
	gate.block()
	if err := b.LogRequest(context.Background(), testInput()); err == nil {
		t.Fatal("blocked write succeeded")
	}
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a stalled device")
	}
	blocked.unblock()
	if b.Enabled() {
		t.Fatal("device still enabled")
	}
}

func TestConcurrentEntriesKeepChain(t *testing.T) {
	path := tempPath(t, "audit.log")
	path2 := tempPath(t, "audit2.log")
	b := mustBroker(t)
	mustEnableFile(t, b, "a", path, nil)
	mustEnableFile(t, b, "b", path2, map[string]string{"prefix": "coffer: "})
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := testInput()
			in.Request.ID = fmt.Sprintf("req-%d", i)
			errs <- b.LogRequest(context.Background(), in)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path2} {
		if st := mustVerify(t, nil, p); st.Lines != n+1 {
			t.Fatalf("%s: %d lines, want %d", p, st.Lines, n+1)
		}
	}
}

func TestHashMatchesLog(t *testing.T) {
	path := tempPath(t, "audit.log")
	b := mustBroker(t)
	salt := mustEnableFile(t, b, "file", path, nil)
	in := testInput()
	in.Response.Data = map[string]any{"data": map[string]any{"password": "canary-value"}}
	if err := b.LogResponse(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	h, err := b.Hash("file/", "canary-value")
	if err != nil {
		t.Fatal(err)
	}
	if h != refHMAC(salt, "canary-value") {
		t.Fatal("Hash is not HMAC-SHA256 with the device's salt")
	}
	if !strings.Contains(strings.Join(readLines(t, path), "\n"), h) {
		t.Fatal("the hash of the value does not appear in the log")
	}
	for _, name := range []string{"file", "/file/", "file/"} {
		if _, err := b.Hash(name, "x"); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
	}
	if _, err := b.Hash("nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	if err := b.Disable("file"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Hash("file", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after disable: %v", err)
	}
}

// canaryInput places marker in every field a client or backend controls.
func canaryInput(marker string) *Input {
	in := testInput()
	nested := func() map[string]any {
		return map[string]any{
			"plain":  marker,
			"nested": map[string]any{"list": []any{marker, 1, true, map[string]any{"deep": "x" + marker + "x"}}},
			"bytes":  []byte(marker),
			"strs":   []string{marker},
			"mss":    map[string]string{"k": marker},
			"maps":   []map[string]any{{"k": marker}},
			"struct": struct{ Secret string }{marker},
			"raw":    json.RawMessage(`{"k":"` + marker + `"}`),
			"ptr":    &struct{ S []string }{[]string{marker}},
		}
	}
	in.Request.Data = nested()
	in.Request.Data["query_param"] = marker
	in.Request.ClientToken = "s." + marker
	in.Token.Accessor = marker + "acc"
	in.Token.Meta = map[string]string{"k": marker}
	in.Response.Data = nested()
	in.Response.Secret = &engines.Secret{LeaseID: "database/creds/ro/" + marker}
	in.Response.Auth = &engines.Auth{ClientToken: "s.new" + marker, Accessor: "acc" + marker, Metadata: map[string]string{"k": marker}}
	in.Response.Warnings = []string{"ignored " + marker}
	in.Err = engines.BadRequest("invalid value %q for field", marker)
	return in
}

func TestCanaryNeverLogged(t *testing.T) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	marker := "CANARY" + hex.EncodeToString(raw)
	for _, opts := range []map[string]string{
		nil,
		{"hmac_accessor": "true", "elide_list_responses": "true"},
	} {
		path := tempPath(t, "audit.log")
		b := mustBroker(t)
		mustEnableFile(t, b, "file", path, opts)
		for _, op := range []engines.Operation{engines.ReadOperation, engines.ListOperation, engines.UpdateOperation} {
			in := canaryInput(marker)
			in.Request.Operation = op
			if err := b.LogRequest(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if err := b.LogResponse(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			in.Response = nil // an error response
			if err := b.LogResponse(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}
		lines := readLines(t, path)
		if len(lines) != 10 {
			t.Fatalf("%d lines", len(lines))
		}
		for i, l := range lines {
			if strings.Contains(l, marker) || strings.Contains(l, hex.EncodeToString(raw)) {
				t.Fatalf("line %d holds the canary in plaintext", i+1)
			}
		}
		h, _ := b.Hash("file", marker)
		if !strings.Contains(strings.Join(lines, "\n"), h) {
			t.Fatal("the canary's hash is not in the log")
		}
	}
}

func TestDevicesAndDisable(t *testing.T) {
	b := mustBroker(t)
	dir := t.TempDir()
	cfg := DeviceConfig{Type: "file", Name: "/zeta", Description: "z", Options: map[string]string{"file_path": filepath.Join(dir, "z.log")}}
	if err := b.Enable(context.Background(), cfg, testSalt(t)); err != nil {
		t.Fatal(err)
	}
	cfg.Options["file_path"] = "changed" // the broker kept its own copy
	mustEnableFile(t, b, "alpha", filepath.Join(dir, "a.log"), nil)
	devs := b.Devices()
	if len(devs) != 2 || devs[0].Name != "alpha/" || devs[1].Name != "zeta/" || devs[1].Description != "z" ||
		devs[1].Options["file_path"] != filepath.Join(dir, "z.log") {
		t.Fatalf("devices %+v", devs)
	}
	err := b.Enable(context.Background(), DeviceConfig{Type: "file", Name: "alpha/", Options: map[string]string{"file_path": filepath.Join(dir, "b.log")}}, testSalt(t))
	if !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	err = b.Enable(context.Background(), DeviceConfig{Type: "file", Name: "beta", Options: map[string]string{"file_path": filepath.Join(dir, "a.log")}}, testSalt(t))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("same file twice: %v", err)
	}
	if err := b.Disable("alpha"); err != nil {
		t.Fatal(err)
	}
	if err := b.Disable("alpha"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second disable: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b.Enabled() || len(b.Devices()) != 0 {
		t.Fatal("devices left after Close")
	}
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	b := mustBroker(t)
	mustEnableFile(t, b, "a", filepath.Join(dir, "a.log"), nil)
	mustEnableFile(t, b, "b", filepath.Join(dir, "b.log"), map[string]string{"mode": "0640"})
	for name, want := range map[string]os.FileMode{"a.log": 0o600, "b.log": 0o640} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("abcd"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  DeviceConfig
		ok   bool
	}{
		{"file", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x"}}, true},
		{"stdout", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "stdout"}}, true},
		{"file without path", DeviceConfig{Type: "file"}, false},
		{"socket", DeviceConfig{Type: "socket", Options: map[string]string{"address": "127.0.0.1:9090", "socket_type": "tcp", "write_timeout": "3s"}}, true},
		{"socket seconds", DeviceConfig{Type: "socket", Options: map[string]string{"address": "x", "write_timeout": "3"}}, true},
		{"socket without address", DeviceConfig{Type: "socket"}, false},
		{"socket udp", DeviceConfig{Type: "socket", Options: map[string]string{"address": "x", "socket_type": "udp"}}, false},
		{"syslog", DeviceConfig{Type: "syslog"}, false},
		{"unknown option", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "log_rawz": "true"}}, false},
		{"socket option on file", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "address": "y"}}, false},
		{"jsonx", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "format": "jsonx"}}, false},
		{"bad bool", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "log_raw": "yes please"}}, false},
		{"bad mode", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "mode": "0999"}}, false},
		{"negative timeout", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "write_timeout": "-1s"}}, false},
		{"short checkpoint key", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "checkpoint_key_file": keyFile}}, false},
		{"prefix with newline", DeviceConfig{Type: "file", Options: map[string]string{"file_path": "/x", "prefix": "a\nb"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseOptions(tc.cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("got %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v is not ErrInvalidConfig", err)
			}
		})
	}
	b := mustBroker(t)
	if err := b.Enable(context.Background(), DeviceConfig{Type: "file", Name: "/", Options: map[string]string{"file_path": "/x"}}, testSalt(t)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty name: %v", err)
	}
	if err := b.Enable(context.Background(), DeviceConfig{Type: "file", Name: "a", Options: map[string]string{"file_path": "/x"}}, []byte("short")); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("short salt: %v", err)
	}
}
