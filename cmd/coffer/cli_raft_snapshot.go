package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"coffer/cluster"

	"github.com/hashicorp/vault/api"
)

const operatorRaftSnapshotSaveUsage = `
Usage: coffer operator raft snapshot save [options] FILE

  Saves a snapshot of the current state of the Raft cluster into FILE. The
  snapshot is streamed into a temporary file next to FILE, checked to be
  complete, synced to disk and only then renamed onto FILE (mode 0600), so
  FILE is never left half-written. Its contents stay encrypted by the
  barrier.

      $ coffer operator raft snapshot save raft.snap
`

const operatorRaftSnapshotRestoreUsage = `
Usage: coffer operator raft snapshot restore [options] FILE

  Installs the snapshot in FILE, returning the cluster to the state recorded
  in it. The snapshot must have been made with this cluster's keys unless
  -force is given.

      $ coffer operator raft snapshot restore raft.snap
`

const operatorRaftSnapshotInspectUsage = `
Usage: coffer operator raft snapshot inspect [options] FILE

  Reads a snapshot file locally, verifies its checksum and structure, and
  prints what it holds: Raft index and term, when and where it was taken,
  and how many keys it has under each top-level prefix. No value is read
  or printed, and no server is contacted.

      $ coffer operator raft snapshot inspect raft.snap
`

// runOperatorRaftSnapshotSave implements `coffer operator raft snapshot save`.
func runOperatorRaftSnapshotSave(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft snapshot save", operatorRaftSnapshotSaveUsage, 0, stdin, stdout, stderr)
	if code, ok := c.parseArgs(args, 1, 1); !ok {
		return code
	}
	path := strings.TrimSpace(c.fs.Arg(0))
	if path == "" {
		c.errf("Output file name is required")
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		c.errf("Error creating the snapshot file: %s", err)
		return exitLocal
	}
	err = writeSnapshot(c.ctx(), cl, tmp)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		c.errf("Error taking the snapshot: %s", err)
		return exitRemote
	}
	syncDir(dir)
	return exitOK
}

