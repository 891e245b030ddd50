package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mustLog writes n request/response pairs through a one-device broker on
// path and returns the broker.
func mustLog(t *testing.T, b *Broker, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := b.LogRequest(context.Background(), testInput()); err != nil {
			t.Fatal(err)
		}
		if err := b.LogResponse(context.Background(), testInput()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyGoodLog(t *testing.T) {
	for _, prefix := range []string{"", "audit: ", `{"type":"genesis",x `} {
		t.Run(prefix, func(t *testing.T) {
			path := tempPath(t, "audit.log")
			b := mustBroker(t)
			mustEnableFile(t, b, "file", path, map[string]string{"prefix": prefix})
			mustLog(t, b, 5)
			st := mustVerify(t, nil, path)
			if st.Lines != 11 || st.Segments != 1 {
				t.Fatalf("stats %+v, want 11 lines in 1 segment", st)
			}
			for _, l := range readLines(t, path) {
				if !strings.HasPrefix(l, prefix) {
					t.Fatalf("line without prefix: %.40s", l)
				}
			}
		})
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	path := tempPath(t, "audit.log")
	b := mustBroker(t)
	mustEnableFile(t, b, "file", path, nil)
	mustLog(t, b, 5) // genesis + 10 entries
	good := readLines(t, path)

	tests := []struct {
		name     string
		edit     func(lines []string) []string
		wantLine int
		reason   string
	}{
		{"edited line", func(l []string) []string {
			l[4] = strings.Replace(l[4], `"operation":"read"`, `"operation":"list"`, 1)
			return l
		}, 6, "prev_hash"},
		{"edited seq", func(l []string) []string {
			l[4] = strings.Replace(l[4], `"seq":4`, `"seq":5`, 1)
			return l
		}, 5, "seq 5, expected 4"},
		{"deleted line", func(l []string) []string {
			return append(l[:4:4], l[5:]...)
		}, 5, "seq 5, expected 4"},
		{"inserted copy", func(l []string) []string {
			return append(l[:5:5], append([]string{l[3]}, l[5:]...)...)
		}, 6, "seq 3, expected 5"},
		{"swapped lines", func(l []string) []string {
			l[3], l[4] = l[4], l[3]
			return l
		}, 4, "seq 4, expected 3"},
		{"truncated in the middle", func(l []string) []string {
			l = l[:6]
			l[5] = l[5][:len(l[5])/2]
			return l
		}, 6, "not an audit line"},
		{"cut at the start", func(l []string) []string { return l[3:] }, 1, "does not start with a genesis"},
		{"garbage line", func(l []string) []string {
			return append(l[:2:2], append([]string{"hello"}, l[2:]...)...)
		}, 3, "not an audit line"},
		{"forged genesis mid-log", func(l []string) []string {
			g := strings.Replace(l[0], `"prev_hash":"`+zeroHash, `"prev_hash":"`+strings.Repeat("1", 64), 1)
			return append(l[:3:3], append([]string{g}, l[3:]...)...)
		}, 4, "genesis does not name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "copy.log")
			writeLines(t, p, tc.edit(append([]string{}, good...)))
			res, err := Verify([]string{p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res == nil {
				t.Fatal("verify passed a tampered log")
			}
			if res.Line != tc.wantLine || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("got %s, want line %d with %q", res, tc.wantLine, tc.reason)
			}
		})
	}

	t.Run("file cut without final newline", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "copy.log")
		data := strings.Join(good, "\n")
		if err := os.WriteFile(p, []byte(data[:len(data)-10]), 0o600); err != nil {
			t.Fatal(err)
		}
		res, _ := Verify([]string{p}, nil)
		if res == nil || res.Line != len(good) || !strings.Contains(res.Reason, "incomplete") {
			t.Fatalf("got %v", res)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "empty.log")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if res, _ := Verify([]string{p}, nil); res == nil {
			t.Fatal("empty file passed")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := Verify([]string{filepath.Join(t.TempDir(), "nope")}, nil); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestReopenStartsLinkedSegment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	rotated := filepath.Join(dir, "audit.log.1")
	b := mustBroker(t)
	mustEnableFile(t, b, "file", path, nil)
	mustLog(t, b, 3)
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	mustLog(t, b, 1) // still goes to the rotated file until SIGHUP
	if err := b.Reopen(); err != nil {
		t.Fatal(err)
	}
	mustLog(t, b, 2)

	st := mustVerify(t, nil, rotated, path)
	if st.Segments != 2 || st.Lines != 1+8+1+4 || st.Chains != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Each file alone: the old one verifies, the new one starts a chain.
	mustVerify(t, nil, rotated)
	mustVerify(t, nil, path)
	// Out of order, or with a line missing at the end of the old segment.
	if st := mustVerify(t, nil, path, rotated); st.Chains != 2 {
		t.Fatalf("out of order: want the chain restart counted, got %+v", st)
	}
	old := readLines(t, rotated)
	writeLines(t, rotated, old[:len(old)-1])
	if res, _ := Verify([]string{rotated, path}, nil); res == nil || res.File != path || res.Line != 1 {
		t.Fatalf("tail cut from the old segment: got %v", res)
	}
}

func TestReopenSameFileAndRestart(t *testing.T) {
	path := tempPath(t, "audit.log")
	b := mustBroker(t)
	mustEnableFile(t, b, "file", path, nil)
	mustLog(t, b, 2)
	if err := b.Reopen(); err != nil { // no rotation: a genesis mid-file
		t.Fatal(err)
	}
	mustLog(t, b, 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart appends to the same file, linking to its last line.
	b2 := mustBroker(t)
	mustEnableFile(t, b2, "file", path, nil)
	mustLog(t, b2, 1)
	st := mustVerify(t, nil, path)
	if st.Segments != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTornLineStaysVisible(t *testing.T) {
	path := tempPath(t, "audit.log")
	b := mustBroker(t)
	mustEnableFile(t, b, "file", path, nil)
	mustLog(t, b, 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2025`) // a crash mid-write
	f.Close()
	b2 := mustBroker(t)
	mustEnableFile(t, b2, "file", path, nil)
	mustLog(t, b2, 1)
	res, err := Verify([]string{path}, nil)
	if err != nil || res == nil || res.Line != 4 {
		t.Fatalf("want the torn line 4 reported, got %v, %v", res, err)
	}
}

func TestCheckpoints(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	key := testSalt(t)
	if err := os.WriteFile(keyFile, []byte(hexOf(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.log")
	b := mustBroker(t)
	mustEnableFile(t, b, "file", path, map[string]string{"checkpoint_key_file": keyFile, "checkpoint_interval": "3"})
	mustLog(t, b, 5) // 10 entries: checkpoints after 3, 6, 9
	st := mustVerify(t, key, path)
	if st.Checkpoints != 3 || st.Unsigned != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := b.Close(); err != nil { // a final checkpoint
		t.Fatal(err)
	}
	st = mustVerify(t, key, path)
	if st.Checkpoints != 4 || st.Unsigned != 0 {
		t.Fatalf("after close: stats %+v", st)
	}
	mustVerify(t, nil, path) // without a key the chain alone verifies

	lines := readLines(t, path)
	t.Run("wrong key", func(t *testing.T) {
		res, err := Verify([]string{path}, testSalt(t))
		if err != nil || res == nil || res.Line != 1 || !strings.Contains(res.Reason, "signature") {
			t.Fatalf("got %v, %v", res, err)
		}
	})
	t.Run("rewritten chain", func(t *testing.T) {
		// An attacker without the key edits a line and recomputes the
		// chain after it: the chain holds, the next checkpoint does not.
		forged := rechain(t, lines, 2, func(l string) string {
			return strings.Replace(l, `"remote_address":"127.0.0.1"`, `"remote_address":"10.9.9.9"`, 1)
		})
		p := filepath.Join(t.TempDir(), "forged.log")
		writeLines(t, p, forged)
		mustVerify(t, nil, p)
		res, err := Verify([]string{p}, key)
		if err != nil || res == nil || !strings.Contains(res.Reason, "checkpoint signature") {
			t.Fatalf("got %v, %v", res, err)
		}
	})
	t.Run("checkpoints stripped", func(t *testing.T) {
		var kept []string
		for _, l := range lines {
			if !strings.Contains(l, `"type":"checkpoint"`) {
				kept = append(kept, l)
			}
		}
		forged := rechain(t, kept, 1, func(l string) string { return l })
		p := filepath.Join(t.TempDir(), "stripped.log")
		writeLines(t, p, forged)
		mustVerify(t, nil, p)
		res, err := Verify([]string{p}, key)
		if err != nil || res == nil || !strings.Contains(res.Reason, "without a checkpoint") {
			t.Fatalf("got %v, %v", res, err)
		}
	})
	t.Run("key on an unsigned log", func(t *testing.T) {
		p := tempPath(t, "plain.log")
		b := mustBroker(t)
		mustEnableFile(t, b, "plain", p, nil)
		mustLog(t, b, 1)
		res, err := Verify([]string{p}, key)
		if err != nil || res == nil || !strings.Contains(res.Reason, "not signed") {
			t.Fatalf("got %v, %v", res, err)
		}
	})
}

// rechain applies edit to lines[from:] and recomputes seq-preserving
// prev_hash values from there on, as an attacker without a key could.
func rechain(t *testing.T, lines []string, from int, edit func(string) string) []string {
	t.Helper()
	out := append([]string{}, lines...)
	for i := from; i < len(out); i++ {
		l := edit(out[i])
		j := strings.LastIndex(l, `"seq":`)
		seq := i
		l = l[:j] + string(appendTail(nil, uint64(seq), lineHash([]byte(out[i-1])))[1:])
		out[i] = l
	}
	return out
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestVerifyBadKey(t *testing.T) {
	if _, _, err := VerifyWithStats(nil, []byte("short")); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("got %v", err)
	}
}
