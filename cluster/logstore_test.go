package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// storeKinds are the data directories a node may find: new (raft-wal) and
// made before raft-wal (raft.db, kept on raft-boltdb).
var storeKinds = []struct {
	name string
	dir  func(tb testing.TB) string
}{
	{logStoreWAL, func(tb testing.TB) string { return tb.TempDir() }},
	{logStoreBolt, mustBoltDir},
}

// mustBoltDir returns a data directory as an older Coffer left it when it
// opened a node: an empty raft.db.
func mustBoltDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, boltLogFile)})
	if err != nil {
		tb.Fatalf("create raft.db: %v", err)
	}
	if err := s.Close(); err != nil {
		tb.Fatalf("close raft.db: %v", err)
	}
	return dir
}

// mustLogStore opens the log store in dir and closes it at cleanup unless
// the test closed it already.
func mustLogStore(tb testing.TB, dir string) (logStore, string) {
	tb.Helper()
	s, kind, err := openLogStore(dir, hclog.NewNullLogger())
	if err != nil {
		tb.Fatalf("open log store: %v", err)
	}
	var once sync.Once
	tb.Cleanup(func() { once.Do(func() { s.Close() }) })
	return closeOnce{s, &once}, kind
}

// closeOnce lets a test close a store that cleanup would close too.
type closeOnce struct {
	logStore
	once *sync.Once
}

func (c closeOnce) Close() error {
	var err error
	c.once.Do(func() { err = c.logStore.Close() })
	return err
}

func testLog(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: 1 + i/10, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry-%d", i)}
}

func storeRange(tb testing.TB, s raft.LogStore, from, to uint64) {
	tb.Helper()
	var batch []*raft.Log
	for i := from; i <= to; i++ {
		batch = append(batch, testLog(i))
	}
	if err := s.StoreLogs(batch); err != nil {
		tb.Fatalf("store logs %d..%d: %v", from, to, err)
	}
}

func checkRange(tb testing.TB, s raft.LogStore, from, to uint64) {
	tb.Helper()
	first, err := s.FirstIndex()
	if err != nil || first != from {
		tb.Fatalf("first index: %d %v, want %d", first, err, from)
	}
	last, err := s.LastIndex()
	if err != nil || last != to {
		tb.Fatalf("last index: %d %v, want %d", last, err, to)
	}
	for i := from; i <= to; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			tb.Fatalf("get log %d: %v", i, err)
		}
		want := testLog(i)
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
			tb.Fatalf("log %d: got %+v, want %+v", i, got, want)
		}
	}
}

// TestOpenLogStoreChoice checks which store a directory gets, that the
// choice sticks across reopening, and that the WAL stays monotonic for
// Raft (it must drop its log when a snapshot is installed).
func TestOpenLogStoreChoice(t *testing.T) {
	for _, tc := range storeKinds {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			for round := range 2 {
				s, kind := mustLogStore(t, dir)
				if kind != tc.name {
					t.Fatalf("round %d: opened %s, want %s", round, kind, tc.name)
				}
				m, ok := s.(closeOnce).logStore.(raft.MonotonicLogStore)
				if monotonic := ok && m.IsMonotonic(); monotonic != (kind == logStoreWAL) {
					t.Fatalf("%s: monotonic = %v", kind, monotonic)
				}
				if round == 0 {
					storeRange(t, s, 1, 5)
					if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
						t.Fatalf("set term: %v", err)
					}
				}
				checkRange(t, s, 1, 5)
				if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 3 {
					t.Fatalf("term: %d %v", term, err)
				}
				if err := s.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
			}
			_, walErr := os.Stat(filepath.Join(dir, walDir))
			_, boltErr := os.Stat(filepath.Join(dir, boltLogFile))
			if (walErr == nil) != (tc.name == logStoreWAL) || (boltErr == nil) != (tc.name == logStoreBolt) {
				t.Fatalf("files: raft-wal dir %v, raft.db %v", walErr, boltErr)
			}
		})
	}
}

// killEnv names the directory the child of TestWALSurvivesKill writes to.
const killEnv = "COFFER_TEST_WAL_KILL_DIR"

// runKilledChild runs test again in a child process with env naming a new
// temp dir (the child sees it and does its part there), checks the child
// died by SIGKILL, and returns the dir and the child's output.
func runKilledChild(t *testing.T, test, env string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	return dir, out
}

