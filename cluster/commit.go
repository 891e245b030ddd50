package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"coffer/fsm"

	"github.com/hashicorp/raft"
)

// committer turns concurrent writes into few Raft entries (group commit).
//
// One goroutine takes the first waiting write, then every other write
// already queued (up to maxOps operations or maxBytes encoded), encodes them
// as one fsm command and hands it to Raft. At most maxInFlight such entries
// are in Raft at once; while they are being fsynced, new writes queue up and
// form the next, larger batch. Each caller is answered only after its entry
// is committed and applied.
type committer struct {
	raft     *raft.Raft
	maxOps   int
	maxBytes int

	// onFatal is told when the FSM reports a disk failure: the node can no
	// longer apply entries and must stop serving.
	onFatal func(error)

	queue    chan *pendingWrite
	inFlight chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup
}

type pendingWrite struct {
	ops    []fsm.Op
	size   int
	result chan error
}

func newCommitter(r *raft.Raft, maxOps, maxBytes, maxInFlight int, onFatal func(error)) *committer {
	c := &committer{
		raft:     r,
		onFatal:  onFatal,
		maxOps:   maxOps,
		maxBytes: maxBytes,
		queue:    make(chan *pendingWrite, 4*maxOps),
		inFlight: make(chan struct{}, maxInFlight),
		done:     make(chan struct{}),
	}
	c.wg.Add(1)
	go c.run()
	return c
}

func opsSize(ops []fsm.Op) int {
	size := 0
	for _, op := range ops {
		size += len(op.Key) + len(op.Value) + 16
	}
	return size
}

// submit queues ops and waits for their commit. If ctx ends first the
// write may still be applied later; the caller only stops waiting.
func (c *committer) submit(ctx context.Context, ops []fsm.Op) error {
	p := &pendingWrite{ops: ops, size: opsSize(ops), result: make(chan error, 1)}
	if p.size > c.maxBytes {
		return ErrTooLarge
	}
	select {
	case c.queue <- p:
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("cluster: queue write: %w", ctx.Err())
	}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("cluster: wait for commit: %w", ctx.Err())
	}
}

func (c *committer) run() {
	defer c.wg.Done()
	var carry *pendingWrite
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-c.queue:
			case <-c.done:
				c.drain(ErrClosed)
				return
			}
		}
		batch := []*pendingWrite{first}
		ops, size := len(first.ops), first.size
	gather:
		for ops < c.maxOps {
			select {
			case p := <-c.queue:
				if ops+len(p.ops) > c.maxOps || size+p.size > c.maxBytes {
					carry = p
					break gather
				}
				batch = append(batch, p)
				ops += len(p.ops)
				size += p.size
			default:
				break gather
			}
		}
		select {
		case c.inFlight <- struct{}{}:
		case <-c.done:
			fail(batch, ErrClosed)
			if carry != nil {
				carry.result <- ErrClosed
			}
			c.drain(ErrClosed)
			return
		}
		c.wg.Add(1)
		go c.commit(batch, ops)
	}
}

// commit proposes one batch as one log entry and answers its writers.
func (c *committer) commit(batch []*pendingWrite, nops int) {
	defer c.wg.Done()
	defer func() { <-c.inFlight }()
	defer commitTimer(nops)()
	all := make([]fsm.Op, 0, nops)
	for _, p := range batch {
		all = append(all, p.ops...)
	}
	f := c.raft.Apply(fsm.EncodeCommand(all), 0)
	err := f.Error()
	if err == nil {
		if rerr, ok := f.Response().(error); ok && rerr != nil {
			err = rerr
		}
	}
	if errors.Is(err, fsm.ErrFailed) {
		c.onFatal(err)
	}
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		err = fmt.Errorf("%w: %w", ErrNotLeader, err)
	} else if errors.Is(err, raft.ErrRaftShutdown) {
		err = ErrClosed
	} else if err != nil {
		err = fmt.Errorf("cluster: commit: %w", err)
	}
	fail(batch, err)
}

func fail(batch []*pendingWrite, err error) {
	for _, p := range batch {
		p.result <- err
	}
}

func (c *committer) drain(err error) {
	for {
		select {
		case p := <-c.queue:
			p.result <- err
		default:
			return
		}
	}
}

// close stops accepting writes and waits for entries in flight.
func (c *committer) close() {
	close(c.done)
	c.wg.Wait()
}
