package fsm

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Applied entries go to an in-memory layer first and reach bbolt in one
// write transaction per flush, not one per batch: a key written many times
// between flushes costs one bbolt put, and the leaf pages a flush touches
// are rewritten once. The Raft log is the durability either way (an
// unflushed layer is lost with the process and replayed from the log, as an
// unsynced bbolt commit is lost with the machine).
const (
	// flushInterval is how often the flusher writes the layer to bbolt.
	flushInterval = 500 * time.Millisecond
	// flushBytes starts a flush before the interval ends.
	flushBytes = 16 << 20
	// maxLayerBytes is the backpressure point: ApplyBatch flushes itself
	// before applying more when the flusher has fallen this far behind.
	maxLayerBytes = 128 << 20
	// maxTombstones starts a flush early: every Get checks each one.
	maxTombstones = 64
	// entryOverhead approximates a layer entry's bookkeeping in bytes.
	entryOverhead = 64
)

// layer holds the effect of consecutive applied entries on top of what lies
// below it (an older layer or bbolt).
type layer struct {
	// kv is the last put or delete of each key since the layer began.
	kv map[string]layerValue
	// tombs are the delete-prefix ops of the layer, in order; each hides
	// every key under it in the layers below. A put or delete after a
	// delete-prefix is in kv, which is consulted first: delPrefix removes
	// the entries it covers, so an entry in kv is always newer than every
	// tombstone over it.
	tombs []string
	// last is the index of the last entry applied (the applied index the
	// flush records).
	last  uint64
	bytes int
}

type layerValue struct {
	value   []byte
	deleted bool
}

func newLayer(last uint64) *layer {
	return &layer{kv: make(map[string]layerValue), last: last}
}

func (l *layer) apply(kind OpKind, key string, value []byte) {
	switch kind {
	case OpPut:
		l.kv[key] = layerValue{value: value}
		l.bytes += len(key) + len(value) + entryOverhead
	case OpDelete:
		l.kv[key] = layerValue{deleted: true}
		l.bytes += len(key) + entryOverhead
	case OpDeletePrefix:
		for k := range l.kv {
			if strings.HasPrefix(k, key) {
				delete(l.kv, k)
			}
		}
		l.tombs = append(l.tombs, key)
		l.bytes += len(key) + entryOverhead
	}
}

// lookup reports what the layer says about key: found is false when the
// answer lies below it.
func (l *layer) lookup(key string) (value []byte, deleted, found bool) {
	if e, ok := l.kv[key]; ok {
		return e.value, e.deleted, true
	}
	for _, p := range l.tombs {
		if strings.HasPrefix(key, p) {
			return nil, true, true
		}
	}
	return nil, false, false
}

// writeTo applies the layer to the data bucket: tombstones first (they are
// older than every entry left in kv), then the keys in order, so bbolt
// walks its pages once.
func (l *layer) writeTo(data *bolt.Bucket) error {
	for _, p := range l.tombs {
		if err := applyOp(data, OpDeletePrefix, []byte(p), nil); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(l.kv)) {
		e, kind := l.kv[k], OpPut
		if e.deleted {
			kind = OpDelete
		}
		if err := applyOp(data, kind, []byte(k), e.value); err != nil {
			return err
		}
	}
	return nil
}

// failure wraps the sticky error so it fits an atomic.Pointer.
type failure struct{ err error }

// failure returns the sticky error, nil while the FSM is healthy.
func (f *FSM) failure() error {
	if p := f.failed.Load(); p != nil {
		return p.err
	}
	return nil
}

// lookup consults the in-memory layers for key, then the read cache.
// When none has it, gen is the cache generation to fill it with after
// reading bbolt (see readCache). Called with mu held.
func (f *FSM) lookup(key string) (value []byte, deleted, found bool, gen uint64) {
	f.ovMu.RLock()
	defer f.ovMu.RUnlock()
	if value, deleted, found = f.mem.lookup(key); found {
		return value, deleted, true, 0
	}
	if f.flushing != nil {
		if value, deleted, found = f.flushing.lookup(key); found {
			return value, deleted, true, 0
		}
	}
	value, found, gen = f.cache.get(key)
	return value, false, found, gen
}

// layerFull reports whether ApplyBatch must flush before applying more.
func (f *FSM) layerFull() bool {
	f.ovMu.RLock()
	defer f.ovMu.RUnlock()
	return f.mem.bytes >= maxLayerBytes
}

// flush writes every applied entry still in memory to bbolt.
func (f *FSM) flush() error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	return f.flushLocked()
}

// flushedThrough makes bbolt hold every entry applied when it was called, for the
// reads that walk bbolt's keys in order (List, Scan). Concurrent callers
// share one flush.
func (f *FSM) flushedThrough() error {
	target := f.applied.Load()
	if f.flushedIndex.Load() >= target {
		return nil
	}
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	if f.flushedIndex.Load() >= target {
		return nil
	}
	return f.flushLocked()
}

// flushLocked moves the current layer aside (readers still see it), writes
// it to bbolt with its applied index in one transaction, then drops it.
// Called with flushMu held and mu not held. A failed write is sticky, like
// a failed apply was before layers: the layer stays readable, ApplyBatch
// refuses further entries and the node must restart to replay from its log.
func (f *FSM) flushLocked() error {
	if err := f.failure(); err != nil {
		return err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	f.ovMu.Lock()
	l := f.mem
	if l.last <= f.flushedIndex.Load() {
		f.ovMu.Unlock()
		return nil
	}
	f.flushing, f.mem = l, newLayer(l.last)
	f.ovMu.Unlock()
	if f.beforeFlushWrite != nil {
		f.beforeFlushWrite()
	}

	done := flushStarted(len(l.kv) + len(l.tombs))
	err := f.db.Update(func(tx *bolt.Tx) error {
		data, meta := tx.Bucket(dataBucket), tx.Bucket(metaBucket)
		if data == nil || meta == nil {
			return errors.New("missing buckets")
		}
		if err := l.writeTo(data); err != nil {
			return err
		}
		return putApplied(meta, l.last)
	})
	done()
	if err != nil {
		fail := fmt.Errorf("%w: write entries through %d: %w", ErrFailed, l.last, err)
		f.failed.Store(&failure{fail})
		f.logger.Error("fsm: flush to database failed; refusing further entries until restart",
			"last_index", l.last, "error", err)
		return fail
	}
	f.flushedIndex.Store(l.last)
	f.cache.flushed(l)
	f.ovMu.Lock()
	f.flushing = nil
	f.ovMu.Unlock()
	return nil
}

// resetLayers starts empty layers at applied, after the database was
// replaced. Called with flushMu and mu held exclusively.
func (f *FSM) resetLayers(applied uint64) {
	f.ovMu.Lock()
	f.mem, f.flushing = newLayer(applied), nil
	f.cache.reset()
	f.ovMu.Unlock()
	f.flushedIndex.Store(applied)
}

// runFlusher flushes every flushInterval, or sooner when ApplyBatch kicks
// it, until stop is closed.
func (f *FSM) runFlusher() {
	defer close(f.flusherDone)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-f.stopFlusher:
			return
		case <-t.C:
		case <-f.kick:
		}
		// A failure is logged once, where it happens; ErrClosed means
		// Close is about to stop this goroutine.
		_ = f.flush()
	}
}
