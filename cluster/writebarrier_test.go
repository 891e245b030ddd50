package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestWriteBarrier(t *testing.T) {
	tc := mustCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := tc.leader(t, -1)
	leader := tc.nodes[l]

	// A write that commits needs no further proof.
	wctx, finish, err := leader.WriteBarrier(ctx)
	if err != nil {
		t.Fatalf("write barrier: %v", err)
	}
	if err := leader.Put(wctx, "k", []byte("v1")); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := finish(wctx); err != nil {
		t.Fatalf("finish after a commit: %v", err)
	}

	// One that commits nothing is proved by a leadership round.
	wctx, finish, err = leader.WriteBarrier(ctx)
	if err != nil {
		t.Fatalf("write barrier: %v", err)
	}
	if got, err := leader.Get(wctx, "k"); err != nil || string(got) != "v1" {
		t.Fatalf("get under the barrier: %q, %v", got, err)
	}
	if err := finish(wctx); err != nil {
		t.Fatalf("finish on a healthy leader: %v", err)
	}

	// A leader cut off from its peers may read under the deferred barrier,
	// but must not answer from those reads.
	wctx, finish, err = leader.WriteBarrier(ctx)
	if err != nil {
		t.Fatalf("write barrier: %v", err)
	}
	tc.transports[l].ClearIdentity()
	short, cancelShort := context.WithTimeout(wctx, 5*time.Second)
	defer cancelShort()
	if err := finish(short); err == nil {
		t.Fatal("a leader cut off from its peers passed the deferred barrier without committing")
	}
}

func TestWriteBarrierSoleVoter(t *testing.T) {
	tc := mustCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := tc.nodes[tc.leader(t, -1)]
	if !n.soleVoter() {
		t.Fatal("a one-node cluster's leader is not its sole voter")
	}
	wctx, finish, err := n.WriteBarrier(ctx)
	if err != nil {
		t.Fatalf("write barrier: %v", err)
	}
	if err := finish(wctx); err != nil {
		t.Fatalf("finish: %v", err)
	}
}

// transferLeadership moves leadership from node from to node to and waits
// until to serves as leader.
func transferLeadership(t *testing.T, tc *testCluster, from, to int) {
	t.Helper()
	n := tc.nodes[to]
	if err := tc.nodes[from].raft.LeadershipTransferToServer(raft.ServerID(n.cfg.NodeID), raft.ServerAddress(n.RaftAddr())).Error(); err != nil {
		t.Fatalf("transfer leadership %d -> %d: %v", from, to, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !n.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatalf("node %d did not become leader", to)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A request that started as leader, lost leadership (another leader
// acknowledged a write meanwhile) and got it back commits in a later term:
// that commit proves nothing about its earlier reads, so finish must fail.
func TestWriteBarrierReelection(t *testing.T) {
	tc := mustCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := tc.leader(t, -1)
	b := (a + 1) % 3
	wctx, finish, err := tc.nodes[a].WriteBarrier(ctx)
	if err != nil {
		t.Fatalf("write barrier: %v", err)
	}
	transferLeadership(t, tc, a, b)
	if err := tc.nodes[b].Put(ctx, "k", []byte("from the other leader")); err != nil {
		t.Fatalf("put on the other leader: %v", err)
	}
	transferLeadership(t, tc, b, a)
	if err := tc.nodes[a].Put(wctx, "mine", []byte("x")); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := finish(wctx); err == nil {
		t.Fatal("a commit in a later term passed for reads made before the leadership changed hands")
	}
}
