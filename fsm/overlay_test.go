package fsm

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// model is the reference state: a plain map with the FSM's read semantics.
type model map[string]string

func (m model) apply(ops []Op) {
	for _, op := range ops {
		switch op.Kind {
		case OpPut:
			m[op.Key] = string(op.Value)
		case OpDelete:
			delete(m, op.Key)
		case OpDeletePrefix:
			for k := range m {
				if strings.HasPrefix(k, op.Key) {
					delete(m, k)
				}
			}
		}
	}
}

func (m model) list(prefix string) []string {
	seen := map[string]bool{}
	for k := range m {
		if !strings.HasPrefix(k, prefix) || k == prefix {
			continue
		}
		rest := k[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	if len(seen) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(seen))
}

func (m model) scan(prefix, after string, limit int) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if strings.HasPrefix(k, prefix) && k > after && len(out) < limit {
			out = append(out, k)
		}
	}
	return out
}

// randomOps draws a few ops over a small key space, so that keys are
// overwritten, deleted and hidden by delete-prefix ops across layers.
func randomOps(r *rand.Rand, seq int) []Op {
	keys := []string{"a", "a/1", "a/2", "a/b/1", "a/b/2", "ab", "b/1", "b/c/d", "c"}
	prefixes := []string{"a/", "a/b/", "a", "b/", "b/c/", "zz"}
	ops := make([]Op, 1+r.IntN(4))
	for i := range ops {
		switch n := r.IntN(20); {
		case n < 13:
			ops[i] = put(keys[r.IntN(len(keys))], fmt.Sprint(seq, ".", i))
		case n < 18:
			ops[i] = del(keys[r.IntN(len(keys))])
		default:
			ops[i] = delPrefix(prefixes[r.IntN(len(prefixes))])
		}
	}
	return ops
}

// checkModel compares every read against the model. withWalks includes
// List and Scan, which flush and so cannot run inside a flush.
func checkModel(t *testing.T, f *FSM, m model, withWalks bool) {
	t.Helper()
	for _, k := range []string{"a", "a/1", "a/2", "a/b/1", "a/b/2", "ab", "b/1", "b/c/d", "c", "zz"} {
		got, err := f.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := m[k]
		if ok != (got != nil) || string(got) != want {
			t.Fatalf("Get(%q) = %q (present %v), model %q (present %v)", k, got, got != nil, want, ok)
		}
	}
	if !withWalks {
		return
	}
	for _, p := range []string{"", "a", "a/", "a/b/", "b/", "zz"} {
		got, err := f.List(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := m.list(p); !slices.Equal(got, want) {
			t.Fatalf("List(%q) = %q, model %q", p, got, want)
		}
		gotScan, err := f.Scan(p, "a/1", 3)
		if err != nil {
			t.Fatal(err)
		}
		if want := m.scan(p, "a/1", 3); !slices.Equal(gotScan, want) {
			t.Fatalf("Scan(%q) = %q, model %q", p, gotScan, want)
		}
	}
}

// flushWith flushes with hook run between moving the layer aside and
// writing it. The hook may apply entries and read, but not List or Scan.
func flushWith(f *FSM, hook func()) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.beforeFlushWrite = hook
	defer func() { f.beforeFlushWrite = nil }()
	return f.flushLocked()
}

// TestLayersMatchModel applies random batches with flushes at random
// points, some of them interrupted by more batches while the older layer is
// being written, and checks every read against a plain map.
func TestLayersMatchModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 7))
			f := mustOpen(t, "")
			m := model{}
			index := uint64(0)
			applyRandom := func() {
				index++
				ops := randomOps(r, int(index))
				mustApply(t, f, cmdLog(index, ops...))
				m.apply(ops)
			}
			duringFlush := func() {
				// Reads see the layer being written and the new one above.
				checkModel(t, f, m, false)
				for range r.IntN(4) {
					applyRandom()
					checkModel(t, f, m, false)
				}
			}
			for range 300 {
				applyRandom()
				switch r.IntN(10) {
				case 0:
					// Only this flush is interrupted: List and Scan must
					// see what was applied before they began, not during.
					if err := flushWith(f, duringFlush); err != nil {
						t.Fatal(err)
					}
				case 1:
					checkModel(t, f, m, true) // List and Scan flush
					continue
				}
				checkModel(t, f, m, false)
			}
			checkModel(t, f, m, true)
			if got := dump(t, f); !maps.Equal(got, map[string]string(m)) {
				t.Fatalf("bbolt after the last flush = %v, model %v", got, m)
			}
		})
	}
}

