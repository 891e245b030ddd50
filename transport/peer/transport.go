package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// defaultHandshakeTimeout bounds how long an unauthenticated
	// connection may hold a handshake slot; a peer completes its handshake
	// in milliseconds, so a short bound makes slot-holding floods costly.
	defaultHandshakeTimeout = 2 * time.Second
	// maxPendingHandshakes caps concurrent unauthenticated handshakes; a
	// connection arriving beyond it is closed at once. With the per-host
	// cap, filling every slot takes connections from 16 addresses.
	maxPendingHandshakes = 512
	// maxPendingPerHost caps them per remote IP, so one host cannot take
	// every slot; above the RPC client's own per-host dial cap.
	maxPendingPerHost = 32
)

// Config configures a Transport.
type Config struct {
	BindAddr         string        // host:port to listen on (":0" allowed)
	AdvertiseAddr    string        // host:port peers use; empty = the listener's address
	Logger           *slog.Logger  // nil = discard
	HandshakeTimeout time.Duration // 0 = 2s
}

// Transport is a node's one mutual-TLS cluster listener and dialer. With no
// identity installed every handshake fails and every dial fails fast. All
// methods are safe for concurrent use.
type Transport struct {
	ln        net.Listener
	advertise *net.TCPAddr
	log       *slog.Logger
	timeout   time.Duration
	serverTLS *tls.Config
	pendMu    sync.Mutex
	pending   int                // handshakes in progress
	pendHost  map[netip.Addr]int // of which per remote IP
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	id atomic.Pointer[Identity]

	mu     sync.Mutex
	gen    uint64 // bumped by ClearIdentity and Close
	closed bool
	conns  map[*conn]struct{}
	raft   *raftLayer
	gossip *gossipTransport

	rpc rpcSide
}

// Listen binds cfg.BindAddr and starts accepting at once.
func Listen(cfg Config) (*Transport, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("peer: listen: %w", err)
	}
	advertise, _ := ln.Addr().(*net.TCPAddr)
	if cfg.AdvertiseAddr != "" {
		advertise, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("peer: advertise address: %w", err)
		}
	}
	t := &Transport{
		ln:        ln,
		advertise: advertise,
		log:       logger,
		timeout:   timeout,
		pendHost:  make(map[netip.Addr]int),
		done:      make(chan struct{}),
		conns:     make(map[*conn]struct{}),
	}
	t.serverTLS = &tls.Config{
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		GetConfigForClient: t.configForClient,
	}
	t.rpc.init(t)
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// SetIdentity installs or replaces the node's identity. New handshakes use
// it; established connections are left alone.
func (t *Transport) SetIdentity(id *Identity) {
	if id == nil {
		t.ClearIdentity()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.id.Store(id)
}

// ClearIdentity refuses new handshakes and cuts every open connection this
// transport accepted or dialled, all protocols, pooled ones included. Call
// it on seal.
func (t *Transport) ClearIdentity() {
	t.mu.Lock()
	t.id.Store(nil)
	cut := t.cutAllLocked()
	t.mu.Unlock()
	for _, c := range cut {
		c.cut()
	}
	t.rpc.client.CloseIdleConnections()
	if len(cut) > 0 {
		t.log.Info("identity cleared", "connections_closed", len(cut))
	}
}

// HasIdentity reports whether an identity is installed.
func (t *Transport) HasIdentity() bool { return t.id.Load() != nil }

// Addr returns the advertise address, a *net.TCPAddr.
func (t *Transport) Addr() net.Addr { return t.advertise }

// Close stops listening and closes every connection and every protocol
// (raft layer, RPC server, gossip). It is idempotent.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		t.id.Store(nil)
		cut := t.cutAllLocked()
		raft, gossip := t.raft, t.gossip
		t.mu.Unlock()
		close(t.done)
		err = t.ln.Close()
		for _, c := range cut {
			c.cut()
		}
		if raft != nil {
			_ = raft.Close()
		}
		if gossip != nil {
			_ = gossip.Shutdown()
		}
		t.rpc.close()
		t.wg.Wait()
	})
	return err
}