// writeSnapshot streams the cluster's snapshot archive into f, checks it
// is whole, then fsyncs and closes f.
func writeSnapshot(ctx context.Context, cl *api.Client, f *os.File) error {
	err := fetchSnapshot(ctx, cl, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// fetchSnapshot copies GET sys/storage/raft/snapshot into w. The raw
// response is read, without the client's request timeout (a snapshot may
// take longer than a request), and checked as it streams.
func fetchSnapshot(ctx context.Context, cl *api.Client, w io.Writer) error {
	resp, err := cl.Logical().ReadRawWithContext(ctx, "sys/storage/raft/snapshot")
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return err
	}
	return copyArchive(w, resp.Body)
}

// copyArchive copies one snapshot archive from r to w and fails unless it
// is complete: every entry present, SHA256SUMS matching them, and the
// sealed sums present (a stream the server cut short is caught even when
// it ended cleanly).
func copyArchive(w io.Writer, r io.Reader) error {
	info, err := cluster.ReadArchive(io.TeeReader(r, w), nil)
	if err != nil {
		return fmt.Errorf("incomplete snapshot: %w", err)
	}
	if len(info.Sealed) == 0 {
		return errors.New("incomplete snapshot: the sealed sums are empty")
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so a rename in it is durable; file systems
// that cannot sync directories are ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}

// openSnapshotArg opens the snapshot file the one argument names, or
// reports why not and returns false.
func (c *command) openSnapshotArg() (*os.File, bool) {
	path := strings.TrimSpace(c.fs.Arg(0))
	if path == "" {
		c.errf("Snapshot file name is required")
		return nil, false
	}
	f, err := os.Open(path)
	if err != nil {
		c.errf("Error opening snapshot file: %s", err)
		return nil, false
	}
	return f, true
}

// runOperatorRaftSnapshotRestore implements `coffer operator raft snapshot restore`.
func runOperatorRaftSnapshotRestore(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft snapshot restore", operatorRaftSnapshotRestoreUsage, 0, stdin, stdout, stderr)
	force := c.fs.Bool("force", false, "Install the snapshot even if it was not made with this cluster's keys.")
	if code, ok := c.parseArgs(args, 1, 1); !ok {
		return code
	}
	f, ok := c.openSnapshotArg()
	if !ok {
		return exitLocal
	}
	defer f.Close()
	// Refuse a file that is not a snapshot archive before uploading it.
	if _, err := cluster.ReadArchive(bufio.NewReader(f), nil); err != nil {
		c.errf("Error reading snapshot file: %s", err)
		return exitLocal
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		c.errf("Error reading snapshot file: %s", err)
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	if err := cl.Sys().RaftSnapshotRestoreWithContext(c.ctx(), f, *force); err != nil {
		c.errf("Error installing the snapshot: %s", err)
		return exitRemote
	}
	return exitOK
}

// snapshotInspectOutput is `snapshot inspect -format=json`.
type snapshotInspectOutput struct {
	Index        uint64         `json:"index"`
	Term         uint64         `json:"term"`
	Size         int64          `json:"size"`
	CreatedAt    time.Time      `json:"created_at"`
	NodeID       string         `json:"node_id"`
	ClusterID    string         `json:"cluster_id"`
	AppliedIndex uint64         `json:"applied_index"`
	Keys         int            `json:"keys"`
	DatabaseSize int64          `json:"database_size"`
	Prefixes     map[string]int `json:"prefixes"`
	Checksum     string         `json:"checksum"`
}

// runOperatorRaftSnapshotInspect implements `coffer operator raft snapshot inspect`.
func runOperatorRaftSnapshotInspect(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft snapshot inspect", operatorRaftSnapshotInspectUsage, withFormat, stdin, stdout, stderr)
	if code, ok := c.parseArgs(args, 1, 1); !ok {
		return code
	}
	f, ok := c.openSnapshotArg()
	if !ok {
		return exitLocal
	}
	defer f.Close()
	info, err := cluster.InspectArchive(bufio.NewReader(f), os.TempDir())
	if err != nil {
		c.errf("Error inspecting the snapshot: %s", err)
		return exitRemote
	}
	m, s := info.Meta, info.Snapshot
	out := snapshotInspectOutput{Index: m.Index, Term: m.Term, Size: m.Size, CreatedAt: m.CreatedAt,
		NodeID: m.NodeID, ClusterID: m.ClusterID, AppliedIndex: s.AppliedIndex, Keys: s.Keys,
		DatabaseSize: s.Bytes, Prefixes: s.ByPrefix, Checksum: "verified"}
	if c.json() {
		return c.outputJSON(out)
	}
	c.outf("%s", formatTable([][]string{
		{"Key", "Value"},
		{"Index", strconv.FormatUint(out.Index, 10)},
		{"Term", strconv.FormatUint(out.Term, 10)},
		{"Size", strconv.FormatInt(out.Size, 10)},
		{"Created", out.CreatedAt.Format(time.RFC3339)},
		{"Node", out.NodeID},
		{"Cluster ID", out.ClusterID},
		{"Applied Index", strconv.FormatUint(out.AppliedIndex, 10)},
		{"Keys", strconv.Itoa(out.Keys)},
		{"Database Size", strconv.FormatInt(out.DatabaseSize, 10)},
		{"Checksum", out.Checksum},
	}))
	prefixes := s.Prefixes()
	if len(prefixes) == 0 {
		return exitOK
	}
	rows := [][]string{{"Prefix", "Keys"}}
	for _, p := range prefixes {
		rows = append(rows, []string{p, strconv.Itoa(s.ByPrefix[p])})
	}
	c.outf("")
	c.outf("%s", formatTable(rows))
	return exitOK
}
