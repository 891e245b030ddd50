package cluster

import (
	"context"
	"fmt"

	"coffer/fsm"

	"github.com/hashicorp/raft"
)

// Get reads key after a read barrier; (nil, nil) when absent.
func (n *Node) Get(ctx context.Context, key string) ([]byte, error) {
	if err := n.reads.wait(ctx, n); err != nil {
		return nil, err
	}
	return n.fsm.Get(key)
}

// List lists the immediate children of prefix after a read barrier.
func (n *Node) List(ctx context.Context, prefix string) ([]string, error) {
	if err := n.reads.wait(ctx, n); err != nil {
		return nil, err
	}
	return n.fsm.List(prefix)
}

// Put writes one key through Raft.
func (n *Node) Put(ctx context.Context, key string, value []byte) error {
	return n.Apply(ctx, []fsm.Op{{Kind: fsm.OpPut, Key: key, Value: value}})
}

// Delete removes one key through Raft.
func (n *Node) Delete(ctx context.Context, key string) error {
	return n.Apply(ctx, []fsm.Op{{Kind: fsm.OpDelete, Key: key}})
}

// DeletePrefix removes every key under prefix in one Raft entry.
func (n *Node) DeletePrefix(ctx context.Context, prefix string) error {
	return n.Apply(ctx, []fsm.Op{{Kind: fsm.OpDeletePrefix, Key: prefix}})
}

// Apply commits ops atomically (they land in the same log entry) and
// returns once they are committed and applied on this node. Concurrent
// callers are grouped into shared log entries.
func (n *Node) Apply(ctx context.Context, ops []fsm.Op) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	// A write the FSM would refuse must not share a log entry with others
	// (the FSM refuses a whole entry), so it is refused here, alone.
	if err := fsm.ValidateCommand(ops); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidWrite, err)
	}
	return n.commits.submit(ctx, ops)
}
