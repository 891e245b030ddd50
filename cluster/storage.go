package cluster

import (
	"context"
	"fmt"

	"coffer/fsm"

	"github.com/hashicorp/raft"
)

// Get reads key linearizably (see ReadBarrier); (nil, nil) when absent.
// Under a context returned by ReadBarrier it reads at once.
func (n *Node) Get(ctx context.Context, key string) ([]byte, error) {
	if !barrierPassed(ctx) {
		if _, err := n.ReadBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return n.fsm.Get(key)
}

// List lists the immediate children of prefix linearizably.
func (n *Node) List(ctx context.Context, prefix string) ([]string, error) {
	if !barrierPassed(ctx) {
		if _, err := n.ReadBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return n.fsm.List(prefix)
}

// Scan returns up to limit whole keys under prefix after after, in
// order, linearizably (see fsm.FSM.Scan).
func (n *Node) Scan(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	if !barrierPassed(ctx) {
		if _, err := n.ReadBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return n.fsm.Scan(prefix, after, limit)
}

// GetLocal reads key from this node's FSM with no barrier: possibly stale.
// The seal uses it to unseal a node that cannot reach a leader yet.
func (n *Node) GetLocal(key string) ([]byte, error) { return n.fsm.Get(key) }

// ListLocal lists prefix from this node's FSM with no barrier.
func (n *Node) ListLocal(prefix string) ([]string, error) { return n.fsm.List(prefix) }

// Observe registers fn for applied writes under prefixes; see fsm.Observer.
func (n *Node) Observe(prefixes []string, fn func(key string)) { n.fsm.Observe(prefixes, fn) }

// Put writes one key through Raft.
func (n *Node) Put(ctx context.Context, key string, value []byte) error {
	return n.Apply(ctx, []fsm.Op{{Kind: fsm.OpPut, Key: key, Value: value}})
}

// Delete removes one key through Raft.
func (n *Node) Delete(ctx context.Context, key string) error {
	return n.Apply(ctx, []fsm.Op{{Kind: fsm.OpDelete, Key: key}})
}

// Batch writes puts and deletes atomically, in one Raft entry.
func (n *Node) Batch(ctx context.Context, puts map[string][]byte, deletes []string) error {
	ops := make([]fsm.Op, 0, len(puts)+len(deletes))
	for k, v := range puts {
		ops = append(ops, fsm.Op{Kind: fsm.OpPut, Key: k, Value: v})
	}
	for _, k := range deletes {
		ops = append(ops, fsm.Op{Kind: fsm.OpDelete, Key: k})
	}
	return n.Apply(ctx, ops)
}

// DeletePrefix removes every key under prefix in one Raft entry.
func (n *Node) DeletePrefix(ctx context.Context, prefix string) error {
	return n.Apply(ctx, []fsm.Op{{Kind: fsm.OpDeletePrefix, Key: prefix}})
}

// Apply commits ops atomically (they land in the same log entry) and
// returns once they are committed and applied on this node. Concurrent
// callers are grouped into shared log entries.
func (n *Node) Apply(ctx context.Context, ops []fsm.Op) error {
	if !n.started.Load() {
		return ErrNotStarted
	}
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	// A write the FSM would refuse must not share a log entry with others
	// (the FSM refuses a whole entry), so it is refused here, alone.
	if err := fsm.ValidateCommand(ops); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidWrite, err)
	}
	if err := n.commits.submit(ctx, ops); err != nil {
		return err
	}
	if d, ok := ctx.Value(deferredKey{}).(*deferredBarrier); ok {
		d.commitSeen()
	}
	return nil
}
