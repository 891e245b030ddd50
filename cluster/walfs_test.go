package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"
)

// TestWALZeroesAhead writes a few megabytes of logs and checks, on the
// segment file itself, that the blocks past the last log are written (not
// just allocated) at least half of zeroAhead ahead, that the rest of the
// preallocation is left alone, and that every log reads back after a
// reopen.
func TestWALZeroesAhead(t *testing.T) {
	dir := t.TempDir()
	s, kind := mustLogStore(t, dir)
	if kind != logStoreWAL {
		t.Fatalf("opened %s", kind)
	}
	big := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 64<<10)}
	}
	const n = 40 // 2.5 MiB of data
	for i := uint64(1); i <= n; i += 4 {
		if err := s.StoreLogs([]*raft.Log{big(i), big(i + 1), big(i + 2), big(i + 3)}); err != nil {
			t.Fatalf("store: %v", err)
		}
	}
	segs, err := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments: %v %v", segs, err)
	}
	f, err := os.Open(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	hole, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_HOLE)
	if err != nil {
		t.Skipf("SEEK_HOLE: %v", err)
	}
	if hole == info.Size() {
		t.Skip("this file system does not report unwritten blocks as holes")
	}
	if min := int64(n*64<<10) + zeroAhead/2; hole < min {
		t.Fatalf("written blocks end at %d, want at least %d (data plus half of zeroAhead)", hole, min)
	}
	if max := int64(n*(64<<10+64)) + 2*zeroAhead; hole > max {
		t.Fatalf("written blocks end at %d, past %d: zeros written far beyond the log", hole, max)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = mustLogStore(t, dir)
	for i := uint64(1); i <= n; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil || !bytes.Equal(got.Data, big(i).Data) {
			t.Fatalf("log %d after reopen: %v (data equal %v)", i, err, bytes.Equal(got.Data, big(i).Data))
		}
	}
}
