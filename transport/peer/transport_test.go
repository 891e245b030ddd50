package peer

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// pair is two transports with identities from one CA.
type pair struct {
	ca   *testCA
	a, b *Transport
	idA  *Identity
	idB  *Identity
}

func mustPair(tb testing.TB) *pair {
	tb.Helper()
	ca := mustCA(tb)
	p := &pair{ca: ca, idA: mustIdentity(tb, ca, "node-a"), idB: mustIdentity(tb, ca, "node-b")}
	p.a = mustTransport(tb, p.idA)
	p.b = mustTransport(tb, p.idB)
	return p
}

// mustRaftConn dials from -> to on the raft layer and returns both ends.
func mustRaftConn(tb testing.TB, from, to *Transport) (dialed, accepted net.Conn) {
	tb.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := to.RaftLayer().Accept()
		ch <- result{c, err}
	}()
	dialed, err := from.RaftLayer().Dial(raft.ServerAddress(to.Addr().String()), 5*time.Second)
	if err != nil {
		tb.Fatalf("raft Dial: %v", err)
	}
	tb.Cleanup(func() { _ = dialed.Close() })
	select {
	case r := <-ch:
		if r.err != nil {
			tb.Fatalf("raft Accept: %v", r.err)
		}
		tb.Cleanup(func() { _ = r.c.Close() })
		return dialed, r.c
	case <-time.After(5 * time.Second):
		tb.Fatal("raft Accept timed out")
	}
	return nil, nil
}

func mustExchange(tb testing.TB, x, y net.Conn) {
	tb.Helper()
	for _, dir := range []struct {
		w, r net.Conn
		msg  string
	}{{x, y, "ping from dialer"}, {y, x, "pong from acceptor"}} {
		_ = dir.r.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := dir.w.Write([]byte(dir.msg)); err != nil {
			tb.Fatalf("write: %v", err)
		}
		buf := make([]byte, len(dir.msg))
		if _, err := io.ReadFull(dir.r, buf); err != nil {
			tb.Fatalf("read: %v", err)
		}
		if string(buf) != dir.msg {
			tb.Fatalf("read %q, want %q", buf, dir.msg)
		}
	}
}

func TestRaftLayerExchange(t *testing.T) {
	p := mustPair(t)
	dialed, accepted := mustRaftConn(t, p.a, p.b)
	mustExchange(t, dialed, accepted)
	if got := ConnNodeID(accepted); got != "node-a" {
		t.Errorf("acceptor sees node %q, want node-a", got)
	}
	if got := ConnNodeID(dialed); got != "node-b" {
		t.Errorf("dialer sees node %q, want node-b", got)
	}
	if p.a.RaftLayer().Addr().String() != p.a.Addr().String() {
		t.Errorf("raft Addr %v != transport Addr %v", p.a.RaftLayer().Addr(), p.a.Addr())
	}
}

func TestRaftLayerClose(t *testing.T) {
	p := mustPair(t)
	dialed, accepted := mustRaftConn(t, p.a, p.b)
	l := p.b.RaftLayer()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close = %v, want ErrClosed", err)
	}
	_ = accepted
	mustHangUp(t, dialed)
	// A fresh layer works again.
	d2, a2 := mustRaftConn(t, p.a, p.b)
	mustExchange(t, d2, a2)
}

func TestRPC(t *testing.T) {
	p := mustPair(t)
	url := "https://" + p.b.Addr().String() + "/v1/forward"

	// No handler yet: 503.
	resp, err := p.a.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status before handler = %d, want 503", resp.StatusCode)
	}

	p.b.SetRPCHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path+" from "+PeerNodeID(r))
	}))
	for i := range 3 { // pooled connection reused
		resp, err := p.a.HTTPClient().Get(url)
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "/v1/forward from node-a" {
			t.Fatalf("GET %d = %d %q", i, resp.StatusCode, body)
		}
	}

	// Plain HTTP is refused rather than sent in clear.
	if _, err := p.a.HTTPClient().Get("http://" + p.b.Addr().String() + "/"); err == nil {
		t.Fatal("plain http request succeeded")
	}
	if got := PeerNodeID(httpRequest(t)); got != "" {
		t.Errorf("PeerNodeID of a foreign request = %q", got)
	}
}

