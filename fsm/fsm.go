package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// File names inside the FSM directory.
const (
	dbFileName      = "fsm.db"
	restoreFileName = "fsm.db.restore"
)

// Bucket and key names inside the bbolt database.
var (
	dataBucket = []byte("data")
	metaBucket = []byte("meta")
	appliedKey = []byte("applied_index")
)

// MaxRestoreSize bounds the decompressed database Restore accepts (64 GiB),
// so a hostile or broken snapshot cannot fill the disk.
const MaxRestoreSize int64 = 64 << 30

// openTimeout bounds the wait for bbolt's file lock, so a second process
// pointed at the same directory fails instead of hanging.
const openTimeout = 5 * time.Second

// FSM is the replicated state machine. Raft calls ApplyBatch, Apply,
// Snapshot and Restore from its FSM goroutine; Get, List and AppliedIndex
// may be called concurrently from any goroutine.
//
// Applied entries land in an in-memory layer (mem) that a background
// flusher writes to bbolt in one transaction (see overlay.go); Get looks in
// the layers first, List and Scan make bbolt current before they walk it.
type FSM struct {
	dir    string
	path   string
	logger *slog.Logger

	// applyMu serialises the mutating entry points (ApplyBatch, Snapshot,
	// Restore, RaiseApplied); Raft already does, this makes it true for any
	// caller.
	// Lock order: applyMu, flushMu, mu, ovMu.
	applyMu sync.Mutex
	// failed is the sticky error after a failed write to bbolt.
	failed atomic.Pointer[failure]

	// flushMu serialises flushes, and Restore and Close against them.
	flushMu sync.Mutex

	// mu guards db: readers, ApplyBatch and flushes hold it shared, Restore
	// and Close exclusively while they swap or close the database.
	mu sync.RWMutex
	db *bolt.DB

	// ovMu guards the layers: mem (mutated by ApplyBatch) and flushing
	// (the layer a flush is writing, still read until it is in bbolt).
	ovMu     sync.RWMutex
	mem      *layer
	flushing *layer
	// cache holds values read from bbolt (see readCache).
	cache *readCache
	// flushedIndex is the applied index bbolt holds.
	flushedIndex atomic.Uint64

	kick        chan struct{}
	stopFlusher chan struct{}
	flusherDone chan struct{}
	stopOnce    sync.Once

	applied atomic.Uint64
	watch   watch

	// maxRestore is MaxRestoreSize; tests lower it.
	maxRestore int64
	// mark is the applied mark file (see markFileName), markBuf its
	// buffer (see writeMark); crashMark is the index the previous process
	// had applied when it crashed in this boot, 0 if unknown.
	mark       *os.File
	markBuf    [8]byte
	markFailed bool
	crashMark  uint64

	// beforeFlushWrite, when set by a test, runs in a flush between moving
	// the layer aside and writing it.
	beforeFlushWrite func()
	// afterDiskRead, when set by a test, runs in Get between reading
	// bbolt and filling the cache.
	afterDiskRead func()
}

var _ raft.BatchingFSM = (*FSM)(nil)

// Open opens (creating if needed) the bbolt database at dir/fsm.db. If the
// previous process using dir did not Close it and the machine has rebooted
// since, the file may be torn (it is written without fsync) and is discarded:
// the FSM then starts empty with AppliedIndex 0 and the cluster must restore
// the latest snapshot (see DESIGN.md). A nil logger discards logs.
func Open(dir string, logger *slog.Logger) (*FSM, error) {
	return open(dir, logger, readBootID)
}

// open is Open with the boot id source injected (tests simulate reboots).
func open(dir string, logger *slog.Logger, bootID func() []byte) (*FSM, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fsm: create dir: %w", err)
	}
	f := &FSM{
		dir:        dir,
		path:       filepath.Join(dir, dbFileName),
		logger:     logger,
		maxRestore: MaxRestoreSize,
	}
	// A restore interrupted by a crash leaves its temp file behind.
	if err := os.Remove(filepath.Join(dir, restoreFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("fsm: remove stale restore file: %w", err)
	}
	boot := bootID()
	crashed, err := f.recoverUncleanShutdown(boot)
	if err != nil {
		return nil, err
	}
	f.mark, f.crashMark, err = openMark(dir, crashed)
	if err != nil {
		return nil, err
	}
	if err := writeOpenMarker(dir, boot); err != nil {
		_ = f.mark.Close()
		return nil, err
	}
	db, applied, err := openDB(f.path)
	if err != nil {
		_ = f.mark.Close()
		return nil, err
	}
	f.db = db
	f.applied.Store(applied)
	// Until Replay has run, the mark must keep the crashed process's
	// index, or a second crash would forget it.
	f.writeMark(max(applied, f.crashMark))
	f.mem = newLayer(applied)
	f.cache = newReadCache()
	f.flushedIndex.Store(applied)
	f.kick = make(chan struct{}, 1)
	f.stopFlusher = make(chan struct{})
	f.flusherDone = make(chan struct{})
	go f.runFlusher()
	return f, nil
}

