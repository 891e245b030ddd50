package peer

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

const (
	// senderQueueLen bounds packets waiting for one peer; beyond it they
	// are dropped, as UDP would.
	senderQueueLen = 128
	// senderIdle closes a peer's packet connection after this long unused.
	senderIdle = time.Minute
)

// gossipTransport is a memberlist.NodeAwareTransport over ALPN
// ProtoGossip. Packets travel as frames on one pooled connection per peer,
// written asynchronously so a slow or dead peer never blocks memberlist;
// streams are fresh connections. Shutdown stops only the gossip part.
type gossipTransport struct {
	t        *Transport
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	ctx      context.Context // cancelled by Shutdown
	cancel   context.CancelFunc
	conns    connGroup
	wg       sync.WaitGroup
	from     atomic.Pointer[netip.AddrPort] // our advertise address, sent in hellos

	mu       sync.Mutex
	shutdown bool
	senders  map[string]*packetSender
}

type packetSender struct {
	addr  string
	queue chan []byte
}

var _ memberlist.NodeAwareTransport = (*gossipTransport)(nil)

// GossipTransport returns the memberlist transport carried over ALPN
// "coffer-gossip/1", so gossip is authenticated by the same mutual TLS.
// Repeated calls return the same transport until it is shut down; after
// that a fresh one. Inbound gossip is dropped while there is none.
func (t *Transport) GossipTransport() memberlist.NodeAwareTransport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gossip == nil || t.gossip.isShutdown() {
		ctx, cancel := context.WithCancel(context.Background())
		g := &gossipTransport{
			t:        t,
			packetCh: make(chan *memberlist.Packet),
			streamCh: make(chan net.Conn),
			ctx:      ctx,
			cancel:   cancel,
			senders:  make(map[string]*packetSender),
		}
		from := unmapped(t.advertise)
		g.from.Store(&from)
		if t.closed {
			g.shutdown = true
			g.conns.closed = true
			cancel()
		}
		t.gossip = g
	}
	return t.gossip
}

func unmapped(a *net.TCPAddr) netip.AddrPort {
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// enter registers a goroutine with the transport unless it is shut down.
func (g *gossipTransport) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdown {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *gossipTransport) isShutdown() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.shutdown
}

// gossipDeliver reads the marker of an accepted gossip connection, then
// hands a stream to memberlist or runs the packet reader.
func (t *Transport) gossipDeliver(c *conn) {
	t.mu.Lock()
	g := t.gossip
	t.mu.Unlock()
	if g == nil || !g.enter() {
		c.drop()
		return
	}
	defer g.wg.Done()
	if !g.conns.add(c) {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(t.timeout))
	var marker [1]byte
	if _, err := c.Read(marker[:]); err != nil {
		c.drop()
		return
	}
	switch marker[0] {
	case markerStream:
		_ = c.SetReadDeadline(time.Time{})
		timer := time.NewTimer(t.timeout)
		defer timer.Stop()
		select {
		case g.streamCh <- c:
		case <-g.ctx.Done():
			c.drop()
		case <-timer.C:
			c.drop()
		}
	case markerPacket:
		from, err := readHello(c)
		if err != nil {
			t.log.Debug("bad gossip hello", "node", c.nodeID, "err", err)
			c.drop()
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		g.readPackets(c, from)
	default:
		t.log.Debug("bad gossip marker", "node", c.nodeID)
		c.drop()
	}
}

func (g *gossipTransport) readPackets(c *conn, from net.Addr) {
	defer c.drop()
	for {
		buf, err := readFrame(c)
		ts := time.Now()
		if err != nil {
			return
		}
		select {
		case g.packetCh <- &memberlist.Packet{Buf: buf, From: from, Timestamp: ts}:
		case <-g.ctx.Done():
			return
		}
	}
}

// FinalAdvertiseAddr returns the transport's advertise IP and port. Only
// when that IP is unspecified (bound to all interfaces, no advertise
// address) is the ip memberlist offers used, with our port.
func (g *gossipTransport) FinalAdvertiseAddr(ip string, _ int) (net.IP, int, error) {
	adv := g.t.advertise
	addr := adv.IP
	if addr == nil || addr.IsUnspecified() {
		if ip == "" {
			return nil, 0, fmt.Errorf("peer: gossip: advertise address is unspecified")
		}
		addr = net.ParseIP(ip)
		if addr == nil {
			return nil, 0, fmt.Errorf("peer: gossip: bad advertise ip %q", ip)
		}
	}
	if v4 := addr.To4(); v4 != nil {
		addr = v4
	}
	na, _ := netip.AddrFromSlice(addr)
	from := netip.AddrPortFrom(na.Unmap(), uint16(adv.Port))
	g.from.Store(&from)
	return addr, adv.Port, nil
}

// WriteTo sends a packet to addr; see WriteToAddress.
func (g *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return g.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress queues b for the peer at a.Addr and returns at once. The
// packet is dropped if the queue is full or the connection fails: packets
// are unreliable by nature. It fails fast with ErrNoIdentity.
func (g *gossipTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if !g.t.HasIdentity() {
		return time.Time{}, ErrNoIdentity
	}
	if len(b) == 0 || len(b) > maxFrameLen {
		return time.Time{}, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b))
	}
	frame := append([]byte(nil), b...)
	g.mu.Lock()
	if g.shutdown {
		g.mu.Unlock()
		return time.Time{}, ErrClosed
	}
	s := g.senders[a.Addr]
	if s == nil {
		s = &packetSender{addr: a.Addr, queue: make(chan []byte, senderQueueLen)}
		g.senders[a.Addr] = s
		g.wg.Add(1)
		go g.runSender(s)
	}
	select {
	case s.queue <- frame:
	default:
	}
	g.mu.Unlock()
	return time.Now(), nil
}

