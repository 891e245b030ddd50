package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
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

// TestWALZeroAheadAcrossSegments fills segments with tiny entries, whose
// index block (4 bytes an entry) is large: the write that seals a segment
// then ends well past its preallocated size, where no zeros may go. Every
// log must read back after a reopen.
func TestWALZeroAheadAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	// Entries of one byte take 32 bytes of frame and 4 of index, so the
	// index block is a ninth of the segment (1.8 MiB): when the seal comes
	// the last zeros stop short of the end, and the seal writes past it.
	const segment = 16<<20 + 300<<10
	s, err := openWAL(dir, hclog.NewNullLogger(), segment)
	if err != nil {
		t.Fatal(err)
	}
	tiny := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte{byte(i)}}
	}
	const batch, n = 1024, 1024 * 960 // two segments and a bit
	for i := uint64(1); i <= n; i += batch {
		logs := make([]*raft.Log, 0, batch)
		for j := i; j < i+batch; j++ {
			logs = append(logs, tiny(j))
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want the log to have sealed at least two", len(segs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openWAL(dir, hclog.NewNullLogger(), segment)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := uint64(1); i <= n; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil || !bytes.Equal(got.Data, tiny(i).Data) {
			t.Fatalf("log %d after reopen: %v", i, err)
		}
	}
}