// crashWithoutFlush stops f the way a killed process stops: the flusher
// and the in-memory layer are gone, bbolt holds what the last flush wrote.
func crashWithoutFlush(t *testing.T, f *FSM) {
	t.Helper()
	f.stopOnce.Do(func() { close(f.stopFlusher); <-f.flusherDone })
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	f.db = nil
	_ = f.mark.Close()
}

// TestReplayAfterCrash: a process that dies before a flush reopens at the
// last flushed index; in the same boot its applied mark tells Replay to
// apply the rest from the log before Raft starts, so the node serves the
// state it had. After a reboot the mark is not trusted (the database is
// discarded then; Raft and the snapshot rebuild it).
func TestReplayAfterCrash(t *testing.T) {
	t.Parallel()
	logs := map[uint64]*raft.Log{
		1: cmdLog(1, put("a", "1"), put("b", "1")),
		2: cmdLog(2, put("a", "2"), delPrefix("b")),
		3: cmdLog(3, put("c", "3")),
	}
	get := func(i uint64, l *raft.Log) error {
		if e, ok := logs[i]; ok {
			*l = *e
			return nil
		}
		return errors.New("not found")
	}
	crashed := func(t *testing.T, boot string) *FSM {
		dir := t.TempDir()
		f, err := open(dir, nil, testBootID)
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, f, logs[1])
		if err := f.flush(); err != nil {
			t.Fatal(err)
		}
		mustApply(t, f, logs[2], logs[3])
		crashWithoutFlush(t, f)
		f, err = open(dir, nil, func() []byte { return []byte(boot) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}

	t.Run("same boot", func(t *testing.T) {
		t.Parallel()
		f := crashed(t, "test-boot")
		if got := f.AppliedIndex(); got != 1 {
			t.Fatalf("applied after the crash = %d, want the flushed 1", got)
		}
		n, err := f.Replay(f.CrashMark(), get)
		if err != nil || n != 2 {
			t.Fatalf("Replay = %d, %v; want 2 entries", n, err)
		}
		want := map[string]string{"a": "2", "c": "3"}
		mustGetAll(t, f, want, "b")
		if got := f.AppliedIndex(); got != 3 {
			t.Fatalf("applied after replay = %d, want 3", got)
		}
		// Raft delivers the entries again later: they are skipped.
		mustApply(t, f, logs[1], logs[2], logs[3])
		if got := dump(t, f); !maps.Equal(got, want) {
			t.Fatalf("state after replay = %v, want %v", got, want)
		}
		if n, err := f.Replay(f.CrashMark(), get); err != nil || n != 0 {
			t.Fatalf("second Replay = %d, %v; want nothing", n, err)
		}
	})
	t.Run("reboot", func(t *testing.T) {
		t.Parallel()
		f := crashed(t, "another-boot")
		if n, err := f.Replay(f.CrashMark(), get); err != nil || n != 0 {
			t.Fatalf("Replay after a reboot = %d, %v; want nothing", n, err)
		}
		if got := f.AppliedIndex(); got != 0 {
			t.Fatalf("applied after a reboot = %d, want 0 (database discarded)", got)
		}
	})
	t.Run("a restore rewrites the mark", func(t *testing.T) {
		t.Parallel()
		// After a restore (here an older backup), a crash must not lead a
		// later start to replay entries from before it.
		backup := mustOpen(t, "")
		mustApply(t, backup, cmdLog(1, put("a", "backup")))
		snap := mustSnapshot(t, backup)
		f := crashed(t, "test-boot")
		if err := restoreBytes(f, snap); err != nil {
			t.Fatal(err)
		}
		dir := f.dir
		crashWithoutFlush(t, f)
		f, err := open(dir, nil, testBootID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		if mark := f.CrashMark(); mark > f.AppliedIndex() {
			t.Fatalf("mark %d after a restore at %d: a replay would apply older entries over it", mark, f.AppliedIndex())
		}
		mustGetAll(t, f, map[string]string{"a": "backup"}, "b", "c")
	})
	t.Run("closed before its replay", func(t *testing.T) {
		t.Parallel()
		// A start that fails before Replay must not forget the mark.
		f := crashed(t, "test-boot")
		dir := f.dir
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := open(dir, nil, testBootID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		if n, err := f.Replay(f.CrashMark(), get); err != nil || n != 2 {
			t.Fatalf("Replay after an interrupted start = %d, %v; want 2 entries", n, err)
		}
	})
	t.Run("log ends early", func(t *testing.T) {
		t.Parallel()
		f := crashed(t, "test-boot")
		short := func(i uint64, l *raft.Log) error {
			if i == 3 {
				return errors.New("not found")
			}
			return get(i, l)
		}
		if n, err := f.Replay(f.CrashMark(), short); err != nil || n != 1 {
			t.Fatalf("Replay = %d, %v; want 1 entry", n, err)
		}
		mustGetAll(t, f, map[string]string{"a": "2"}, "b", "c")
	})
}

// TestFlusherWritesInBackground: without any Sync, Snapshot or walk, the
// flusher puts applied entries into bbolt with their index.
func TestFlusherWritesInBackground(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustApply(t, f, cmdLog(1, put("a", "1")))
	deadline := time.Now().Add(10 * time.Second)
	for f.flushedIndex.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not write entry 1 within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var got []byte
	f.mu.RLock()
	err := f.db.View(func(tx *bolt.Tx) error {
		got = append(got, tx.Bucket(dataBucket).Get([]byte("a"))...)
		applied, err := readApplied(tx.Bucket(metaBucket))
		if err == nil && applied != 1 {
			err = fmt.Errorf("recorded applied index %d, want 1", applied)
		}
		return err
	})
	f.mu.RUnlock()
	if err != nil || string(got) != "1" {
		t.Fatalf("bbolt holds a = %q, %v", got, err)
	}
}

// TestRaiseAppliedFlushesFirst: the raised index is written to bbolt only
// with the entries below it, or a crash would skip them on replay.
func TestRaiseAppliedFlushesFirst(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustApply(t, f, cmdLog(1, put("a", "1")))
	if err := f.RaiseApplied(10); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, f); got["a"] != "1" {
		t.Fatalf("bbolt = %v after RaiseApplied, want a=1", got)
	}
	if got := f.flushedIndex.Load(); got != 10 {
		t.Fatalf("flushed index = %d, want 10", got)
	}
	if r := f.Apply(cmdLog(10, put("b", "2"))); r != nil {
		t.Fatal(r)
	}
	if _, err := f.Get("b"); err != nil || errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if v, _ := f.Get("b"); v != nil {
		t.Fatalf("entry 10 was applied after the raise to 10: b = %q", v)
	}
}

// TestCacheNeverKeepsAReplacedValue reads a key from bbolt, and before
// the read fills the cache, a newer value of the key is applied and
// flushed: the late fill must not bring the old value back once the
// layers no longer hold the new one.
func TestCacheNeverKeepsAReplacedValue(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustApply(t, f, cmdLog(1, put("k", "old")))
	if err := f.flush(); err != nil {
		t.Fatal(err)
	}
	read, resume := make(chan struct{}), make(chan struct{})
	f.afterDiskRead = func() { close(read); <-resume }
	got := make(chan []byte, 1)
	go func() {
		v, err := f.Get("k")
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	<-read
	f.afterDiskRead = nil // only the reader above waits
	mustApply(t, f, cmdLog(2, put("k", "new")))
	if err := f.flush(); err != nil {
		t.Fatal(err)
	}
	close(resume)
	if v := <-got; string(v) != "old" {
		t.Fatalf("the read that began before the write = %q, want %q", v, "old")
	}
	for range 2 { // the second read would come from the cache
		if v, err := f.Get("k"); err != nil || string(v) != "new" {
			t.Fatalf("Get after the write was flushed = %q, %v; want %q", v, err, "new")
		}
	}
}

// TestCacheFollowsEveryChange reads keys into the cache, then changes
// them by each kind of op and by a restore, and reads them again.
func TestCacheFollowsEveryChange(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustApply(t, f, cmdLog(1, put("a/1", "v1"), put("a/2", "v2"), put("b", "v3")))
	snap := mustSnapshot(t, f) // a/1, a/2, b as applied at index 1
	steps := []struct {
		name string
		ops  []Op
		want map[string]string
	}{
		{"put", []Op{put("a/1", "w1")}, map[string]string{"a/1": "w1", "a/2": "v2", "b": "v3"}},
		{"delete", []Op{del("a/2")}, map[string]string{"a/1": "w1", "b": "v3"}},
		{"delete-prefix", []Op{delPrefix("a/")}, map[string]string{"b": "v3"}},
	}
	index := uint64(1)
	for _, st := range steps {
		for range 2 { // fill the cache from bbolt
			for _, k := range []string{"a/1", "a/2", "b"} {
				if _, err := f.Get(k); err != nil {
					t.Fatal(err)
				}
			}
		}
		index++
		mustApply(t, f, cmdLog(index, st.ops...))
		if err := f.flush(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			mustGetAll(t, f, st.want, absentOf(st.want)...)
		}
	}
	mustApply(t, f, cmdLog(index+1, put("b", "w3")))
	if err := f.flush(); err != nil {
		t.Fatal(err)
	}
	mustGetAll(t, f, map[string]string{"b": "w3"}) // cached from bbolt
	if err := restoreBytes(f, snap); err != nil {
		t.Fatal(err)
	}
	mustGetAll(t, f, map[string]string{"a/1": "v1", "a/2": "v2", "b": "v3"})
}

func absentOf(present map[string]string) []string {
	var out []string
	for _, k := range []string{"a/1", "a/2", "b"} {
		if _, ok := present[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// TestCacheStaysWithinItsBudget fills the cache past its size with new
// keys, refills of cached keys and flushes that grow cached values: it
// keeps to its budget, its count matches what it holds, it still answers
// for the key added last, and it never takes a value too large to cache.
func TestCacheStaysWithinItsBudget(t *testing.T) {
	t.Parallel()
	c := newReadCache()
	c.max = 16 * cacheMaxValue
	check := func(when string) {
		t.Helper()
		held := 0
		for k, v := range c.m {
			held += len(k) + len(v) + entryOverhead
		}
		if held != c.bytes || c.bytes > c.max {
			t.Fatalf("%s: the cache counts %d bytes and holds %d, budget %d", when, c.bytes, held, c.max)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 64 * c.max / cacheMaxValue
	for i := range n {
		if i%3 == 0 { // a second Get of a hot key fills it again
			_, _, gen := c.get(key("k/", i/2))
			c.add(key("k/", i/2), make([]byte, 1+r.IntN(cacheMaxValue)), gen)
		}
		k := key("k/", i)
		_, _, gen := c.get(k)
		c.add(k, make([]byte, 1+r.IntN(cacheMaxValue)), gen)
		check(fmt.Sprint("after ", i+1, " values"))
	}
	if _, ok, _ := c.get(key("k/", n-1)); !ok {
		t.Fatal("the value added last was evicted")
	}
	// A flush rewrites every cached key with the largest value cached.
	l := newLayer(0)
	for k := range c.m {
		l.apply(OpPut, k, make([]byte, cacheMaxValue))
	}
	c.flushed(l)
	check("after a flush grew every value")
	if len(c.m) == 0 {
		t.Fatal("a flush that grew the values emptied the cache")
	}
	_, _, gen := c.get("big")
	c.add("big", make([]byte, cacheMaxValue+1), gen)
	if _, ok, _ := c.get("big"); ok {
		t.Fatal("a value over cacheMaxValue was cached")
	}
}

// TestCacheUnderConcurrentFlushes reads while a writer applies rising
// values and the flusher writes them out: a read that begins after an
// apply returned must see that value or a later one.
func TestCacheUnderConcurrentFlushes(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	const keys = 4
	var applied [keys]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // flushes far more often than the flusher would
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := f.flush(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % keys
				floor := applied[k].Load()
				v, err := f.Get(key("k/", k))
				if err != nil {
					t.Error(err)
					return
				}
				got := int64(0)
				if v != nil {
					fmt.Sscan(string(v), &got)
				}
				if got < floor {
					t.Errorf("Get(k/%d) = %d after %d was applied", k, got, floor)
					return
				}
			}
		}()
	}
	for i := int64(1); i <= 3000 && !t.Failed(); i++ {
		k := int(i) % keys
		mustApply(t, f, cmdLog(uint64(i), put(key("k/", k), fmt.Sprint(i))))
		applied[k].Store(i)
	}
	close(stop)
	wg.Wait()
}
