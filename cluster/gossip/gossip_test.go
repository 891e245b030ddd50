package gossip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testNode is one gossip instance and the metadata it advertises.
type testNode struct {
	*Gossip
	meta atomic.Pointer[Meta]
}

func (n *testNode) setMeta(m Meta) { n.meta.Store(&m) }

func (n *testNode) addr() string { return n.ml.LocalNode().Address() }

func mustKey(tb testing.TB) []byte {
	tb.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		tb.Fatalf("rand: %v", err)
	}
	return k
}

func testMeta(id string) Meta {
	return Meta{
		NodeID:       id,
		APIAddr:      "https://" + id + ":8200",
		ClusterAddr:  "https://" + id + ":8201",
		Version:      "0.1.0",
		AppliedIndex: 7,
	}
}

// mustStart starts a fast gossip node on 127.0.0.1 with a free port; it is
// shut down when the test ends.
func mustStart(tb testing.TB, id string, key []byte, logger *slog.Logger) *testNode {
	tb.Helper()
	n := &testNode{}
	n.setMeta(testMeta(id))
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
		if os.Getenv("GOSSIP_DEBUG") != "" {
			logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("me", id, "test", tb.Name())
		}
	}
	g, err := Start(Config{
		NodeID:    id,
		BindAddr:  "127.0.0.1",
		BindPort:  0,
		SecretKey: key,
		Meta:      func() Meta { return *n.meta.Load() },
		Logger:    logger,
		Fast:      true,
	})
	if err != nil {
		tb.Fatalf("start %s: %v", id, err)
	}
	tb.Cleanup(func() { _ = g.Shutdown() })
	n.Gossip = g
	return n
}

// mustCluster starts len(ids) nodes sharing key and joins them to the first.
func mustCluster(tb testing.TB, key []byte, ids ...string) []*testNode {
	tb.Helper()
	nodes := make([]*testNode, len(ids))
	for i, id := range ids {
		nodes[i] = mustStart(tb, id, key, nil)
		if i == 0 {
			continue
		}
		if n, err := nodes[i].Join([]string{nodes[0].addr()}); err != nil || n != 1 {
			tb.Fatalf("join %s: n=%d err=%v", id, n, err)
		}
	}
	return nodes
}

// waitFor polls cond until it returns "" or the deadline passes, then fails
// with cond's last complaint.
func waitFor(tb testing.TB, timeout time.Duration, cond func() string) {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		msg := cond()
		if msg == "" {
			return
		}
		select {
		case <-deadline.C:
			tb.Fatalf("condition not met after %v: %s", timeout, msg)
		case <-tick.C:
		}
	}
}

// stateOf reports how observer sees id ("" if unknown).
func stateOf(observer *testNode, id string) string {
	m, ok := observer.Member(id)
	if !ok {
		return ""
	}
	return m.State
}

