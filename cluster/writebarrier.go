package cluster

import (
	"context"
	"sync/atomic"
)

// deferredKey carries a write request's deferredBarrier.
type deferredKey struct{}

// deferredBarrier is the read barrier of a request served on the leader
// that is expected to write. The request reads the local FSM at once; the
// leadership check is owed only if it ends without committing anything.
type deferredBarrier struct {
	n         *Node
	term      uint64 // the Raft term the request started in, as leader
	terms     uint64 // n.terms when the request started
	committed atomic.Bool
}

// commitSeen records a successful Apply under the barrier's context. It
// proves the reads only if the entry went in during the term the request
// started in: a node deposed and elected again meanwhile commits in a
// later term, which says nothing about reads made before.
func (d *deferredBarrier) commitSeen() {
	if d.n.raft.CurrentTerm() == d.term {
		d.committed.Store(true)
	}
}

// WriteBarrier is ReadBarrier for a request expected to write (a create,
// update, patch or delete). On the leader it returns at once, and the
// returned finish must be called before the response leaves: it returns
// nil if the request committed a write through Raft (Apply), and otherwise
// proves leadership as ReadBarrier would have, only later.
//
// Why a committed write needs no proof: its entry committed in the term
// the request started in (a commit in a later term does not count), so no later leader had committed anything before it (that
// leader's voters would have refused the entry), and every write
// acknowledged before the request began was applied here before its
// acknowledgement or before this node became ready. The reads the request
// made therefore saw all of them. A request that committed nothing (a
// refused check-and-set, a validation error after a read) gets one
// VerifyLeader round after its reads, and is void if leadership changed
// in between, so a node deposed without knowing it never answers from
// stale state. Elsewhere (standbys, a sole voter) it is ReadBarrier, and
// finish does nothing.
func (n *Node) WriteBarrier(ctx context.Context) (context.Context, func(context.Context) error, error) {
	if barrierPassed(ctx) || !n.started.Load() || !n.IsLeader() || n.soleVoter() {
		ctx, err := n.ReadBarrier(ctx)
		return ctx, func(context.Context) error { return nil }, err
	}
	d := &deferredBarrier{n: n, term: n.raft.CurrentTerm(), terms: n.terms.Load()}
	if !n.IsLeader() || n.raft.CurrentTerm() != d.term {
		// Leadership moved while the barrier was being set up.
		ctx, err := n.ReadBarrier(ctx)
		return ctx, func(context.Context) error { return nil }, err
	}
	ctx = context.WithValue(context.WithValue(ctx, barrierKey{}, true), deferredKey{}, d)
	return ctx, d.finish, nil
}

func (d *deferredBarrier) finish(ctx context.Context) error {
	if d.committed.Load() {
		return nil
	}
	if err := d.n.reads.wait(ctx, d.n); err != nil {
		return err
	}
	if d.n.raft.CurrentTerm() != d.term || d.n.terms.Load() != d.terms {
		return ErrNotLeader
	}
	return nil
}