// configForClient refuses the handshake when there is no identity or the
// client offers none of our protocols; otherwise it returns the identity's
// server configuration.
func (t *Transport) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	id := t.id.Load()
	if id == nil {
		return nil, ErrNoIdentity
	}
	if !slices.ContainsFunc(hello.SupportedProtos, func(p string) bool { return slices.Contains(serverProtos, p) }) {
		return nil, ErrProtocol
	}
	return id.server, nil
}

func (t *Transport) generation() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var backoff time.Duration
	for {
		raw, err := t.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("accept failed", "err", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-t.done:
				timer.Stop()
				return
			case <-timer.C:
			}
			continue
		}
		backoff = 0
		host := remoteHost(raw)
		if !t.reservePending(host) {
			t.log.Debug("too many pending handshakes, dropping connection", "remote", raw.RemoteAddr().String())
			_ = raw.Close()
			continue
		}
		t.wg.Add(1)
		go t.serveConn(raw, host)
	}
}

func remoteHost(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// reservePending takes a handshake slot, globally and for host.
func (t *Transport) reservePending(host netip.Addr) bool {
	t.pendMu.Lock()
	defer t.pendMu.Unlock()
	if t.pending >= maxPendingHandshakes || t.pendHost[host] >= maxPendingPerHost {
		return false
	}
	t.pending++
	t.pendHost[host]++
	return true
}

func (t *Transport) releasePending(host netip.Addr) {
	t.pendMu.Lock()
	defer t.pendMu.Unlock()
	t.pending--
	if t.pendHost[host]--; t.pendHost[host] <= 0 {
		delete(t.pendHost, host)
	}
}

// serveConn runs the server handshake and hands the connection to the
// protocol its ALPN selected.
func (t *Transport) serveConn(raw net.Conn, host netip.Addr) {
	defer t.wg.Done()
	gen := t.generation()
	tc := tls.Server(raw, t.serverTLS)
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	_ = raw.SetDeadline(time.Now().Add(t.timeout))
	err := tc.HandshakeContext(ctx)
	cancel()
	t.releasePending(host)
	if err != nil {
		t.log.Debug("handshake refused", "remote", raw.RemoteAddr().String(), "err", err)
		_ = raw.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	c, err := t.track(tc, raw, gen)
	if err != nil {
		return
	}
	switch c.proto {
	case ProtoRaft:
		t.raftDeliver(c)
	case ProtoRPC:
		t.rpc.deliver(c)
	case ProtoGossip:
		t.gossipDeliver(c)
	default:
		t.log.Debug("unexpected application protocol", "remote", raw.RemoteAddr().String(), "proto", c.proto, "node", c.nodeID)
		c.drop()
	}
}

// dial connects to addr and completes a mutual-TLS handshake offering only
// proto. It fails fast with ErrNoIdentity when no identity is installed.
func (t *Transport) dial(ctx context.Context, addr, proto string) (*conn, error) {
	t.mu.Lock()
	closed, gen := t.closed, t.gen
	t.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	id := t.id.Load()
	if id == nil {
		return nil, ErrNoIdentity
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("peer: dial: %w", err)
	}
	tc := tls.Client(raw, id.clientConfig(proto))
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("peer: handshake with %s: %w", addr, err)
	}
	if tc.ConnectionState().NegotiatedProtocol != proto {
		_ = raw.Close()
		return nil, ErrProtocol
	}
	return t.track(tc, raw, gen)
}

// dialTimeout is dial with a timeout (0 = the handshake timeout).
func (t *Transport) dialTimeout(addr, proto string, timeout time.Duration) (*conn, error) {
	if timeout <= 0 {
		timeout = t.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.dial(ctx, addr, proto)
}
