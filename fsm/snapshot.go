package fsm

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// Snapshot stream format (version 1):
//
//	header   "COFFSNAP" (8 bytes) + format version (1 byte)
//	body     one zstd stream of the bbolt database file (tx.WriteTo)
//	trailer  SHA-256 (32 bytes) of header and body, i.e. of every byte
//	         before the trailer
//
// The zstd frames also carry their own content checksum.
const (
	snapshotMagic   = "COFFSNAP"
	snapshotVersion = 1
	headerLen       = len(snapshotMagic) + 1
	trailerLen      = sha256.Size
)

// zstd window bounds: the encoder's window is what the decoder must hold in
// memory, and the decoder refuses anything larger.
const (
	encoderWindow    = 8 << 20
	maxDecoderWindow = 64 << 20
)

// Snapshot flushes the in-memory layer, checkpoints the database (Sync, so
// the file on disk is never behind the newest snapshot) and opens the read
// transaction Persist will stream. It is cheap; the copy happens in
// Persist, concurrently with ApplyBatch.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	// The snapshot is bbolt's file: it must hold every applied entry.
	if err := f.flush(); err != nil {
		// After a failure Raft would record a snapshot index past entries
		// the file never received.
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	if err := f.db.Sync(); err != nil {
		return nil, fmt.Errorf("fsm: snapshot: sync: %w", err)
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("fsm: snapshot: begin: %w", err)
	}
	return &snapshot{tx: tx, logger: f.logger}, nil
}

// snapshot is a point-in-time read transaction awaiting Persist. It must
// never take FSM.mu: Restore and Close hold it while bbolt's Close waits
// for this transaction to end.
type snapshot struct {
	tx     *bolt.Tx
	logger *slog.Logger
	once   sync.Once
}

var _ raft.FSMSnapshot = (*snapshot)(nil)

// Persist streams the snapshot to sink and closes it (or cancels it on
// error). Memory use is bounded by the zstd window, whatever the database
// size.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	err := s.writeTo(sink)
	s.Release()
	if err != nil {
		_ = sink.Cancel()
		s.logger.Error("fsm: persist snapshot failed", "error", err)
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("fsm: persist snapshot: close sink: %w", err)
	}
	return nil
}

// writeTo writes header, compressed database and trailer to w.
func (s *snapshot) writeTo(w io.Writer) error {
	h := sha256.New()
	hw := io.MultiWriter(w, h)
	header := append([]byte(snapshotMagic), snapshotVersion)
	if _, err := hw.Write(header); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	enc, err := zstd.NewWriter(hw,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithWindowSize(encoderWindow),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if _, err := s.tx.WriteTo(enc); err != nil {
		_ = enc.Close()
		return fmt.Errorf("copy database: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("trailer: %w", err)
	}
	return nil
}

// Release ends the read transaction; safe to call more than once.
func (s *snapshot) Release() {
	s.once.Do(func() { _ = s.tx.Rollback() })
}
