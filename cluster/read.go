package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// readBarrier makes reads linearizable on the leader at the cost of one
// VerifyLeader round per group of concurrent reads.
//
// A reader joins the next round; a round starts only after every reader in
// it has arrived, so a successful round proves this node was still the
// leader after each of its readers started. Every acknowledged write was
// applied to the local FSM before it was acknowledged, and a new leader
// serves no read before its raft.Barrier (see watchLeadership), so the FSM
// then holds every write acknowledged before the read began.
type readBarrier struct {
	raft *raft.Raft

	mu      sync.Mutex
	next    []chan error
	running bool
}

func newReadBarrier(r *raft.Raft) *readBarrier { return &readBarrier{raft: r} }

func (b *readBarrier) wait(ctx context.Context, n *Node) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	if n.soleVoter() {
		return nil
	}
	ch := make(chan error, 1)
	b.mu.Lock()
	b.next = append(b.next, ch)
	if !b.running {
		b.running = true
		go b.rounds()
	}
	b.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("cluster: read barrier: %w", ctx.Err())
	}
}

func (b *readBarrier) rounds() {
	for {
		b.mu.Lock()
		waiting := b.next
		b.next = nil
		if len(waiting) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		err := b.raft.VerifyLeader().Error()
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		for _, ch := range waiting {
			ch <- err
		}
	}
}

// soleVoter reports whether this node is the only server of the latest
// configuration, as a voter. Such a leader cannot have been replaced
// without knowing: any other candidate needs a vote that only this node
// can give, so a read needs no VerifyLeader round (which goes through
// Raft's leader loop and waits behind its log fsync). While another server
// is being added the latest configuration already names it, and reads
// verify again.
func (n *Node) soleVoter() bool {
	servers := n.raft.GetConfiguration().Configuration().Servers
	return len(servers) == 1 && servers[0].Suffrage == raft.Voter && servers[0].ID == raft.ServerID(n.cfg.NodeID)
}