// openDB opens the database at path with the FSM's options, creates the
// buckets if missing and returns the recorded applied index.
func openDB(path string) (*bolt.DB, uint64, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         openTimeout,
		InitialMmapSize: initialMmapSize(path),
		// The Raft log is the durability; Sync checkpoints the file.
		NoSync:         true,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("fsm: open database: %w", err)
	}
	var applied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(dataBucket); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		applied, err = readApplied(meta)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, 0, fmt.Errorf("fsm: init database: %w", err)
	}
	return db, applied, nil
}

// initialMmapSize is the size bbolt maps up front: at least 1 GiB and twice
// the current file, on 64-bit platforms. A commit that outgrows the mapping
// must remap, and a remap waits for every open read transaction, including
// the one a running snapshot Persist holds; the headroom makes that stall
// rare. The mapping is address space, not memory.
func initialMmapSize(path string) int {
	if strconv.IntSize < 64 {
		return 0
	}
	size := 1 << 30
	if info, err := os.Stat(path); err == nil && int(2*info.Size()) > size {
		size = int(2 * info.Size())
	}
	return size
}

// readApplied returns the applied index recorded in the meta bucket, 0 when
// none is.
func readApplied(meta *bolt.Bucket) (uint64, error) {
	v := meta.Get(appliedKey)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("applied index of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// putApplied records idx as the applied index in the meta bucket.
func putApplied(meta *bolt.Bucket, idx uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], idx)
	return meta.Put(appliedKey, b[:])
}

// AppliedIndex is the index of the last log entry applied (visible to Get,
// List and Scan). bbolt records, in the same transaction as the data, the
// index a flush covered; after a crash the FSM reopens at that index and
// Raft replays the rest.
func (f *FSM) AppliedIndex() uint64 {
	return f.applied.Load()
}

// Apply applies one log entry; see ApplyBatch.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies logs to the in-memory layer and records the index of
// the last log as the applied index; the flusher writes the layer to bbolt
// later, in one transaction with that index. Entries at or below
// AppliedIndex are skipped (already applied before a restart); entries
// that are not raft.LogCommand are skipped but still advance the index. The
// result has one element per log: nil on success (and for skipped entries),
// an error wrapping ErrBadCommand for an entry that does not decode (that
// entry alone is skipped, deterministically). After a failed write to bbolt
// every element is an error wrapping ErrFailed (see ErrFailed).
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	results := make([]interface{}, len(logs))
	if len(logs) == 0 {
		return results
	}
	fill := func(err error) []interface{} {
		for i := range results {
			results[i] = err
		}
		return results
	}

	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if err := f.failure(); err != nil {
		return fill(err)
	}
	if f.layerFull() {
		// The flusher has fallen behind: wait for it rather than grow.
		if err := f.flush(); err != nil {
			return fill(err)
		}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return fill(ErrClosed)
	}

	last := logs[len(logs)-1].Index
	applied := f.applied.Load()
	if last <= applied {
		return results
	}
	prefixes, observe := f.watch.current()
	defer applyStarted(len(logs))()
	var touched []string
	f.ovMu.Lock()
	for i, l := range logs {
		if l.Index <= applied || l.Type != raft.LogCommand {
			continue
		}
		// Validate the whole entry first: a bad entry must not be half
		// applied. A valid one cannot fail later in bbolt either: the
		// decoder enforces bbolt's key and value limits.
		if err := walkCommand(l.Data, nil, func(OpKind, []byte, []byte) error { return nil }); err != nil {
			results[i] = fmt.Errorf("entry %d: %w", l.Index, err)
			f.logger.Warn("fsm: skipping malformed command", "index", l.Index, "error", err)
			continue
		}
		// The layer keeps values until its flush: one copy per entry,
		// which the values alias.
		data := bytes.Clone(l.Data)
		_ = walkCommand(data, nil, func(kind OpKind, key, value []byte) error {
			k := string(key)
			if observe != nil && matches(prefixes, kind, k) {
				touched = append(touched, k)
			}
			f.mem.apply(kind, k, value)
			return nil
		})
	}
	f.mem.last = last
	full := f.mem.bytes >= flushBytes || len(f.mem.tombs) >= maxTombstones
	f.ovMu.Unlock()
	for _, k := range touched {
		observe(k)
	}
	f.advance(last)
	if full {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
	return results
}

