package fsm

import (
	"context"
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Observer is told which watched keys an applied batch touched. It runs on
// Raft's FSM goroutine after the batch is applied (readable by Get) and
// before AppliedIndex moves past it, so anyone who waits for an index
// (WaitApplied) sees the observer's effects. It must be quick and must not
// call back into the FSM's mutating methods. Get already sees the batch;
// List and Scan see it only after WaitApplied for the batch's index (they
// make bbolt current up to the applied index, which moves after the
// observer). After a Restore it is called once with the empty key, meaning
// "everything may have changed".
type Observer func(key string)

// watch holds the observer and the waiters for applied indexes.
type watch struct {
	mu       sync.Mutex
	prefixes []string
	observer Observer
	// changed is closed and replaced every time the applied index moves.
	changed chan struct{}
}

// Observe registers fn for ops whose key starts with one of prefixes (a
// delete-prefix op is reported when its prefix and a watched prefix
// overlap). One observer at a time; a later call replaces the earlier.
func (f *FSM) Observe(prefixes []string, fn Observer) {
	f.watch.mu.Lock()
	defer f.watch.mu.Unlock()
	f.watch.prefixes = append([]string(nil), prefixes...)
	f.watch.observer = fn
}

func (w *watch) current() ([]string, Observer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.prefixes, w.observer
}

// matches reports whether an op on key (or, for delete-prefix, on every
// key under it) can touch a watched prefix.
func matches(prefixes []string, kind OpKind, key string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) || (kind == OpDeletePrefix && strings.HasPrefix(p, key)) {
			return true
		}
	}
	return false
}

// advance publishes a new applied index and wakes its waiters.
func (f *FSM) advance(idx uint64) {
	f.applied.Store(idx)
	f.writeMark(idx)
	f.watch.mu.Lock()
	if f.watch.changed != nil {
		close(f.watch.changed)
		f.watch.changed = nil
	}
	f.watch.mu.Unlock()
}

// WaitApplied blocks until AppliedIndex is at least idx, or ctx ends.
func (f *FSM) WaitApplied(ctx context.Context, idx uint64) error {
	for {
		f.watch.mu.Lock()
		if f.applied.Load() >= idx {
			f.watch.mu.Unlock()
			return nil
		}
		if f.watch.changed == nil {
			f.watch.changed = make(chan struct{})
		}
		ch := f.watch.changed
		f.watch.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fsm: wait for index %d (at %d): %w", idx, f.applied.Load(), ctx.Err())
		}
	}
}

// RaiseApplied records idx as the applied index if it is higher. The
// cluster calls it after a restore: Raft considers everything up to the
// restored snapshot's index applied, even when the snapshot's data was
// taken at a lower index (an operator's restore of an old backup).
func (f *FSM) RaiseApplied(idx uint64) error {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if idx <= f.applied.Load() {
		return nil
	}
	// bbolt's index must not pass entries still in memory.
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	if err := f.flushLocked(); err != nil {
		return fmt.Errorf("fsm: raise applied index: %w", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	if err := f.db.Update(func(tx *bolt.Tx) error {
		return putApplied(tx.Bucket(metaBucket), idx)
	}); err != nil {
		return fmt.Errorf("fsm: raise applied index: %w", err)
	}
	f.ovMu.Lock()
	f.mem.last = idx
	f.ovMu.Unlock()
	f.flushedIndex.Store(idx)
	f.advance(idx)
	return nil
}