// TestWALSurvivesKill stores logs and stable values in a child process
// that SIGKILLs itself without closing anything, then checks every
// acknowledged entry reads back, and that the recovered WAL takes more
// appends and head truncation (Raft's compaction).
func TestWALSurvivesKill(t *testing.T) {
	if dir := os.Getenv(killEnv); dir != "" {
		walKillChild(dir)
		return
	}
	dir, out := runKilledChild(t, "TestWALSurvivesKill", killEnv)
	if !strings.Contains(string(out), "stored\n") {
		t.Fatalf("child did not finish storing:\n%s", out)
	}

	s, kind := mustLogStore(t, dir)
	if kind != logStoreWAL {
		t.Fatalf("reopened %s", kind)
	}
	checkRange(t, s, 1, 300)
	if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 7 {
		t.Fatalf("term after kill: %d %v", term, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "n1" {
		t.Fatalf("vote after kill: %q %v", v, err)
	}
	storeRange(t, s, 301, 310)
	if err := s.DeleteRange(1, 200); err != nil {
		t.Fatalf("truncate head: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s, _ = mustLogStore(t, dir)
	checkRange(t, s, 201, 310)
}

// walKillChild is the child of TestWALSurvivesKill: it never returns.
func walKillChild(dir string) {
	s, kind, err := openLogStore(dir, hclog.NewNullLogger())
	if err != nil || kind != logStoreWAL {
		fmt.Println("open:", kind, err)
		os.Exit(2)
	}
	for from := uint64(1); from <= 300; from += 100 {
		for i := from; i < from+100; i += 25 {
			batch := make([]*raft.Log, 0, 25)
			for j := i; j < i+25; j++ {
				batch = append(batch, testLog(j))
			}
			if err := s.StoreLogs(batch); err != nil {
				fmt.Println("store:", err)
				os.Exit(2)
			}
		}
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		fmt.Println("set:", err)
		os.Exit(2)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("n1")); err != nil {
		fmt.Println("set:", err)
		os.Exit(2)
	}
	fmt.Print("stored\n")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// quickSingle makes a single-node test elect itself sooner and keeps
// Raft's own log out of the test output.
func quickSingle(c *Config) {
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.RaftLogOutput = io.Discard
}

// TestRestoreArchiveThenRestart restores an older archive (Raft drops the
// log on a monotonic store), writes after it, restarts, and checks both
// and that each open logged which store it used.
func TestRestoreArchiveThenRestart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range storeKinds {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			var logs lockedBuffer
			quiet := func(c *Config) {
				quickSingle(c)
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			}
			n := mustOpen(t, dir, quiet)
			defer func() { n.Close() }()
			if err := n.Put(ctx, "k", []byte("old")); err != nil {
				t.Fatalf("put: %v", err)
			}
			var archive bytes.Buffer
			seal := func(b []byte) ([]byte, error) { return b, nil }
			if err := n.SaveArchive(ctx, &archive, ArchiveMeta{NodeID: "n1"}, seal); err != nil {
				t.Fatalf("save archive: %v", err)
			}
			if err := n.Put(ctx, "k", []byte("new")); err != nil {
				t.Fatalf("put: %v", err)
			}
			info, err := ReadArchive(bytes.NewReader(archive.Bytes()), nil)
			if err != nil {
				t.Fatalf("read archive: %v", err)
			}
			state, done, err := StateReader(bytes.NewReader(archive.Bytes()))
			if err != nil {
				t.Fatalf("state reader: %v", err)
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := n.RestoreArchive(rctx, &info.Meta, state); err != nil {
				t.Fatalf("restore: %v", err)
			}
			done()
			if err := n.Put(ctx, "after", []byte("yes")); err != nil {
				t.Fatalf("put after restore: %v", err)
			}
			check := func() {
				t.Helper()
				if v, err := n.Get(ctx, "k"); err != nil || string(v) != "old" {
					t.Fatalf("k: %q %v", v, err)
				}
				if v, err := n.Get(ctx, "after"); err != nil || string(v) != "yes" {
					t.Fatalf("after: %q %v", v, err)
				}
			}
			check()
			if err := n.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			n = mustOpen(t, dir, quiet)
			check()
			want := "store=" + tc.name
			if got := strings.Count(logs.String(), want); got != 2 {
				t.Fatalf("%q logged %d times, want once per open:\n%s", want, got, logs.String())
			}
		})
	}
}

// TestFollowerInstallsSnapshot adds a node after the leader compacted its
// log, so the newcomer needs InstallSnapshot, then restarts it and checks
// it catches up again from its own log.
func TestFollowerInstallsSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range storeKinds {
		t.Run(tc.name, func(t *testing.T) {
			quiet := func(c *Config) {
				quickSingle(c)
				c.TrailingLogs = 2
				c.SnapshotThreshold = 1 << 20
			}
			leaderDir := tc.dir(t)
			leader := mustOpen(t, leaderDir, quiet)
			defer func() { leader.Close() }()
			for i := range 20 {
				if err := leader.Put(ctx, fmt.Sprintf("k%02d", i), []byte("v")); err != nil {
					t.Fatalf("put: %v", err)
				}
			}
			if err := leader.Snapshot(); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
			// raft-wal still serves compacted entries of its open tail
			// segment (it only moves the segment's MinIndex); after a
			// restart it refuses them, so the newcomer needs the snapshot.
			if err := leader.Close(); err != nil {
				t.Fatalf("close leader: %v", err)
			}
			leader = mustOpen(t, leaderDir, quiet)
			if err := leader.logStore.GetLog(1, &raft.Log{}); !errors.Is(err, raft.ErrLogNotFound) {
				t.Fatalf("leader still serves compacted entry 1: %v", err)
			}

			dir := tc.dir(t)
			cfg := Config{Dir: dir, NodeID: "n2", BindAddr: freeAddr(t)}
			quiet(&cfg)
			open := func() *Node {
				t.Helper()
				n, err := Open(ctx, cfg)
				if err != nil {
					t.Fatalf("open follower: %v", err)
				}
				return n
			}
			follower := open()
			defer func() { follower.Close() }()
			if err := follower.Join(); err != nil {
				t.Fatalf("join: %v", err)
			}
			// A non-voter: the leader keeps its quorum while it restarts.
			if err := leader.AddNonvoter(ctx, "n2", follower.RaftAddr()); err != nil {
				t.Fatalf("add nonvoter: %v", err)
			}
			caughtUp := func(key string) {
				t.Helper()
				if err := leader.Put(ctx, key, []byte("x")); err != nil {
					t.Fatalf("put %s: %v", key, err)
				}
				if err := follower.fsm.WaitApplied(ctx, leader.AppliedIndex()); err != nil {
					t.Fatalf("follower catch up: %v", err)
				}
				for _, k := range []string{"k00", "k19", key} {
					if v, err := follower.GetLocal(k); err != nil || v == nil {
						t.Fatalf("follower %s: %q %v", k, v, err)
					}
				}
			}
			caughtUp("after-join")
			if metas, err := follower.snapshots.List(); err != nil || len(metas) == 0 {
				t.Fatalf("follower holds no installed snapshot: %v", err)
			}
			if err := follower.Close(); err != nil {
				t.Fatalf("close follower: %v", err)
			}
			follower = open()
			if !follower.Started() {
				t.Fatal("restarted follower found no raft state")
			}
			caughtUp("after-restart")
		})
	}
}

// TestWALTailTruncationReopens checks the store reopens after Raft cleared
// a log suffix (raft-wal v0.4.0 marks the tail sealed without an index;
// see indexlessSealFiler), with and without appends after the truncation.
func TestWALTailTruncationReopens(t *testing.T) {
	tests := []struct {
		name string
		ops  func(tb testing.TB, s logStore)
		// first and last index after ops; entries read back are testLog's.
		first, last uint64
	}{
		{"truncate then append", func(tb testing.TB, s logStore) {
			storeRange(tb, s, 1, 10)
			mustDeleteRange(tb, s, 8, 10)
			storeRange(tb, s, 8, 12)
		}, 1, 12},
		{"truncate only", func(tb testing.TB, s logStore) {
			storeRange(tb, s, 1, 10)
			mustDeleteRange(tb, s, 6, 10)
		}, 1, 5},
		{"truncate twice", func(tb testing.TB, s logStore) {
			storeRange(tb, s, 1, 10)
			mustDeleteRange(tb, s, 9, 10)
			storeRange(tb, s, 9, 15)
			mustDeleteRange(tb, s, 12, 15)
			storeRange(tb, s, 12, 20)
		}, 1, 20},
		{"truncate then compact", func(tb testing.TB, s logStore) {
			storeRange(tb, s, 1, 10)
			mustDeleteRange(tb, s, 8, 10)
			storeRange(tb, s, 8, 12)
			mustDeleteRange(tb, s, 1, 9)
		}, 10, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := mustLogStore(t, dir)
			tc.ops(t, s)
			checkRange(t, s, tc.first, tc.last)
			for round := range 2 {
				if err := s.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				s, _ = mustLogStore(t, dir)
				checkRange(t, s, tc.first, tc.last)
				if round == 0 {
					// The reopened store keeps working: append, reopen again.
					storeRange(t, s, tc.last+1, tc.last+3)
					tc.last += 3
				}
			}
		})
	}
}

func mustDeleteRange(tb testing.TB, s raft.LogStore, from, to uint64) {
	tb.Helper()
	if err := s.DeleteRange(from, to); err != nil {
		tb.Fatalf("delete range %d..%d: %v", from, to, err)
	}
}

const (
	replayKillEnv = "COFFER_TEST_REPLAY_KILL_DIR"
	replayModeEnv = "COFFER_TEST_REPLAY_MODE"
)

// TestNodeReplaysAfterKill: a node killed with writes applied but not yet
// flushed to fsm.db, and with a snapshot whose index passes the FSM's only
// by barrier entries, serves every acknowledged write as soon as Open
// returns, before any election: Open replays its own log up to the
// applied mark instead of restoring that snapshot and waiting for Raft.
// With two trailing logs the snapshot also compacts the first barrier, so
// the replay stops there; Open then restores the snapshot and replays the
// entries after it.
func TestNodeReplaysAfterKill(t *testing.T) {
	if dir := os.Getenv(replayKillEnv); dir != "" {
		replayKillChild(dir, os.Getenv(replayModeEnv) == "compact")
		return
	}
	for _, mode := range []string{"barrier", "compact"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv(replayModeEnv, mode)
			nodeReplaysAfterKill(t)
		})
	}
}

