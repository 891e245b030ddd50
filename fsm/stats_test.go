package fsm

import (
	"sync"
	"testing"
)

// statsLog records what the Stats hook was told.
type statsLog struct {
	mu      sync.Mutex
	batches []int
	done    int
	syncs   int
}

// mustRecordStats installs a recording Stats hook for the test.
func mustRecordStats(tb testing.TB) *statsLog {
	tb.Helper()
	l := &statsLog{}
	SetStats(&Stats{
		Apply: func(n int) func() {
			l.mu.Lock()
			l.batches = append(l.batches, n)
			l.mu.Unlock()
			return func() { l.mu.Lock(); l.done++; l.mu.Unlock() }
		},
		Sync: func() func() {
			return func() { l.mu.Lock(); l.syncs++; l.mu.Unlock() }
		},
	})
	tb.Cleanup(func() { SetStats(nil) })
	return l
}

func TestStatsHook(t *testing.T) {
	l := mustRecordStats(t)
	f := mustOpen(t, t.TempDir())
	mustApply(t, f, cmdLog(1, put("a", "1")), cmdLog(2, put("b", "2")), cmdLog(3, del("a")))
	mustApply(t, f, cmdLog(3, put("c", "3"))) // already applied: not reported
	mustApply(t, f, cmdLog(4, put("d", "4")))
	if err := f.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.batches) != 2 || l.batches[0] != 3 || l.batches[1] != 1 || l.done != 2 {
		t.Errorf("batches %v (done %d), want [3 1] both done", l.batches, l.done)
	}
	if l.syncs != 1 {
		t.Errorf("%d syncs reported, want 1", l.syncs)
	}
}
