package http

import (
	"context"
	"sync"
	"time"
)

// boundedContext is a request's context with the handler's time bound:
// what context.WithDeadline gives, except that the timer is only started
// when someone first waits on the context (Done or Err). Most requests
// (a read on one node, a rejected token) never wait, and a timer per
// request was a few percent of the server's CPU on them.
//
// Deadline reports the bound from the start, so code that derives its own
// timeouts from it (Raft applies, forwarding) sees it either way.
type boundedContext struct {
	context.Context // the request's own context, from net/http

	deadline time.Time

	once   sync.Once
	timed  context.Context // set once, under once
	cancel context.CancelFunc
}

// withBound returns parent bounded to d from now and the function that
// releases it, as context.WithTimeout does.
func withBound(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c := &boundedContext{Context: parent, deadline: time.Now().Add(d)}
	return c, c.release
}

// armed starts the timer if it is not running yet and returns the context
// that now answers for this one.
func (c *boundedContext) armed() context.Context {
	c.once.Do(func() { c.timed, c.cancel = context.WithDeadline(c.Context, c.deadline) })
	return c.timed
}

// Deadline is the earlier of the bound and the parent's deadline.
func (c *boundedContext) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *boundedContext) Done() <-chan struct{} { return c.armed().Done() }

func (c *boundedContext) Err() error { return c.armed().Err() }

// AfterFunc lets contexts derived from this one (context.WithCancel and
// the like) hook its end without a goroutine each, as they do on the
// standard library's own contexts.
func (c *boundedContext) AfterFunc(f func()) func() bool {
	return context.AfterFunc(c.armed(), f)
}

// release ends the context: waiters see it done (context.Canceled, as after
// a CancelFunc), and a timer started for it stops.
func (c *boundedContext) release() {
	c.once.Do(func() { c.timed = canceled })
	if c.cancel != nil {
		c.cancel()
	}
}

// canceled is the state a released, never-armed context reports.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
