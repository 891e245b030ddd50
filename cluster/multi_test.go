package cluster

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"coffer/transport/peer"
)

// testCluster is three in-process nodes over real mutual-TLS transports.
type testCluster struct {
	nodes      []*Node
	transports []*peer.Transport
	ids        []*peer.Identity
}

func mustIdentity(tb testing.TB, ca *peer.CA, id string) *peer.Identity {
	tb.Helper()
	key, err := peer.NewNodeKey()
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := ca.Issue(id, &key.PublicKey, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	ident, err := peer.NewIdentity(ca.CertPEM(), cert, key)
	if err != nil {
		tb.Fatal(err)
	}
	return ident
}

// mustCluster starts n nodes: the first bootstraps, the others join as
// non-voters and are promoted.
func mustCluster(tb testing.TB, n int) *testCluster {
	tb.Helper()
	certPEM, keyPEM, err := peer.NewCA("test")
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := peer.ParseCA(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	tc := &testCluster{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		tr, err := peer.Listen(peer.Config{BindAddr: "127.0.0.1:0"})
		if err != nil {
			tb.Fatal(err)
		}
		ident := mustIdentity(tb, ca, id)
		tr.SetIdentity(ident)
		node, err := Open(ctx, Config{
			Dir: tb.TempDir(), NodeID: id, StreamLayer: tr.RaftLayer(), RPCClient: tr.HTTPClient(),
			RaftLogOutput: io.Discard, LeaderServiceDelay: 50 * time.Millisecond,
		})
		if err != nil {
			tb.Fatal(err)
		}
		tr.SetRPCHandler(node.RPCHandler())
		tb.Cleanup(func() { node.Close(); tr.Close() })
		tc.nodes, tc.transports, tc.ids = append(tc.nodes, node), append(tc.transports, tr), append(tc.ids, ident)
		if i == 0 {
			if err := node.Bootstrap(ctx); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if err := node.Join(); err != nil {
			tb.Fatal(err)
		}
		if err := tc.nodes[0].AddVoter(ctx, id, node.RaftAddr()); err != nil {
			tb.Fatal(err)
		}
	}
	return tc
}

// leader waits for a leader among the nodes not excluded.
func (tc *testCluster) leader(tb testing.TB, exclude int) int {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range tc.nodes {
			if i != exclude && n.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatal("no leader within 10s")
	return -1
}

func TestStandbyReadsAreLinearizable(t *testing.T) {
	tc := mustCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := tc.leader(t, -1)
	for i := range 50 {
		v := []byte(fmt.Sprintf("v%d", i))
		if err := tc.nodes[l].Put(ctx, "k", v); err != nil {
			t.Fatalf("put: %v", err)
		}
		// Immediately after the acknowledgement, every standby sees it.
		for j, n := range tc.nodes {
			if j == l {
				continue
			}
			got, err := n.Get(ctx, "k")
			if err != nil {
				t.Fatalf("standby %d get: %v", j, err)
			}
			if string(got) != string(v) {
				t.Fatalf("standby %d read %q right after %q was acknowledged", j, got, v)
			}
		}
	}
	// A standby cut off from the leader refuses reads rather than serve stale ones.
	standby := (l + 1) % 3
	tc.transports[standby].ClearIdentity()
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := tc.nodes[standby].Get(short, "k"); err == nil {
		t.Fatal("a partitioned standby served a read")
	}
}

// interval is one run of a leader service.
type interval struct {
	node       string
	start, end time.Time
}

type serviceLog struct {
	mu   sync.Mutex
	runs []interval
}

func (s *serviceLog) service(node string) LeaderService {
	return func(ctx context.Context) {
		s.mu.Lock()
		i := len(s.runs)
		s.runs = append(s.runs, interval{node: node, start: time.Now()})
		s.mu.Unlock()
		<-ctx.Done()
		s.mu.Lock()
		s.runs[i].end = time.Now()
		s.mu.Unlock()
	}
}

func TestLeaderServicesNeverOverlap(t *testing.T) {
	tc := mustCluster(t, 3)
	log := &serviceLog{}
	for i, n := range tc.nodes {
		stop := n.RunWhileLeader("recorder", log.service(fmt.Sprintf("n%d", i+1)))
		t.Cleanup(stop)
	}
	waitRuns := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			log.mu.Lock()
			n := len(log.runs)
			log.mu.Unlock()
			if n >= want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("leader service did not start %d times", want)
	}
	waitRuns(1)
	// Cut the leader off: its peers see it die while it still believes it
	// leads until its lease lapses. A new leader's service must start only
	// after the old one stopped. Then kill the old leader outright.
	l := tc.leader(t, -1)
	tc.transports[l].ClearIdentity()
	waitRuns(2)
	if err := tc.nodes[l].Close(); err != nil {
		t.Logf("close: %v", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for i, a := range log.runs {
		for j, b := range log.runs {
			if i >= j || a.node == b.node {
				continue
			}
			aEnd, bEnd := a.end, b.end
			if aEnd.IsZero() {
				aEnd = time.Now()
			}
			if bEnd.IsZero() {
				bEnd = time.Now()
			}
			if a.start.Before(bEnd) && b.start.Before(aEnd) {
				t.Fatalf("leader service ran on %s [%v, %v] and %s [%v, %v] at once",
					a.node, a.start.Format(time.StampMicro), aEnd.Format(time.StampMicro), b.node, b.start.Format(time.StampMicro), bEnd.Format(time.StampMicro))
			}
		}
	}
	if len(log.runs) < 2 {
		t.Fatalf("runs = %d", len(log.runs))
	}
}
