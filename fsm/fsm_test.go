package fsm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

func TestApplyThenGet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		batch [][]Op // one log entry per element, all in one batch
		want  map[string]string
	}{
		{"put", [][]Op{{put("a", "1")}}, map[string]string{"a": "1"}},
		{"overwrite", [][]Op{{put("a", "1")}, {put("a", "2")}}, map[string]string{"a": "2"}},
		{"empty value", [][]Op{{put("a", "")}}, map[string]string{"a": ""}},
		{"delete", [][]Op{{put("a", "1"), put("b", "2")}, {del("a")}}, map[string]string{"b": "2"}},
		{"delete absent", [][]Op{{del("nope")}}, map[string]string{}},
		{
			"delete prefix",
			[][]Op{{put("a/1", "x"), put("a/2/3", "x"), put("a", "x"), put("ab", "x"), put("b/1", "x")}, {delPrefix("a/")}},
			map[string]string{"a": "x", "ab": "x", "b/1": "x"},
		},
		{
			"delete prefix not at slash",
			[][]Op{{put("a/1", "x"), put("ab", "x"), put("a", "x"), put("b", "x")}, {delPrefix("a")}},
			map[string]string{"b": "x"},
		},
		{"delete everything", [][]Op{{put("a", "x"), put("b/c", "x")}, {delPrefix("")}}, map[string]string{}},
		{"ops apply in order", [][]Op{{put("a", "1"), del("a"), put("a", "3")}}, map[string]string{"a": "3"}},
		{"put after delete prefix", [][]Op{{put("a/1", "x"), delPrefix("a/"), put("a/2", "y")}}, map[string]string{"a/2": "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := mustOpen(t, "")
			var logs []*raft.Log
			for i, ops := range tt.batch {
				logs = append(logs, cmdLog(uint64(i+1), ops...))
			}
			mustApply(t, f, logs...)
			// Before the flush Get answers from memory, after it from bbolt.
			mustGetAll(t, f, tt.want, "a", "a/1", "a/2", "b", "nope")
			if got := dump(t, f); !maps.Equal(got, tt.want) {
				t.Fatalf("state = %v, want %v", got, tt.want)
			}
			mustGetAll(t, f, tt.want, "a", "a/1", "a/2", "b", "nope")
			if got := f.AppliedIndex(); got != uint64(len(tt.batch)) {
				t.Fatalf("applied = %d, want %d", got, len(tt.batch))
			}
		})
	}
}

func TestGetReturnsCopy(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustApply(t, f, cmdLog(1, put("k", "value")))
	v, err := f.Get("k")
	if err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	if again, _ := f.Get("k"); string(again) != "value" {
		t.Fatalf("stored value changed through Get's result: %q", again)
	}
}

func TestApplySurvivesReopenAndSkipsApplied(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := open(dir, nil, testBootID)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, f, cmdLog(1, put("a", "1")), cmdLog(2, put("b", "2")))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	f = mustOpen(t, dir)
	if got := f.AppliedIndex(); got != 2 {
		t.Fatalf("applied after reopen = %d, want 2", got)
	}
	// Raft replays 1..3 after the restart: 1 and 2 must not apply again
	// (entry 2 would otherwise resurrect "b", deleted by entry 3).
	mustApply(t, f,
		cmdLog(1, put("a", "stale")),
		cmdLog(2, put("b", "2")),
		cmdLog(3, del("b"), put("c", "3")))
	want := map[string]string{"a": "1", "c": "3"}
	if got := dump(t, f); !maps.Equal(got, want) {
		t.Fatalf("state = %v, want %v", got, want)
	}
	// A batch wholly at or below the applied index is a no-op.
	mustApply(t, f, cmdLog(2, put("a", "stale")), cmdLog(3, put("a", "stale")))
	if got, _ := f.Get("a"); string(got) != "1" {
		t.Fatalf("a = %q after replayed batch", got)
	}
	if got := f.AppliedIndex(); got != 3 {
		t.Fatalf("applied = %d, want 3", got)
	}
}