// runSender dials the peer, then writes queued frames until an error, the
// idle timeout or Shutdown.
func (g *gossipTransport) runSender(s *packetSender) {
	defer g.wg.Done()
	defer g.removeSender(s)
	ctx, cancel := context.WithTimeout(g.ctx, g.t.timeout)
	c, err := g.t.dial(ctx, s.addr, ProtoGossip)
	cancel()
	if err != nil {
		g.t.log.Debug("gossip dial failed", "addr", s.addr, "err", err)
		return
	}
	if !g.conns.add(c) {
		return
	}
	defer c.drop()
	_ = c.SetWriteDeadline(time.Now().Add(g.t.timeout))
	if _, err := c.Write(encodeHello(*g.from.Load())); err != nil {
		return
	}
	idle := time.NewTimer(senderIdle)
	defer idle.Stop()
	for {
		select {
		case frame := <-s.queue:
			_ = c.SetWriteDeadline(time.Now().Add(g.t.timeout))
			if err := writeFrame(c, frame); err != nil {
				g.t.log.Debug("gossip packet write failed", "addr", s.addr, "err", err)
				return
			}
			idle.Reset(senderIdle)
		case <-idle.C:
			return
		case <-g.ctx.Done():
			return
		}
	}
}

func (g *gossipTransport) removeSender(s *packetSender) {
	g.mu.Lock()
	if g.senders[s.addr] == s {
		delete(g.senders, s.addr)
	}
	g.mu.Unlock()
}

// PacketCh delivers inbound packets.
func (g *gossipTransport) PacketCh() <-chan *memberlist.Packet { return g.packetCh }

// DialTimeout opens a stream; see DialAddressTimeout.
func (g *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return g.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a fresh mutual-TLS stream to a.Addr.
func (g *gossipTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if g.isShutdown() {
		return nil, ErrClosed
	}
	if timeout <= 0 {
		timeout = g.t.timeout
	}
	ctx, cancel := context.WithTimeout(g.ctx, timeout)
	defer cancel()
	c, err := g.t.dial(ctx, a.Addr, ProtoGossip)
	if err != nil {
		return nil, err
	}
	if !g.conns.add(c) {
		return nil, ErrClosed
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{markerStream}); err != nil {
		c.drop()
		return nil, fmt.Errorf("peer: gossip stream: %w", err)
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

// StreamCh delivers inbound streams.
func (g *gossipTransport) StreamCh() <-chan net.Conn { return g.streamCh }

// Shutdown stops the gossip part only: it cuts gossip connections and
// waits for its goroutines. It is idempotent.
func (g *gossipTransport) Shutdown() error {
	g.mu.Lock()
	already := g.shutdown
	g.shutdown = true
	g.mu.Unlock()
	if already {
		return nil
	}
	g.cancel()
	g.conns.closeAll()
	g.wg.Wait()
	return nil
}