func TestStartRejectsBadConfig(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	meta := func() Meta { return testMeta("a") }
	huge := func() Meta { m := testMeta("a"); m.Version = strings.Repeat("x", 600); return m }
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no node id", Config{SecretKey: key, Meta: meta}, ErrInvalidConfig},
		{"no key", Config{NodeID: "a", Meta: meta}, ErrInvalidConfig},
		{"short key", Config{NodeID: "a", SecretKey: key[:16], Meta: meta}, ErrInvalidConfig},
		{"no meta", Config{NodeID: "a", SecretKey: key}, ErrInvalidConfig},
		{"meta too large", Config{NodeID: "a", SecretKey: key, Meta: huge, BindAddr: "127.0.0.1"}, ErrMetaTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Start(tt.cfg)
			if err == nil {
				_ = g.Shutdown()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMembersSeeEachOther(t *testing.T) {
	t.Parallel()
	ids := []string{"a", "b", "c"}
	nodes := mustCluster(t, mustKey(t), ids...)

	for _, obs := range nodes {
		waitFor(t, 10*time.Second, func() string {
			ms := obs.Members()
			if len(ms) != len(ids) {
				return fmt.Sprintf("%s sees %d members", obs.cfg.NodeID, len(ms))
			}
			for i, m := range ms {
				if m.NodeID != ids[i] || m.State != StateAlive {
					return fmt.Sprintf("%s sees %s %s", obs.cfg.NodeID, m.NodeID, m.State)
				}
				if m.Meta != testMeta(ids[i]) {
					return fmt.Sprintf("%s sees meta %+v for %s", obs.cfg.NodeID, m.Meta, m.NodeID)
				}
				if m.Addr != nodes[i].addr() {
					return fmt.Sprintf("%s sees addr %s for %s", obs.cfg.NodeID, m.Addr, m.NodeID)
				}
				if m.StateSince.IsZero() || m.LastAlive.IsZero() {
					return fmt.Sprintf("%s: times unset for %s", obs.cfg.NodeID, m.NodeID)
				}
			}
			return ""
		})
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	t.Parallel()
	nodes := mustCluster(t, mustKey(t), "a", "b", "c")
	want := testMeta("b")
	want.Sealed = true
	want.AppliedIndex = 12345
	nodes[1].setMeta(want)
	if err := nodes[1].UpdateMeta(5 * time.Second); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	for _, obs := range nodes {
		waitFor(t, 10*time.Second, func() string {
			m, ok := obs.Member("b")
			if !ok || m.Meta != want {
				return fmt.Sprintf("%s sees %+v", obs.cfg.NodeID, m.Meta)
			}
			return ""
		})
	}

	// A Meta that no longer fits is refused and the old one stays.
	big := want
	big.APIAddr = strings.Repeat("h", 600)
	nodes[1].setMeta(big)
	if err := nodes[1].UpdateMeta(time.Second); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("UpdateMeta(too large) = %v, want ErrMetaTooLarge", err)
	}
	if m, _ := nodes[1].Member("b"); m.Meta != want {
		t.Fatalf("self meta changed to %+v", m.Meta)
	}
}

func TestShutdownWithoutLeaveIsDead(t *testing.T) {
	t.Parallel()
	nodes := mustCluster(t, mustKey(t), "a", "b", "c")
	for _, obs := range nodes[:2] {
		waitFor(t, 10*time.Second, func() string {
			if s := stateOf(obs, "c"); s != StateAlive {
				return "c is " + s
			}
			return ""
		})
	}
	before := time.Now()
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, obs := range nodes[:2] {
		waitFor(t, 15*time.Second, func() string {
			if s := stateOf(obs, "c"); s != StateDead {
				return fmt.Sprintf("%s sees c %q", obs.cfg.NodeID, s)
			}
			return ""
		})
		m, _ := obs.Member("c")
		if m.StateSince.Before(before) {
			t.Errorf("%s: StateSince %v is before the shutdown at %v", obs.cfg.NodeID, m.StateSince, before)
		}
		if m.LastAlive.IsZero() || m.LastAlive.After(m.StateSince) {
			t.Errorf("%s: LastAlive %v, StateSince %v", obs.cfg.NodeID, m.LastAlive, m.StateSince)
		}
		if m.Meta != testMeta("c") {
			t.Errorf("%s: dead member lost its meta: %+v", obs.cfg.NodeID, m.Meta)
		}
		if got := len(obs.Members()); got != 3 {
			t.Errorf("%s lists %d members, want 3 (dead ones are kept)", obs.cfg.NodeID, got)
		}
	}

	// Forget drops it.
	nodes[0].Forget("c")
	if _, ok := nodes[0].Member("c"); ok {
		t.Fatal("c still listed after Forget")
	}
	if got := len(nodes[0].Members()); got != 2 {
		t.Fatalf("a lists %d members after Forget, want 2", got)
	}
	// Idempotent shutdown; calls after it fail cleanly.
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := nodes[2].Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Leave after Shutdown = %v", err)
	}
	if err := nodes[2].UpdateMeta(time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("UpdateMeta after Shutdown = %v", err)
	}
	if _, err := nodes[2].Join([]string{nodes[0].addr()}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Join after Shutdown = %v", err)
	}
}

func TestLeaveIsLeft(t *testing.T) {
	t.Parallel()
	nodes := mustCluster(t, mustKey(t), "a", "b", "c")
	for _, obs := range nodes[:2] {
		waitFor(t, 10*time.Second, func() string {
			if s := stateOf(obs, "c"); s != StateAlive {
				return "c is " + s
			}
			return ""
		})
	}
	if err := nodes[2].Leave(5 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if s := stateOf(nodes[2], "c"); s != StateLeft {
		t.Fatalf("c sees itself %q after Leave", s)
	}
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, obs := range nodes[:2] {
		waitFor(t, 10*time.Second, func() string {
			if s := stateOf(obs, "c"); s != StateLeft {
				return fmt.Sprintf("%s sees c %q", obs.cfg.NodeID, s)
			}
			return ""
		})
		if m, _ := obs.Member("c"); m.StateSince.IsZero() || m.Meta != testMeta("c") {
			t.Errorf("%s: left member %+v", obs.cfg.NodeID, m)
		}
	}
}

func TestWrongKeyCannotJoin(t *testing.T) {
	t.Parallel()
	nodes := mustCluster(t, mustKey(t), "a", "b", "c")
	intruder := mustStart(t, "d", mustKey(t), nil)
	if n, err := intruder.Join([]string{nodes[0].addr()}); err == nil || n != 0 {
		t.Fatalf("Join with wrong key: n=%d err=%v, want failure", n, err)
	}
	if ms := intruder.Members(); len(ms) != 1 || ms[0].NodeID != "d" {
		t.Fatalf("intruder sees %+v", ms)
	}
	// The pool's own members keep converging to exactly a, b, c.
	for _, obs := range nodes {
		waitFor(t, 10*time.Second, func() string {
			ms := obs.Members()
			if len(ms) != 3 {
				return fmt.Sprintf("%s sees %d members", obs.cfg.NodeID, len(ms))
			}
			return ""
		})
		if _, ok := obs.Member("d"); ok {
			t.Fatalf("%s lists the intruder", obs.cfg.NodeID)
		}
	}
}

func TestMemberlistLogsGoToSlogWithoutKey(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	key := mustKey(t)
	a := mustStart(t, "a", key, logger)
	b := mustStart(t, "b", key, logger)
	if _, err := b.Join([]string{a.addr()}); err != nil {
		t.Fatalf("join: %v", err)
	}
	waitFor(t, 10*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(buf.String(), "component=memberlist") {
			return "no memberlist log line yet"
		}
		return ""
	})
	_ = b.Leave(time.Second)
	_ = b.Shutdown()
	_ = a.Shutdown()

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("memberlist lines not at debug:\n%s", out)
	}
	for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), string(key)} {
		if strings.Contains(out, enc) {
			t.Fatal("log output contains the secret key")
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
