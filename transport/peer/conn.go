package peer

import (
	"crypto/tls"
	"net"
	"sync"
)

// conn is an authenticated TLS connection registered with its Transport so
// ClearIdentity and Close can cut it. It deliberately is not a *tls.Conn:
// net/http would otherwise try to hand our ALPN protocol to TLSNextProto.
type conn struct {
	*tls.Conn
	raw    net.Conn
	nodeID string
	proto  string
	owner  *Transport
	group  *connGroup // the protocol user that owns it, if any
	once   sync.Once
}

// Close untracks the connection and closes it gracefully.
func (c *conn) Close() error {
	c.forget()
	return c.Conn.Close()
}

// drop untracks the connection and cuts it.
func (c *conn) drop() {
	c.forget()
	c.cut()
}

func (c *conn) forget() {
	c.once.Do(func() {
		c.owner.untrack(c)
		if c.group != nil {
			c.group.remove(c)
		}
	})
}

// cut closes the socket at once, without a close_notify that could block
// on a peer that does not read.
func (c *conn) cut() { _ = c.raw.Close() }

// connGroup is the set of connections owned by one protocol user (a raft
// layer, a gossip transport), so closing that user cuts them all.
type connGroup struct {
	mu     sync.Mutex
	closed bool
	m      map[*conn]struct{}
}

// add joins c to the group; it reports false (and cuts c) if the group is
// already closed.
func (g *connGroup) add(c *conn) bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		c.drop()
		return false
	}
	if g.m == nil {
		g.m = make(map[*conn]struct{})
	}
	c.group = g
	g.m[c] = struct{}{}
	g.mu.Unlock()
	return true
}

func (g *connGroup) remove(c *conn) {
	g.mu.Lock()
	delete(g.m, c)
	g.mu.Unlock()
}

// closeAll marks the group closed and cuts every member.
func (g *connGroup) closeAll() {
	g.mu.Lock()
	g.closed = true
	members := make([]*conn, 0, len(g.m))
	for c := range g.m {
		members = append(members, c)
	}
	g.mu.Unlock()
	for _, c := range members {
		c.drop()
	}
}

// NodeID returns the verified node ID of the remote end.
func (c *conn) NodeID() string { return c.nodeID }

// ConnNodeID returns the verified node ID of the remote end of a connection
// made or accepted by this package (RaftLayer, GossipTransport streams), or
// "" for any other connection.
func ConnNodeID(c net.Conn) string {
	if pc, ok := c.(*conn); ok {
		return pc.nodeID
	}
	return ""
}

// track registers an authenticated connection. gen is the identity
// generation observed before the handshake started; if ClearIdentity or
// Close ran since, the connection is cut and an error returned.
func (t *Transport) track(tc *tls.Conn, raw net.Conn, gen uint64) (*conn, error) {
	cs := tc.ConnectionState()
	c := &conn{Conn: tc, raw: raw, proto: cs.NegotiatedProtocol, owner: t}
	if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
		c.nodeID = cs.VerifiedChains[0][0].Subject.CommonName
	}
	t.mu.Lock()
	switch {
	case t.closed:
		t.mu.Unlock()
		c.cut()
		return nil, ErrClosed
	case gen != t.gen:
		t.mu.Unlock()
		c.cut()
		return nil, ErrNoIdentity
	}
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	return c, nil
}

func (t *Transport) untrack(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// cutAllLocked bumps the generation and detaches every tracked connection;
// the caller cuts them after releasing t.mu.
func (t *Transport) cutAllLocked() []*conn {
	t.gen++
	out := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		out = append(out, c)
		delete(t.conns, c)
	}
	return out
}