func httpRequest(tb testing.TB) *http.Request {
	tb.Helper()
	r, err := http.NewRequest(http.MethodGet, "http://x/", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestRogueRefusedAtHandshake(t *testing.T) {
	ca := mustCA(t)
	other := mustCA(t)
	server := mustTransport(t, mustIdentity(t, ca, "server"))
	sealed := mustTransport(t, nil)
	foreignServer := mustTransport(t, mustIdentity(t, other, "foreign"))
	good := mustIdentity(t, ca, "client")
	foreign := mustIdentity(t, other, "intruder")

	tests := []struct {
		name string
		addr string
		cfg  *tls.Config
		want string
	}{
		{
			name: "client without certificate",
			addr: server.Addr().String(),
			cfg:  &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.pool, ServerName: ServerName, NextProtos: []string{ProtoRaft}},
			want: "certificate required",
		},
		{
			name: "client with certificate from another CA",
			addr: server.Addr().String(),
			cfg: func() *tls.Config {
				c := foreign.clientConfig(ProtoRaft)
				c.RootCAs = ca.pool // trusts the server; the server must not trust it
				return c
			}(),
			want: "remote error: tls: unknown certificate authority",
		},
		{
			name: "server without identity",
			addr: sealed.Addr().String(),
			cfg:  good.clientConfig(ProtoRaft),
			want: "remote error: tls: internal error",
		},
		{
			name: "server with certificate from another CA",
			addr: foreignServer.Addr().String(),
			cfg:  good.clientConfig(ProtoRaft),
			want: "certificate signed by unknown authority",
		},
		{
			name: "TLS 1.2 only client",
			addr: server.Addr().String(),
			cfg: func() *tls.Config {
				c := good.clientConfig(ProtoRaft)
				c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
				return c
			}(),
			want: "protocol version",
		},
		{
			name: "unknown application protocol",
			addr: server.Addr().String(),
			cfg:  good.clientConfig("h2"),
			want: "remote error: tls: internal error",
		},
		{
			name: "no application protocol",
			addr: server.Addr().String(),
			cfg:  good.clientConfig(""),
			want: "remote error: tls: internal error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.NextProtos[0] == "" {
				tt.cfg.NextProtos = nil
			}
			mustTLSRefusal(t, rawTLS(t, tt.addr, tt.cfg), tt.want)
		})
	}

	// The same through the transport's own dialer.
	client := mustTransport(t, good)
	if _, err := client.RaftLayer().Dial(raft.ServerAddress(sealed.Addr().String()), 5*time.Second); err == nil {
		t.Fatal("dial to sealed server succeeded")
	} else {
		mustTLSRefusal(t, err, "internal error")
	}
	if _, err := client.RaftLayer().Dial(raft.ServerAddress(foreignServer.Addr().String()), 5*time.Second); err == nil {
		t.Fatal("dial to foreign server succeeded")
	} else {
		mustTLSRefusal(t, err, "unknown authority")
	}
	if n := server.numConns(); n != 0 {
		t.Errorf("server tracks %d connections after refusals", n)
	}
}

func TestNoIdentityFailsFast(t *testing.T) {
	p := mustPair(t)
	sealed := mustTransport(t, nil)
	if sealed.HasIdentity() {
		t.Fatal("HasIdentity on a fresh transport")
	}
	if _, err := sealed.RaftLayer().Dial(raft.ServerAddress(p.b.Addr().String()), time.Second); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("raft Dial = %v, want ErrNoIdentity", err)
	}
	if _, err := sealed.HTTPClient().Get("https://" + p.b.Addr().String() + "/"); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("rpc Get = %v, want ErrNoIdentity", err)
	}
	g := sealed.GossipTransport()
	if _, err := g.WriteTo([]byte("x"), p.b.Addr().String()); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("gossip WriteTo = %v, want ErrNoIdentity", err)
	}
	if _, err := g.DialTimeout(p.b.Addr().String(), time.Second); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("gossip DialTimeout = %v, want ErrNoIdentity", err)
	}
}

