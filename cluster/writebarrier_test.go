package cluster

import (
	"context"
	"testing"
	"time"
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
