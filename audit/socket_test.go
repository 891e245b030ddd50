package audit

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lineServer accepts connections and collects each one's lines.
type lineServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	lines [][]string // per connection
	read  bool
}

func mustLineServer(t *testing.T, network, addr string, read bool) *lineServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &lineServer{ln: ln, read: read}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	go s.serve()
	return s
}

func (s *lineServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		i := len(s.conns)
		s.conns = append(s.conns, c)
		s.lines = append(s.lines, nil)
		s.mu.Unlock()
		if !s.read {
			continue
		}
		go func() {
			sc := bufio.NewScanner(c)
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				s.mu.Lock()
				s.lines[i] = append(s.lines[i], sc.Text())
				s.mu.Unlock()
			}
		}()
	}
}

func (s *lineServer) received(conn int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conn >= len(s.lines) {
		return nil
	}
	return append([]string{}, s.lines[conn]...)
}

func (s *lineServer) closeConn(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[i].Close()
}

func enableSocket(t *testing.T, b *Broker, name, network, addr string, opts map[string]string) {
	t.Helper()
	o := map[string]string{"address": addr, "socket_type": network}
	for k, v := range opts {
		o[k] = v
	}
	if err := b.Enable(context.Background(), DeviceConfig{Type: "socket", Name: name, Options: o}, testSalt(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSocketDeviceTCP(t *testing.T) {
	srv := mustLineServer(t, "tcp", "127.0.0.1:0", true)
	b := mustBroker(t)
	enableSocket(t, b, "sock", "tcp", srv.ln.Addr().String(), nil)
	mustLog(t, b, 5)
	waitFor(t, "11 lines at the listener", func() bool { return len(srv.received(0)) == 11 })
	p := tempPath(t, "sock.log")
	writeLines(t, p, srv.received(0))
	mustVerify(t, nil, p)

	// The peer goes away: writes fail until the device reconnects, and
	// the new connection starts a segment linked to the last good line.
	srv.closeConn(0)
	waitFor(t, "a reconnect", func() bool {
		_ = b.LogRequest(context.Background(), testInput())
		return len(srv.received(1)) >= 2
	})
	p2 := tempPath(t, "sock2.log")
	writeLines(t, p2, srv.received(1))
	if st := mustVerify(t, nil, p2); st.Segments != 1 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(srv.received(1)[0], `"type":"genesis"`) {
		t.Fatal("the new connection does not start with a genesis")
	}
}

func TestSocketDeviceUnix(t *testing.T) {
	dir, err := os.MkdirTemp("", "aud") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := filepath.Join(dir, "s")
	srv := mustLineServer(t, "unix", addr, true)
	b := mustBroker(t)
	enableSocket(t, b, "sock", "unix", addr, nil)
	mustLog(t, b, 1)
	waitFor(t, "3 lines at the listener", func() bool { return len(srv.received(0)) == 3 })
}

func TestSocketDeviceRefusedAtEnable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := mustBroker(t)
	err = b.Enable(context.Background(), DeviceConfig{Type: "socket", Name: "s", Options: map[string]string{"address": addr}}, testSalt(t))
	if err == nil || b.Enabled() {
		t.Fatalf("enabled a socket device with no listener: %v", err)
	}
}

func TestSocketPeerNeverReads(t *testing.T) {
	srv := mustLineServer(t, "tcp", "127.0.0.1:0", false)
	b := mustBroker(t)
	enableSocket(t, b, "sock", "tcp", srv.ln.Addr().String(), map[string]string{"write_timeout": "100ms", "log_raw": "true"})
	big := strings.Repeat("x", 1<<20)
	for i := 0; ; i++ {
		if i == 500 {
			t.Fatal("500 MiB written to a peer that never reads")
		}
		in := testInput()
		in.Request.Data = map[string]any{"v": big}
		if err := b.LogRequest(context.Background(), in); err != nil {
			if !errors.Is(err, ErrAuditFailed) {
				t.Fatalf("got %v", err)
			}
			break
		}
	}
}