func TestClearIdentity(t *testing.T) {
	p := mustPair(t)
	p.b.SetRPCHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	get := func(from, to *Transport) error {
		resp, err := from.HTTPClient().Get("https://" + to.Addr().String() + "/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}

	for _, clear := range []struct {
		name string
		tr   func(*pair) *Transport
		id   func(*pair) *Identity
	}{
		{"acceptor seals", func(p *pair) *Transport { return p.b }, func(p *pair) *Identity { return p.idB }},
		{"dialer seals", func(p *pair) *Transport { return p.a }, func(p *pair) *Identity { return p.idA }},
	} {
		t.Run(clear.name, func(t *testing.T) {
			dialed, accepted := mustRaftConn(t, p.a, p.b)
			mustExchange(t, dialed, accepted)
			if err := get(p.a, p.b); err != nil {
				t.Fatalf("rpc before clear: %v", err)
			}
			waitFor(t, 5*time.Second, "rpc conn tracked on both sides", func() bool {
				return p.a.numConns() >= 2 && p.b.numConns() >= 2
			})

			sealed := clear.tr(p)
			sealed.ClearIdentity()
			if sealed.HasIdentity() {
				t.Fatal("HasIdentity after ClearIdentity")
			}
			mustHangUp(t, dialed)
			mustHangUp(t, accepted)
			_, _ = dialed.Close(), accepted.Close() // as raft does on a read error
			// The pooled rpc connection is gone on both ends.
			waitFor(t, 5*time.Second, "every connection closed", func() bool {
				return p.a.numConns() == 0 && p.b.numConns() == 0
			})
			if _, err := p.a.RaftLayer().Dial(raft.ServerAddress(p.b.Addr().String()), 5*time.Second); err == nil {
				t.Error("raft dial succeeded while sealed")
			}
			if err := get(p.a, p.b); err == nil {
				t.Error("rpc succeeded while sealed")
			}

			sealed.SetIdentity(clear.id(p))
			d2, a2 := mustRaftConn(t, p.a, p.b)
			mustExchange(t, d2, a2)
			if err := get(p.a, p.b); err != nil {
				t.Fatalf("rpc after SetIdentity: %v", err)
			}
		})
	}
}

func TestSetIdentityReplaces(t *testing.T) {
	p := mustPair(t)
	dialed, accepted := mustRaftConn(t, p.a, p.b)
	// A renewed leaf for the same node: new handshakes use it, open
	// connections stay up.
	renewed := mustIdentity(t, p.ca, "node-b-renewed")
	p.b.SetIdentity(renewed)
	mustExchange(t, dialed, accepted)
	d2, _ := mustRaftConn(t, p.a, p.b)
	if got := ConnNodeID(d2); got != "node-b-renewed" {
		t.Errorf("new handshake presents %q, want node-b-renewed", got)
	}
}

func TestHandshakeSlots(t *testing.T) {
	p := mustPair(t)
	// Hold every per-host slot with connections that never say hello.
	var idle []net.Conn
	for range maxPendingPerHost {
		c, err := net.Dial("tcp", p.b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitFor(t, 5*time.Second, "slots taken", func() bool {
		p.b.pendMu.Lock()
		defer p.b.pendMu.Unlock()
		return p.b.pending == maxPendingPerHost
	})
	// The next one is closed at once, not left to time out.
	extra, err := net.Dial("tcp", p.b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	mustHangUp(t, extra)
	for _, c := range idle {
		_ = c.Close()
	}
	waitFor(t, 5*time.Second, "slots released", func() bool {
		p.b.pendMu.Lock()
		defer p.b.pendMu.Unlock()
		return p.b.pending == 0
	})
	d, a := mustRaftConn(t, p.a, p.b)
	mustExchange(t, d, a)
}

func TestHandshakeTimeout(t *testing.T) {
	ca := mustCA(t)
	tr, err := Listen(Config{BindAddr: "127.0.0.1:0", HandshakeTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	tr.SetIdentity(mustIdentity(t, ca, "server"))
	c, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Say nothing: the server gives up after its handshake timeout.
	mustHangUp(t, c)
}

func TestCloseIdempotent(t *testing.T) {
	p := mustPair(t)
	dialed, _ := mustRaftConn(t, p.a, p.b)
	g := p.b.GossipTransport()
	if err := p.b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.b.Close(); err != nil {
		t.Fatal(err)
	}
	mustHangUp(t, dialed)
	if _, err := p.b.RaftLayer().Accept(); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close = %v, want ErrClosed", err)
	}
	if _, err := p.b.RaftLayer().Dial(raft.ServerAddress(p.a.Addr().String()), time.Second); err == nil {
		t.Error("Dial after Close succeeded")
	}
	if _, err := g.WriteTo([]byte("x"), p.a.Addr().String()); err == nil {
		t.Error("gossip WriteTo after Close succeeded")
	}
	p.b.SetIdentity(p.idB)
	if p.b.HasIdentity() {
		t.Error("SetIdentity after Close took effect")
	}
}

func TestListenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"bad bind", Config{BindAddr: "not-an-address"}},
		{"bad advertise", Config{BindAddr: "127.0.0.1:0", AdvertiseAddr: "nope:nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Listen(tt.cfg)
			if err == nil {
				_ = tr.Close()
				t.Fatal("Listen succeeded")
			}
		})
	}
	tr, err := Listen(Config{BindAddr: "127.0.0.1:0", AdvertiseAddr: "10.1.2.3:8201"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got := tr.Addr().String(); got != "10.1.2.3:8201" {
		t.Errorf("Addr = %s", got)
	}
	if _, ok := tr.Addr().(*net.TCPAddr); !ok {
		t.Errorf("Addr is %T", tr.Addr())
	}
}

func TestRPCConcurrent(t *testing.T) {
	p := mustPair(t)
	p.b.SetRPCHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, PeerNodeID(r))
	}))
	const n = 64
	errs := make(chan error, n)
	for range n {
		go func() {
			resp, err := p.a.HTTPClient().Get("https://" + p.b.Addr().String() + "/")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && string(body) != "node-a" {
				err = errors.New("wrong body " + string(body))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
