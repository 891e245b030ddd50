package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
	bolt "go.etcd.io/bbolt"
)

// The log store's names inside the node's data directory.
const (
	// boltLogFile is raft-boltdb's single file: the log store of data
	// directories created before raft-wal, kept as it is (no migration).
	boltLogFile = "raft.db"
	// walDir holds raft-wal's segment files and its wal-meta.db (segment
	// list and stable store): the log store of every new data directory.
	walDir = "raft-wal"
)

// Names of the two log store implementations, as logged at Open.
const (
	logStoreBolt = "raft-boltdb"
	logStoreWAL  = "raft-wal"
)

// logStore is the Raft log and stable store of one node. Raft is its only
// user while it runs; Close is called once, after Raft has shut down.
// StoreLogs and the stable store's Set/SetUint64 return only once the data
// is durable (fsynced).
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

var (
	_ logStore = (*walStore)(nil)
	_ logStore = (*raftboltdb.BoltStore)(nil)
	// The WAL must stay a monotonic store (Raft then drops the whole log
	// after installing a snapshot, instead of leaving a gap raft-wal refuses).
	_ raft.MonotonicLogStore = (*walStore)(nil)
)

// openLogStore opens the log store in dir and says which one it is: the
// existing raft-boltdb file when dir has one, else raft-wal in dir/raft-wal
// (created when missing). logger receives the store's own log lines.
func openLogStore(dir string, logger hclog.Logger) (logStore, string, error) {
	boltPath := filepath.Join(dir, boltLogFile)
	_, err := os.Stat(boltPath)
	switch {
	case err == nil:
		s, err := raftboltdb.New(raftboltdb.Options{
			Path:        boltPath,
			BoltOptions: &bolt.Options{Timeout: time.Second, NoFreelistSync: true},
		})
		if err != nil {
			return nil, "", fmt.Errorf("open %s: %w", logStoreBolt, err)
		}
		return s, logStoreBolt, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", fmt.Errorf("inspect log store: %w", err)
	}
	s, err := openWAL(filepath.Join(dir, walDir), logger, wal.DefaultSegmentSize)
	if err != nil {
		return nil, "", err
	}
	return s, logStoreWAL, nil
}

// walStore is raft-wal plus its meta database, which wal.WAL.Close leaves
// open (and its file lock held): Close closes both.
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

// openWAL opens (or creates) raft-wal in dir with its defaults (its binary
// codec, no metrics) and segments of segmentSize bytes (64 MiB in
// production, preallocated), zero-filled ahead of the log (zeroAheadFS),
// with their fsyncs timed (timedSyncFS).
func openWAL(dir string, logger hclog.Logger, segmentSize int) (*walStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s dir: %w", logStoreWAL, err)
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir,
		wal.WithMetaStore(meta),
		wal.WithSegmentFiler(indexlessSealFiler{segment.NewFiler(dir, zeroAheadFS{timedSyncFS{walfs.New()}})}),
		wal.WithLogger(logger),
		wal.WithSegmentSize(segmentSize),
	)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open %s: %w", logStoreWAL, err), meta.Close())
	}
	return &walStore{WAL: w, meta: meta}, nil
}

// Close closes the segments (once their readers are done) and then the
// meta database. Raft must have stopped using the store.
func (s *walStore) Close() error {
	err := s.WAL.Close()
	if merr := s.meta.Close(); merr != nil {
		err = errors.Join(err, fmt.Errorf("close %s meta: %w", logStoreWAL, merr))
	}
	return err
}

// indexlessSealFiler opens raft-wal's segment files, also those v0.4.0
// leaves unreadable. Its tail truncation (Raft clearing a conflicting log
// suffix, as a deposed leader does) marks the open tail segment sealed in
// the meta database without writing the segment's index block
// (hashicorp/raft-wal#31, fixed upstream after v0.4.0); the WAL reads it
// fine until it is reopened, when opening that segment's reader fails
// every read ("sealed segment has no index block") and Raft cannot
// start. Such a segment is opened the way a crashed tail is: its frames
// are scanned up to the last commit frame to rebuild the index in memory,
// and reads are bounded by the MaxIndex the truncation recorded.
type indexlessSealFiler struct{ waltypes.SegmentFiler }

func (f indexlessSealFiler) Open(info waltypes.SegmentInfo) (waltypes.SegmentReader, error) {
	if info.IndexStart != 0 {
		return f.SegmentFiler.Open(info)
	}
	w, err := f.SegmentFiler.RecoverTail(info)
	if err != nil {
		return nil, fmt.Errorf("recover segment %d without index: %w", info.ID, err)
	}
	if w.LastIndex() < info.MaxIndex {
		last := w.LastIndex()
		return nil, errors.Join(fmt.Errorf("%w: segment %d without index holds entries up to %d, its meta says %d",
			waltypes.ErrCorrupt, info.ID, last, info.MaxIndex), w.Close())
	}
	return boundedSegment{SegmentReader: w, max: info.MaxIndex}, nil
}

// boundedSegment refuses entries past max: a tail truncation leaves them in
// the file.
type boundedSegment struct {
	waltypes.SegmentReader
	max uint64
}

func (b boundedSegment) GetLog(idx uint64) (*waltypes.PooledBuffer, error) {
	if idx > b.max {
		return nil, waltypes.ErrNotFound
	}
	return b.SegmentReader.GetLog(idx)
}
