package cluster

import (
	"time"

	waltypes "github.com/hashicorp/raft-wal/types"
)

// zeroAhead is how far past the last log written a new segment file is
// filled with written zeros.
const zeroAhead = 1 << 20

// zeroes is zeroAhead bytes of zeros to write from.
var zeroes [zeroAhead]byte

// zeroAheadFS is raft-wal's file system with segments whose blocks are
// written before logs land in them. raft-wal preallocates a new segment
// with fallocate, which leaves its blocks allocated but unwritten: every
// append then turns a few of them into written blocks, a metadata change,
// so every fsync also commits the file system's journal. On ext4 that
// doubles the fsync time (0.6 ms against 0.25–0.3 ms on the developers'
// machine, BENCHMARKS.md), and Raft's leader loop waits for that fsync on
// every batch. Writing zeros a megabyte ahead of the log converts the
// blocks in one journal commit per megabyte; the appends in between
// overwrite written blocks and their fsyncs are data-only. The bytes are
// the same either way (unwritten blocks read as zeros, and raft-wal reads
// a zero frame header as the end of the segment), so recovery is
// unchanged. Segments opened again after a restart keep raft-wal's
// behaviour until the next one is created.
type zeroAheadFS struct{ waltypes.VFS }

func (z zeroAheadFS) Create(dir, name string, size uint64) (waltypes.WritableFile, error) {
	f, err := z.VFS.Create(dir, name, size)
	if err != nil || size == 0 {
		return f, err
	}
	return &zeroAheadFile{WritableFile: f, size: int64(size)}, nil
}

// zeroAheadFile writes zeros past the highest offset written so far, at
// least half of zeroAhead beyond it, never past the preallocated size and
// never over a byte raft-wal wrote. raft-wal's segment writer is its only
// writer and does not write concurrently.
type zeroAheadFile struct {
	waltypes.WritableFile
	size    int64
	written int64 // end of the highest write
	zeroed  int64 // zeros are written up to here
}

func (f *zeroAheadFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.WritableFile.WriteAt(p, off)
	if err != nil {
		return n, err
	}
	f.written = max(f.written, off+int64(n))
	if f.written+zeroAhead/2 > f.zeroed {
		// The write that seals a segment ends past its size: zero only
		// what lies between the log and the preallocated end.
		from := max(f.zeroed, f.written)
		to := min(from+zeroAhead, f.size)
		if from >= to {
			f.zeroed = max(f.zeroed, f.written)
			return n, nil
		}
		if _, err := f.WritableFile.WriteAt(zeroes[:to-from], from); err != nil {
			// The log bytes are written; only the speed-up is lost.
			// raft-wal's next fsync reports a failing disk.
			f.zeroed = f.size
			return n, nil
		}
		f.zeroed = to
	}
	return n, nil
}

// timedSyncFS is raft-wal's file system with every segment fsync timed
// into coffer_raft_log_fsync_duration_seconds: the fsync each Raft batch
// (and so every acknowledged write) waits for, which BENCHMARKS.md
// compares with the disk's floor from `coffer bench fsync`. Segments
// opened again after a restart are timed too; the meta database's own
// fsyncs (segment list, term and vote) are not.
type timedSyncFS struct{ waltypes.VFS }

func (t timedSyncFS) Create(dir, name string, size uint64) (waltypes.WritableFile, error) {
	return timed(t.VFS.Create(dir, name, size))
}

func (t timedSyncFS) OpenWriter(dir, name string) (waltypes.WritableFile, error) {
	return timed(t.VFS.OpenWriter(dir, name))
}

func timed(f waltypes.WritableFile, err error) (waltypes.WritableFile, error) {
	if err != nil {
		return nil, err
	}
	return timedSyncFile{f}, nil
}

type timedSyncFile struct{ waltypes.WritableFile }

func (f timedSyncFile) Sync() error {
	start := time.Now()
	err := f.WritableFile.Sync()
	logFsyncDuration.Observe(time.Since(start).Seconds())
	return err
}