func nodeReplaysAfterKill(t *testing.T) {
	dir, out := runKilledChild(t, "TestNodeReplaysAfterKill", replayKillEnv)
	var applied uint64
	if _, err := fmt.Sscanf(string(out[bytes.LastIndex(out, []byte("applied ")):]), "applied %d", &applied); err != nil {
		t.Fatalf("child did not report its applied index: %v\n%s", err, out)
	}
	// No election yet: an election timeout is far longer than Open.
	n, err := Open(context.Background(), Config{Dir: dir, NodeID: "n1", BindAddr: freeAddr(t),
		HeartbeatTimeout: 2 * time.Second, ElectionTimeout: 2 * time.Second, RaftLogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.AppliedIndex(); got < applied {
		t.Fatalf("applied index %d right after Open, want the %d the killed process had applied", got, applied)
	}
	for i := range 50 {
		v, err := n.fsm.Get(fmt.Sprintf("k/%02d", i))
		if err != nil || string(v) != fmt.Sprint(i) {
			t.Fatalf("k/%02d right after Open = %q, %v", i, v, err)
		}
	}
}

// replayKillChild is the child of TestNodeReplaysAfterKill: it never
// returns.
func replayKillChild(dir string, compact bool) {
	fail := func(what string, err error) {
		fmt.Println(what+":", err)
		os.Exit(2)
	}
	cfg := Config{Dir: dir, NodeID: "n1", BindAddr: "127.0.0.1:0",
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, RaftLogOutput: io.Discard}
	barriers := 1
	if compact {
		cfg.TrailingLogs, barriers = 2, 3
	}
	n, err := Open(context.Background(), cfg)
	if err != nil {
		fail("open", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Bootstrap(ctx); err != nil {
		fail("bootstrap", err)
	}
	for i := range 25 {
		if err := n.Put(ctx, fmt.Sprintf("k/%02d", i), []byte(fmt.Sprint(i))); err != nil {
			fail("put", err)
		}
	}
	// Barrier entries never reach the FSM: the snapshot's index passes
	// the FSM's applied index.
	for range barriers {
		if err := n.raft.Barrier(5 * time.Second).Error(); err != nil {
			fail("barrier", err)
		}
	}
	if err := n.Snapshot(); err != nil {
		fail("snapshot", err)
	}
	for i := 25; i < 50; i++ {
		if err := n.Put(ctx, fmt.Sprintf("k/%02d", i), []byte(fmt.Sprint(i))); err != nil {
			fail("put", err)
		}
	}
	fmt.Printf("applied %d\n", n.AppliedIndex())
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
