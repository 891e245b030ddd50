package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// mustOpen opens a single-node cluster in dir and waits for leadership.
func mustOpen(tb testing.TB, dir string, mod func(*Config)) *Node {
	tb.Helper()
	cfg := Config{Dir: dir, NodeID: "n1", BindAddr: freeAddr(tb)}
	if mod != nil {
		mod(&cfg)
	}
	n, err := Open(context.Background(), cfg)
	if err == nil {
		bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = n.Bootstrap(bctx)
		bcancel()
	}
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitForLeader(ctx); err != nil {
		n.Close()
		tb.Fatalf("wait for leader: %v", err)
	}
	return n
}

func TestNodeReadWrite(t *testing.T) {
	ctx := context.Background()
	n := mustOpen(t, t.TempDir(), nil)
	defer n.Close()
	if v, err := n.Get(ctx, "missing"); err != nil || v != nil {
		t.Fatalf("get missing: %q %v", v, err)
	}
	for _, k := range []string{"a/x", "a/y/z", "b"} {
		if err := n.Put(ctx, k, []byte("v-"+k)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	if v, err := n.Get(ctx, "a/x"); err != nil || string(v) != "v-a/x" {
		t.Fatalf("get: %q %v", v, err)
	}
	keys, err := n.List(ctx, "a/")
	if err != nil || fmt.Sprint(keys) != "[x y/]" {
		t.Fatalf("list: %v %v", keys, err)
	}
	if err := n.Delete(ctx, "a/x"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if v, _ := n.Get(ctx, "a/x"); v != nil {
		t.Fatalf("deleted key still reads %q", v)
	}
	if err := n.DeletePrefix(ctx, "a/"); err != nil {
		t.Fatalf("delete prefix: %v", err)
	}
	if keys, _ := n.List(ctx, "a/"); len(keys) != 0 {
		t.Fatalf("after delete prefix: %v", keys)
	}
}

// TestGroupCommit checks that concurrent writers all succeed, every write
// is readable, and they share log entries.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	n := mustOpen(t, t.TempDir(), nil)
	defer n.Close()
	before := n.raft.LastIndex()
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := n.Put(ctx, fmt.Sprintf("k/%d/%d", w, i), []byte("v")); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent put: %v", err)
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i++ {
			if v, err := n.Get(ctx, fmt.Sprintf("k/%d/%d", w, i)); err != nil || string(v) != "v" {
				t.Fatalf("read back k/%d/%d: %q %v", w, i, v, err)
			}
		}
	}
	entries := n.raft.LastIndex() - before
	t.Logf("%d writes in %d log entries", writers*each, entries)
	if entries >= writers*each {
		t.Fatalf("no grouping: %d writes took %d log entries", writers*each, entries)
	}
}

// TestDurableAcrossRestart checks the FSM keeps its state and skips
// replayed entries after a restart, and that a lost fsm.db is rebuilt
// from the newest snapshot plus the log.
func TestDurableAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := mustOpen(t, dir, func(c *Config) {
		c.SnapshotThreshold = 8
		c.TrailingLogs = 2
		c.SnapshotInterval = 50 * time.Millisecond
	})
	for i := 0; i < 30; i++ {
		if err := n.Put(ctx, fmt.Sprintf("k%02d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	if err := n.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if err := n.Put(ctx, "after-snapshot", []byte("yes")); err != nil {
		t.Fatalf("put: %v", err)
	}
	applied := n.AppliedIndex()
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	check := func(n *Node) {
		t.Helper()
		for i := 0; i < 30; i++ {
			if v, err := n.Get(ctx, fmt.Sprintf("k%02d", i)); err != nil || string(v) != fmt.Sprint(i) {
				t.Fatalf("k%02d after restart: %q %v", i, v, err)
			}
		}
		if v, err := n.Get(ctx, "after-snapshot"); err != nil || string(v) != "yes" {
			t.Fatalf("after-snapshot: %q %v", v, err)
		}
	}
	n = mustOpen(t, dir, nil)
	if n.AppliedIndex() < applied {
		t.Fatalf("applied index went back from %d to %d", applied, n.AppliedIndex())
	}
	check(n)
	n.Close()

	if err := os.Remove(filepath.Join(dir, "fsm.db")); err != nil {
		t.Fatalf("remove fsm.db: %v", err)
	}
	n = mustOpen(t, dir, nil)
	defer n.Close()
	check(n)
}

func TestClosedNodeRefusesWrites(t *testing.T) {
	n := mustOpen(t, t.TempDir(), nil)
	n.Close()
	if err := n.Put(context.Background(), "k", []byte("v")); err == nil {
		t.Fatal("write after close succeeded")
	}
}

// TestInvalidWriteIsolated checks that a write the FSM would refuse fails
// alone and never takes concurrent valid writes down with it.
func TestInvalidWriteIsolated(t *testing.T) {
	ctx := context.Background()
	n := mustOpen(t, t.TempDir(), nil)
	defer n.Close()
	huge := string(make([]byte, 40000))
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("ok/%d", i)
			if i%16 == 0 {
				key = huge
			}
			errs[i] = n.Put(ctx, key, []byte("v"))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%16 == 0 {
			if !errors.Is(err, ErrInvalidWrite) {
				t.Errorf("oversized key %d: want ErrInvalidWrite, got %v", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("valid write %d failed: %v", i, err)
		}
	}
}