// applyOp performs one validated op on the data bucket.
func applyOp(data *bolt.Bucket, kind OpKind, key, value []byte) error {
	switch kind {
	case OpPut:
		return data.Put(key, value)
	case OpDelete:
		return data.Delete(key)
	case OpDeletePrefix:
		return deletePrefix(data, key)
	}
	return fmt.Errorf("%w: unknown op kind %d", ErrBadCommand, kind)
}

// deletePrefix deletes every key starting with prefix. It seeks again after
// each delete rather than trusting Next on a cursor whose page just changed.
func deletePrefix(data *bolt.Bucket, prefix []byte) error {
	c := data.Cursor()
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// Get returns a copy of the value stored at key, or (nil, nil) when absent.
func (f *FSM) Get(key string) ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	v, deleted, found, gen := f.lookup(key)
	if found {
		if deleted {
			return nil, nil
		}
		return append(make([]byte, 0, len(v)), v...), nil
	}
	var out []byte
	err := f.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(dataBucket).Get([]byte(key)); v != nil {
			out = append(make([]byte, 0, len(v)), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fsm: get: %w", err)
	}
	if f.afterDiskRead != nil {
		f.afterDiskRead()
	}
	f.cache.add(key, out, gen)
	return out, nil
}

// List returns the immediate children of prefix, sorted, Vault style: keys
// "a/b", "a/c/d" and "a/c/e" under prefix "a/" list as ["b", "c/"]. A key
// equal to prefix is not a child of it. prefix need not end at a '/'. The
// cost is one seek per returned child, however many descendants a "dir/"
// child has. It returns nil when there are no children.
func (f *FSM) List(prefix string) ([]string, error) {
	if err := f.flushedThrough(); err != nil {
		return nil, fmt.Errorf("fsm: list: %w", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	var out []string
	err := f.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(dataBucket).Cursor()
		p := []byte(prefix)
		seek := make([]byte, 0, 64)
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); {
			rest := k[len(p):]
			slash := -1
			for i, ch := range rest {
				if ch == '/' {
					slash = i
					break
				}
			}
			if slash < 0 {
				if len(rest) > 0 {
					out = append(out, string(rest))
				}
				k, _ = c.Next()
				continue
			}
			out = append(out, string(rest[:slash+1]))
			// Skip every key under prefix+child: '0' is the byte after '/'.
			seek = append(append(append(seek[:0], p...), rest[:slash]...), '/'+1)
			k, _ = c.Seek(seek)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fsm: list: %w", err)
	}
	return out, nil
}

// Sync flushes the in-memory layer and fsyncs the database file: a
// checkpoint after which the file holds every entry applied so far even
// across power loss. The cluster calls it periodically and before shutdown;
// Snapshot and Close do the same.
func (f *FSM) Sync() error {
	if err := f.flush(); err != nil {
		return fmt.Errorf("fsm: sync: %w", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	defer syncStarted()()
	if err := f.db.Sync(); err != nil {
		return fmt.Errorf("fsm: sync: %w", err)
	}
	return nil
}

// Close stops the flusher, writes what it holds, syncs and closes the
// database and records a clean shutdown. It waits for an in-flight
// snapshot Persist to finish. Calling it again is a no-op.
func (f *FSM) Close() error {
	f.stopOnce.Do(func() {
		close(f.stopFlusher)
		<-f.flusherDone
	})
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	flushErr := f.flushLocked()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		// Closed before, or left closed by a failed Restore.
		if f.mark != nil {
			err := f.mark.Close()
			f.mark = nil
			if err != nil {
				return fmt.Errorf("fsm: close: %w", err)
			}
		}
		return nil
	}
	db := f.db
	f.db = nil
	f.cache.reset()
	syncErr := db.Sync()
	closeErr := db.Close()
	markErr := f.mark.Close()
	f.mark = nil
	if err := errors.Join(flushErr, syncErr, closeErr, markErr); err != nil {
		// Leave the open marker: the file is not known to be durable.
		return fmt.Errorf("fsm: close: %w", err)
	}
	if f.applied.Load() < f.crashMark {
		// Closed before the replay it was opened for: keep the marker so
		// that the next Open in this boot still trusts the mark.
		return nil
	}
	if err := removeOpenMarker(f.dir); err != nil {
		return fmt.Errorf("fsm: close: %w", err)
	}
	return nil
}