func TestNonCommandLogsAdvanceIndex(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	conf := &raft.Log{Index: 1, Type: raft.LogConfiguration, Data: []byte("not a command")}
	noop := &raft.Log{Index: 2, Type: raft.LogNoop}
	res := f.ApplyBatch([]*raft.Log{conf, noop})
	if len(res) != 2 || res[0] != nil || res[1] != nil {
		t.Fatalf("results = %v", res)
	}
	if got := f.AppliedIndex(); got != 2 {
		t.Fatalf("applied = %d, want 2", got)
	}
	mustApply(t, f, cmdLog(3, put("a", "1")), &raft.Log{Index: 4, Type: raft.LogBarrier})
	if got := f.AppliedIndex(); got != 4 {
		t.Fatalf("applied = %d, want 4", got)
	}
}

func TestBadCommandIsSkipped(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	bad := &raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{commandVersion, 2, byte(OpPut), 1, 'x', 1, 'y', 9}}
	res := f.ApplyBatch([]*raft.Log{cmdLog(1, put("a", "1")), bad, cmdLog(3, put("b", "2"))})
	if res[0] != nil || res[2] != nil {
		t.Fatalf("good entries failed: %v", res)
	}
	err, ok := res[1].(error)
	if !ok || !errors.Is(err, ErrBadCommand) {
		t.Fatalf("bad entry result = %v, want ErrBadCommand", res[1])
	}
	// The bad entry's first op is valid but must not have been applied.
	want := map[string]string{"a": "1", "b": "2"}
	if got := dump(t, f); !maps.Equal(got, want) {
		t.Fatalf("state = %v, want %v", got, want)
	}
	if got := f.AppliedIndex(); got != 3 {
		t.Fatalf("applied = %d, want 3", got)
	}
	if r := f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: nil}); r == nil {
		t.Fatal("Apply of empty data succeeded")
	}
}

func TestApplyEmptyBatch(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	if res := f.ApplyBatch(nil); len(res) != 0 {
		t.Fatalf("results = %v", res)
	}
}

func TestFailedFlushIsSticky(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustApply(t, f, cmdLog(1, put("a", "1")))
	good := mustSnapshot(t, f)
	// Simulate a broken database: the data bucket vanishes under the FSM.
	f.mu.RLock()
	err := f.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(dataBucket) })
	f.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	// Entries 2 and 3 reach memory; writing them to bbolt fails.
	mustApply(t, f, cmdLog(2, put("b", "2")), cmdLog(3, put("c", "3")))
	if err := f.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync = %v, want ErrFailed", err)
	}
	if got := f.flushedIndex.Load(); got != 1 {
		t.Fatalf("bbolt's applied index = %d after the failed flush, want 1", got)
	}
	// What was applied stays readable until the node stops.
	if v, err := f.Get("c"); err != nil || string(v) != "3" {
		t.Fatalf("Get(c) = %q, %v after the failed flush", v, err)
	}
	// Later batches must not apply: the node has to restart and replay.
	if r := f.Apply(cmdLog(4, put("d", "4"))); !errors.Is(r.(error), ErrFailed) {
		t.Fatalf("later Apply = %v, want ErrFailed", r)
	}
	if _, err := f.Snapshot(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Snapshot = %v, want ErrFailed", err)
	}
	if _, err := f.List(""); !errors.Is(err, ErrFailed) {
		t.Fatalf("List = %v, want ErrFailed", err)
	}
	// A restore replaces the state wholesale and clears the failure.
	if err := restoreBytes(f, good); err != nil {
		t.Fatal(err)
	}
	mustApply(t, f, cmdLog(4, put("b", "2")))
	want := map[string]string{"a": "1", "b": "2"}
	if got := dump(t, f); !maps.Equal(got, want) {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	f, err := open(t.TempDir(), nil, testBootID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := f.Get("a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get = %v", err)
	}
	if _, err := f.List(""); !errors.Is(err, ErrClosed) {
		t.Errorf("List = %v", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync = %v", err)
	}
	if _, err := f.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot = %v", err)
	}
	if r := f.Apply(cmdLog(1, put("a", "1"))); !errors.Is(r.(error), ErrClosed) {
		t.Errorf("Apply = %v", r)
	}
}

