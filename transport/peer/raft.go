package peer

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// raftLayer is the raft.StreamLayer over ALPN ProtoRaft. Closing it stops
// Accept and cuts the connections it accepted or dialled; the transport and
// its other protocols carry on.
type raftLayer struct {
	t        *Transport
	acceptCh chan *conn
	closed   chan struct{}
	once     sync.Once
	conns    connGroup
}

var _ raft.StreamLayer = (*raftLayer)(nil)

// RaftLayer returns the raft.StreamLayer carried over ALPN "coffer-raft/1".
// Repeated calls return the same layer until it is closed; after that a
// fresh one (so a node can recreate its Raft instance).
func (t *Transport) RaftLayer() raft.StreamLayer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.raft == nil || t.raft.isClosed() {
		t.raft = &raftLayer{t: t, acceptCh: make(chan *conn), closed: make(chan struct{})}
		if t.closed {
			_ = t.raft.Close()
		}
	}
	return t.raft
}

// raftDeliver hands an accepted raft connection to the current layer,
// dropping it if nobody accepts within the handshake timeout.
func (t *Transport) raftDeliver(c *conn) {
	t.mu.Lock()
	l := t.raft
	t.mu.Unlock()
	if l == nil || !l.conns.add(c) {
		c.drop()
		return
	}
	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	select {
	case l.acceptCh <- c:
	case <-l.closed:
		c.drop()
	case <-t.done:
		c.drop()
	case <-timer.C:
		t.log.Warn("raft connection not accepted in time", "node", c.nodeID)
		c.drop()
	}
}

// Accept waits for the next inbound raft connection.
func (l *raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.acceptCh:
		return c, nil
	case <-l.closed:
		return nil, ErrClosed
	}
}

// Close stops Accept and cuts the layer's connections. It is idempotent.
func (l *raftLayer) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.conns.closeAll()
	})
	return nil
}

func (l *raftLayer) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Addr returns the transport's advertise address.
func (l *raftLayer) Addr() net.Addr { return l.t.Addr() }

// Dial opens a raft connection to address; it fails fast with
// ErrNoIdentity when the node has no identity.
func (l *raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	c, err := l.t.dialTimeout(string(address), ProtoRaft, timeout)
	if err != nil {
		return nil, err
	}
	if !l.conns.add(c) {
		return nil, ErrClosed
	}
	return c, nil
}
