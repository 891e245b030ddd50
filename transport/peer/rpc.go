package peer

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	rpcReadHeaderTimeout = 10 * time.Second
	rpcIdleTimeout       = 2 * time.Minute
	rpcMaxHeaderBytes    = 1 << 20
	rpcMaxIdlePerHost    = 8
	rpcMaxConnsPerHost   = 24
)

// rpcSide is HTTP/1.1 over ALPN ProtoRPC: an http.Server fed with accepted
// connections and an http.Client dialling through the transport.
type rpcSide struct {
	handler atomic.Pointer[handlerBox]
	ln      *chanListener
	server  *http.Server
	pool    *http.Transport
	client  *http.Client
}

type handlerBox struct{ h http.Handler }

type peerNodeKey struct{}

func (r *rpcSide) init(t *Transport) {
	r.ln = &chanListener{addr: t.advertise, ch: make(chan net.Conn), closed: make(chan struct{})}
	r.server = &http.Server{
		Handler:           http.HandlerFunc(r.serveHTTP),
		ReadHeaderTimeout: rpcReadHeaderTimeout,
		IdleTimeout:       rpcIdleTimeout,
		MaxHeaderBytes:    rpcMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(t.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerNodeKey{}, ConnNodeID(c))
		},
	}
	r.pool = &http.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return t.dial(ctx, addr, ProtoRPC)
		},
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("peer: rpc urls must be https")
		},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: rpcMaxIdlePerHost,
		MaxConnsPerHost:     rpcMaxConnsPerHost,
		IdleConnTimeout:     rpcIdleTimeout / 2,
	}
	r.client = &http.Client{Transport: r.pool}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		_ = r.server.Serve(r.ln)
	}()
}

func (r *rpcSide) deliver(c *conn) {
	select {
	case r.ln.ch <- c:
	case <-r.ln.closed:
		c.drop()
	}
}

func (r *rpcSide) close() {
	_ = r.server.Close()
	r.pool.CloseIdleConnections()
}

func (r *rpcSide) serveHTTP(w http.ResponseWriter, req *http.Request) {
	box := r.handler.Load()
	if box == nil || box.h == nil {
		http.Error(w, "no rpc handler", http.StatusServiceUnavailable)
		return
	}
	box.h.ServeHTTP(w, req)
}

// SetRPCHandler sets the handler for inbound RPC requests; until it is set
// they are answered 503. A nil handler restores that.
func (t *Transport) SetRPCHandler(h http.Handler) {
	t.rpc.handler.Store(&handlerBox{h: h})
}

// HTTPClient returns a client whose requests to "https://HOST:PORT/..."
// travel over this transport with ALPN "coffer-rpc/1" and the node's
// certificate. Connections are pooled; ClearIdentity closes them. With no
// identity, requests fail fast with ErrNoIdentity.
func (t *Transport) HTTPClient() *http.Client { return t.rpc.client }

// PeerNodeID returns the verified node ID of the caller of an RPC request,
// or "" if the request did not arrive over this transport.
func PeerNodeID(r *http.Request) string {
	if id, ok := r.Context().Value(peerNodeKey{}).(string); ok {
		return id
	}
	return ""
}

// chanListener is a net.Listener fed by the transport's dispatcher.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
