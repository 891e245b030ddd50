package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"coffer/engines"
)

func testSalt(tb testing.TB) []byte {
	tb.Helper()
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// mustBroker returns a broker closed at the end of the test.
func mustBroker(tb testing.TB) *Broker {
	tb.Helper()
	b := NewBroker(nil)
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// mustEnableFile enables a file device writing to path and returns its salt.
func mustEnableFile(tb testing.TB, b *Broker, name, path string, opts map[string]string) []byte {
	tb.Helper()
	o := map[string]string{"file_path": path}
	for k, v := range opts {
		o[k] = v
	}
	salt := testSalt(tb)
	if err := b.Enable(context.Background(), DeviceConfig{Type: "file", Name: name, Options: o}, salt); err != nil {
		tb.Fatalf("enable %s: %v", name, err)
	}
	return salt
}

// writerOpener opens w for every (re)open of the device.
func writerOpener(w io.Writer) opener {
	return func(context.Context) (sink, string, error) { return writerSink{w}, "", nil }
}

// enableWriter enables a device whose sink is w.
func enableWriter(tb testing.TB, b *Broker, name string, w io.Writer, opts map[string]string) error {
	tb.Helper()
	o := map[string]string{"file_path": "injected-" + name}
	for k, v := range opts {
		o[k] = v
	}
	cfg := DeviceConfig{Type: "file", Name: name, Options: o}
	parsed, err := parseOptions(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return b.enable(context.Background(), cfg, parsed, testSalt(tb), writerOpener(w))
}

// faultWriter records lines in memory and fails with ENOSPC while failing
// is set. Safe for concurrent use.
type faultWriter struct {
	mu      sync.Mutex
	failing bool
	buf     bytes.Buffer
}

func (w *faultWriter) setFailing(f bool) {
	w.mu.Lock()
	w.failing = f
	w.mu.Unlock()
}

func (w *faultWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing {
		return 0, syscall.ENOSPC
	}
	return w.buf.Write(p)
}

func (w *faultWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// blockWriter blocks every write until released.
type blockWriter struct {
	release chan struct{}
	once    sync.Once
	entered chan struct{}
}

func newBlockWriter() *blockWriter {
	return &blockWriter{release: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (w *blockWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	return len(p), nil
}

func (w *blockWriter) unblock() { w.once.Do(func() { close(w.release) }) }

// readLines returns the lines of the file at path, without newlines.
func readLines(tb testing.TB, path string) []string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

func writeLines(tb testing.TB, path string, lines []string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// mustVerify fails the test unless the chain over paths holds.
func mustVerify(tb testing.TB, key []byte, paths ...string) VerifyStats {
	tb.Helper()
	st, res, err := VerifyWithStats(paths, key)
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	if res != nil {
		tb.Fatalf("verify: %s", res)
	}
	return st
}

// entries decodes the non-chain lines of a log.
func entries(tb testing.TB, lines []string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l[strings.Index(l, "{"):]), &m); err != nil {
			tb.Fatalf("line is not JSON: %v", err)
		}
		if m["type"] == "request" || m["type"] == "response" {
			out = append(out, m)
		}
	}
	return out
}

// testInput is a typical authenticated KV read.
func testInput() *Input {
	return &Input{
		Request: &engines.Request{
			ID: "req-1", Operation: engines.ReadOperation, Path: "data/app",
			ClientToken: "s.clienttoken", RemoteAddr: "127.0.0.1:51234",
			Data: map[string]any{"version": "1"},
		},
		FullPath:  "secret/data/app",
		MountType: "kv", MountPoint: "secret/", MountAccessor: "kv_1234",
		Token: &engines.TokenEntry{
			Accessor: "tokenaccessor", Policies: []string{"default", "app"},
			DisplayName: "token-app", Type: "service", TTL: time.Hour,
			CreationTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		Response: &engines.Response{Data: map[string]any{"data": map[string]any{"password": "hunter2"}}},
		Time:     time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
	}
}

func tempPath(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), name)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