func TestUncleanShutdown(t *testing.T) {
	t.Parallel()
	// crash flushes, then closes the bbolt file without the FSM's
	// clean-close path, as a process killed after a flush would leave it.
	crash := func(t *testing.T, f *FSM) {
		t.Helper()
		if err := f.flush(); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := f.db.Close(); err != nil {
			t.Fatal(err)
		}
		f.db = nil
	}
	tests := []struct {
		name     string
		boot     string
		wantKept bool
	}{
		{"process crash keeps the file", "test-boot", true},
		{"reboot discards it", "another-boot", false},
		{"unknown boot discards it", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			f, err := open(dir, nil, testBootID)
			if err != nil {
				t.Fatal(err)
			}
			mustApply(t, f, cmdLog(7, put("a", "1")))
			crash(t, f)

			f, err = open(dir, nil, func() []byte { return []byte(tt.boot) })
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.Close() })
			got, _ := f.Get("a")
			if kept := got != nil; kept != tt.wantKept {
				t.Fatalf("kept = %v, want %v", kept, tt.wantKept)
			}
			wantApplied := uint64(0)
			if tt.wantKept {
				wantApplied = 7
			}
			if f.AppliedIndex() != wantApplied {
				t.Fatalf("applied = %d, want %d", f.AppliedIndex(), wantApplied)
			}
		})
	}
}

func TestCleanCloseRemovesMarker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := open(dir, nil, testBootID)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, markerFileName)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker while open: %v", err)
	}
	mustApply(t, f, cmdLog(1, put("a", "1")))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after close: %v", err)
	}
	// After a clean close even a reboot keeps the data.
	f, err = open(dir, nil, func() []byte { return []byte("another-boot") })
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, _ := f.Get("a"); string(got) != "1" {
		t.Fatalf("a = %q after clean close and reboot", got)
	}
}

func TestOpenRemovesStaleRestoreFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := filepath.Join(dir, restoreFileName)
	if err := os.WriteFile(stale, []byte("half a restore"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, dir)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale restore file survived Open: %v", err)
	}
}

func TestConcurrentReadsDuringApply(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	const batches = 50
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := f.Get("dir/000001"); err != nil {
					t.Error(err)
					return
				}
				if _, err := f.List("dir/"); err != nil {
					t.Error(err)
					return
				}
				_ = f.AppliedIndex()
			}
		}()
	}
	for i := 1; i <= batches; i++ {
		mustApply(t, f, cmdLog(uint64(i), put(key("dir/", i), "v"), put(key("dir/sub/", i), "v")))
	}
	close(done)
	wg.Wait()
	keys, err := f.List("dir/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != batches+1 {
		t.Fatalf("listed %d children, want %d", len(keys), batches+1)
	}
}

func TestObserveAndWaitApplied(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	var seen []string
	f.Observe([]string{"core/mounts", "core/policy/"}, func(k string) { seen = append(seen, k) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.WaitApplied(ctx, 2) }()
	mustApply(t, f, cmdLog(1, put("core/mounts", "m"), put("logical/x", "v")))
	mustApply(t, f, cmdLog(2, put("core/policy/a", "p"), delPrefix("core/")))
	if err := <-done; err != nil {
		t.Fatalf("WaitApplied: %v", err)
	}
	want := []string{"core/mounts", "core/policy/a", "core/"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("observed %q, want %q", seen, want)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if err := f.WaitApplied(short, 3); err == nil {
		t.Fatal("WaitApplied returned for an index never applied")
	}
}

func TestScanPages(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	var ops []Op
	for i := range 25 {
		ops = append(ops, put(fmt.Sprintf("sys/expire/time/%04d/x", i), "v"))
	}
	ops = append(ops, put("sys/expire/timf", "outside"), put("sys/expire/tim", "outside"))
	mustApply(t, f, cmdLog(1, ops...))
	var got []string
	after := ""
	for {
		page, err := f.Scan("sys/expire/time/", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if len(got) != 25 || got[0] != "sys/expire/time/0000/x" || got[24] != "sys/expire/time/0024/x" {
		t.Fatalf("scanned %d keys: %v", len(got), got)
	}
}
