package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/cluster"
)

// mustArchive builds a real snapshot archive: a single-node cluster with
// four keys under three prefixes, saved with cluster ID "c1".
func mustArchive(tb testing.TB) []byte {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := cluster.Open(ctx, cluster.Config{Dir: tb.TempDir(), NodeID: "n1", BindAddr: addr, RaftLogOutput: io.Discard})
	if err != nil {
		tb.Fatalf("open node: %v", err)
	}
	tb.Cleanup(func() { n.Close() })
	if err := n.Bootstrap(ctx); err != nil {
		tb.Fatalf("bootstrap: %v", err)
	}
	for _, k := range []string{"logical/a", "logical/b", "core/keyring", "sys/token/x"} {
		if err := n.Put(ctx, k, []byte("ciphertext-"+k)); err != nil {
			tb.Fatalf("put %s: %v", k, err)
		}
	}
	var buf bytes.Buffer
	seal := func(b []byte) ([]byte, error) { return append([]byte("sealed:"), b...), nil }
	if err := n.SaveArchive(ctx, &buf, cluster.ArchiveMeta{ClusterID: "c1"}, seal); err != nil {
		tb.Fatalf("save archive: %v", err)
	}
	return buf.Bytes()
}

// fakeArchive is a structurally valid archive (Vault's gzip/tar shape,
// matching sums) whose state.bin is not a real FSM snapshot.
func fakeArchive(tb testing.TB, body string) []byte {
	tb.Helper()
	meta, err := json.Marshal(cluster.ArchiveMeta{Version: 1, Index: 7, Term: 2, Size: int64(len(body)), NodeID: "n1"})
	if err != nil {
		tb.Fatal(err)
	}
	ms, bs := sha256.Sum256(meta), sha256.Sum256([]byte(body))
	sums := hex.EncodeToString(ms[:]) + "  meta.json\n" + hex.EncodeToString(bs[:]) + "  state.bin\n"
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range []struct{ name, body string }{{"meta.json", string(meta)}, {"state.bin", body}, {"SHA256SUMS", sums}, {"SHA256SUMS.sealed", "sealed:" + sums}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// dirNames lists the names in dir.
func dirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestOperatorRaftSnapshotSave(t *testing.T) {
	archive := fakeArchive(t, strings.Repeat("snapshot-body-", 1000))
	tests := []struct {
		name     string
		snapshot []byte
		abort    int // cut the stream after this many bytes
		existing string
		code     int
		stderr   string
	}{
		{name: "ok", snapshot: archive, code: 0},
		{name: "replaces existing", snapshot: archive, existing: "old", code: 0},
		{name: "cut midway", snapshot: archive, abort: len(archive) / 2, existing: "old", code: 2, stderr: "Error taking the snapshot: "},
		{name: "short stream", snapshot: archive[:len(archive)-10], code: 2, stderr: "incomplete snapshot"},
		{name: "trailing bytes", snapshot: append(append([]byte{}, archive...), "junk"...), code: 2, stderr: "incomplete snapshot"},
		{name: "not an archive", snapshot: []byte(`{"errors":[]}`), code: 2, stderr: "invalid snapshot archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustRaftFake(t)
			f.mu.Lock()
			f.snapshot, f.snapAbort = tt.snapshot, tt.abort
			f.mu.Unlock()
			dir := t.TempDir()
			file := filepath.Join(dir, "raft.snap")
			if tt.existing != "" {
				if err := os.WriteFile(file, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := f.mustCLI(t, tt.code, "", "operator", "raft", "snapshot", "save", file)
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("stderr = %s", r.stderr)
			}
			if req := f.last(t); req.Method != "GET" || req.Path != "sys/storage/raft/snapshot" {
				t.Fatalf("save request = %+v", req)
			}
			if names := dirNames(t, dir); len(names) > 1 || (len(names) == 1 && names[0] != "raft.snap") {
				t.Fatalf("directory holds %v", names)
			}
			got, err := os.ReadFile(file)
			switch {
			case tt.code == 0:
				if err != nil || !bytes.Equal(got, tt.snapshot) {
					t.Fatalf("saved %d bytes (%v), want %d", len(got), err, len(tt.snapshot))
				}
				if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
					t.Fatalf("mode %v", st.Mode())
				}
			case tt.existing != "":
				if string(got) != tt.existing {
					t.Fatalf("a failed save changed FILE: %q (%v)", got, err)
				}
			case !os.IsNotExist(err):
				t.Fatalf("a failed save left FILE: %v", err)
			}
		})
	}

	f := mustRaftFake(t)
	f.mustCLI(t, 1, "", "operator", "raft", "snapshot", "save")
	f.mustCLI(t, 1, "", "operator", "raft", "snapshot", "save", filepath.Join(t.TempDir(), "no", "such", "dir"))
}

func TestOperatorRaftSnapshotRestore(t *testing.T) {
	f := mustRaftFake(t)
	archive := fakeArchive(t, strings.Repeat("x", 100000))
	file := filepath.Join(t.TempDir(), "raft.snap")
	if err := os.WriteFile(file, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		path string
	}{
		{[]string{file}, "sys/storage/raft/snapshot"},
		{[]string{"-force", file}, "sys/storage/raft/snapshot-force"},
	} {
		r := f.mustCLI(t, 0, "", append([]string{"operator", "raft", "snapshot", "restore"}, tt.args...)...)
		if r.stdout != "" || r.stderr != "" {
			t.Fatalf("restore printed %q %q", r.stdout, r.stderr)
		}
		if req := f.last(t); req.Method != "POST" || req.Path != tt.path {
			t.Fatalf("restore request = %+v", req)
		}
		if !bytes.Equal(f.rawBody(tt.path), archive) {
			t.Fatalf("restore sent %d bytes, want %d", len(f.rawBody(tt.path)), len(archive))
		}
	}

	// A file that is not an archive is refused before anything is sent.
	bad := fakeArchive(t, "y")
	bad[0] ^= 0xff // no longer gzip
	badFile := mustWriteFile(t, "bad.snap", string(bad))
	n := len(f.requests(false))
	r := f.mustCLI(t, 1, "", "operator", "raft", "snapshot", "restore", badFile)
	if !strings.HasPrefix(r.stderr, "Error reading snapshot file: ") || len(f.requests(false)) != n {
		t.Fatalf("restore of a non-archive: %s", r.stderr)
	}
	f.mustCLI(t, 1, "", "operator", "raft", "snapshot", "restore", filepath.Join(t.TempDir(), "missing"))
	f.mustCLI(t, 1, "", "operator", "raft", "snapshot", "restore")

	// The server refuses: its error on stderr, exit 2.
	g := mustFakeServer(t) // answers the restore with 404
	r = g.mustCLI(t, 2, "", "operator", "raft", "snapshot", "restore", file)
	if !strings.HasPrefix(r.stderr, "Error installing the snapshot: ") {
		t.Fatalf("restore error = %s", r.stderr)
	}
}

func TestOperatorRaftSnapshotInspect(t *testing.T) {
	archive := mustArchive(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "raft.snap")
	if err := os.WriteFile(file, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	f := mustRaftFake(t)
	r := f.mustCLI(t, 0, "", "operator", "raft", "snapshot", "inspect", file)
	if len(f.requests(true)) != 0 {
		t.Fatalf("inspect contacted the server")
	}
	for _, s := range []string{
		"Key              Value\n---              -----\nIndex            ",
		"\nNode             n1\nCluster ID       c1\nApplied Index    ",
		"\nKeys             4\n",
		"\nChecksum         verified\n\nPrefix      Keys\n------      ----\ncore/       1\nlogical/    2\nsys/        1\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("inspect output lacks %q:\n%s", s, r.stdout)
		}
	}
	r2 := f.mustCLI(t, 0, "", "operator", "raft", "snapshot", "inspect", "-format=json", file)
	// The stored values (barrier ciphertext in real life) are never printed.
	for _, out := range []string{r.stdout, r2.stdout} {
		if strings.Contains(out, "ciphertext-") {
			t.Fatalf("inspect printed a stored value:\n%s", out)
		}
	}
	var js snapshotInspectOutput
	if err := json.Unmarshal([]byte(r2.stdout), &js); err != nil {
		t.Fatalf("inspect json: %v\n%s", err, r2.stdout)
	}
	if js.Index == 0 || js.Term == 0 || js.Size == 0 || js.NodeID != "n1" || js.ClusterID != "c1" || js.Keys != 4 ||
		js.AppliedIndex == 0 || js.Checksum != "verified" || js.Prefixes["logical/"] != 2 || js.CreatedAt.IsZero() {
		t.Fatalf("inspect json = %+v", js)
	}

	// A flipped byte in the snapshot body, or a truncated file, is rejected.
	for name, damaged := range map[string][]byte{
		"flipped":   func() []byte { b := bytes.Clone(archive); b[len(b)-40] ^= 0x01; return b }(),
		"truncated": archive[:len(archive)-1],
		"header":    func() []byte { b := bytes.Clone(archive); b[0] = 'X'; return b }(),
	} {
		p := filepath.Join(dir, name+".snap")
		if err := os.WriteFile(p, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		r := f.mustCLI(t, 2, "", "operator", "raft", "snapshot", "inspect", p)
		if !strings.HasPrefix(r.stderr, "Error inspecting the snapshot: ") || r.stdout != "" {
			t.Fatalf("%s: stdout %q stderr %q", name, r.stdout, r.stderr)
		}
	}
	f.mustCLI(t, 1, "", "operator", "raft", "snapshot", "inspect", filepath.Join(dir, "missing"))
	f.mustCLI(t, 1, "", "operator", "raft", "snapshot", "inspect")
}
