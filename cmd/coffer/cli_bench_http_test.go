package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// mustBenchHTTPServer starts an httptest server (TLS if secure) and counts
// the connections it accepts.
func mustBenchHTTPServer(tb testing.TB, secure bool, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if secure {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	tb.Cleanup(srv.Close)
	return srv, &conns
}

// mustBenchClientFor is a bench client of address through an api client
// over hc (nil for the default), with token "root-token".
func mustBenchClientFor(tb testing.TB, address string, hc *http.Client, conc int, timeout time.Duration) *benchClient {
	tb.Helper()
	cl, err := api.NewClient(&api.Config{Address: address, HttpClient: hc})
	if err != nil {
		tb.Fatalf("api client: %v", err)
	}
	cl.SetToken("root-token")
	cl.ClearNamespace()
	c := newBenchClient(cl, conc, timeout)
	tb.Cleanup(c.close)
	return c
}

// mustBenchClientOf is a bench client of srv.
func mustBenchClientOf(tb testing.TB, srv *httptest.Server) *benchClient {
	tb.Helper()
	return mustBenchClientFor(tb, srv.URL, srv.Client(), 4, 10*time.Second)
}

// benchOK answers {"ok":true}.
func benchOK(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

// mustBenchRawServer starts a TCP server that runs handle on each accepted
// connection; n counts connections from 0. It returns the server's URL and
// the number of connections accepted.
func mustBenchRawServer(tb testing.TB, handle func(n int, c net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	var (
		accepted atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		conns    []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(accepted.Add(1) - 1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(n, c, bufio.NewReader(c))
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), &accepted
}

// benchServeRaw answers every request on a connection with resp until the
// client closes it.
func benchServeRaw(c net.Conn, br *bufio.Reader, resp string) {
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
	}
}

const benchRawOK = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"

func TestBenchClientResponses(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantBody   string
		wantStatus int // of a *benchHTTPError; 0 for success
		wantMsgs   []string
	}{
		{name: "content-length", handler: benchOK, wantBody: `{"ok":true}`},
		{name: "chunked", wantBody: `{"a":1,"b":2}`, handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"a":1,`)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, `"b":2}`)
		}},
		{name: "chunked with trailers", wantBody: "abcdef", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "def")
			w.Header().Set("X-Checksum", "1234")
		}},
		{name: "large content-length", wantBody: big, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = io.WriteString(w, big)
		}},
		{name: "large chunked", wantBody: big, handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, big)
		}},
		{name: "no content", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}},
		{name: "vault error", wantStatus: 403, wantMsgs: []string{"permission denied", "other"}, wantBody: `{"errors":["permission denied","other"]}`,
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusForbidden)
				_, _ = io.WriteString(w, `{"errors":["permission denied","other"]}`)
			}},
		{name: "plain error", wantStatus: 502, wantBody: "bad gateway", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "bad gateway")
		}},
	}
	for _, secure := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/tls=%v", tt.name, secure), func(t *testing.T) {
				srv, conns := mustBenchHTTPServer(t, secure, tt.handler)
				c := mustBenchClientOf(t, srv)
				var buf bytes.Buffer
				for range 3 {
					err := c.do(t.Context(), http.MethodGet, "secret/data/k", nil, &buf)
					var he *benchHTTPError
					switch {
					case tt.wantStatus == 0 && err != nil:
						t.Fatalf("do: %v", err)
					case tt.wantStatus != 0 && !errors.As(err, &he):
						t.Fatalf("do: %v, want a *benchHTTPError", err)
					case tt.wantStatus != 0 && (he.status != tt.wantStatus || strings.Join(he.msgs, "|") != strings.Join(tt.wantMsgs, "|")):
						t.Fatalf("error %d %q, want %d %q", he.status, he.msgs, tt.wantStatus, tt.wantMsgs)
					}
					if buf.String() != tt.wantBody {
						t.Fatalf("body %.40q (%d bytes), want %.40q (%d bytes)", buf.String(), buf.Len(), tt.wantBody, len(tt.wantBody))
					}
				}
				if n := conns.Load(); n != 1 {
					t.Fatalf("%d connections for 3 requests, want 1", n)
				}
			})
		}
	}
}

func TestBenchClientRequest(t *testing.T) {
	type seen struct {
		method, path, token, namespace, request, ctype, body string
		length                                               int64
	}
	tests := []struct {
		name      string
		method    string
		path      string
		body      []byte
		namespace string
		want      seen
	}{
		{"post with body", "POST", "secret/data/k", []byte(`{"data":{}}`), "",
			seen{method: "POST", path: "/v1/secret/data/k", ctype: "application/json", body: `{"data":{}}`, length: 11}},
		{"get", "GET", "secret/data/k", nil, "", seen{method: "GET", path: "/v1/secret/data/k"}},
		{"post without body", "POST", "sys/leases/tidy", nil, "", seen{method: "POST", path: "/v1/sys/leases/tidy"}},
		{"delete", "DELETE", "secret/metadata/k", nil, "", seen{method: "DELETE", path: "/v1/secret/metadata/k"}},
		{"namespace", "GET", "sys/mounts", nil, "team-a/", seen{method: "GET", path: "/v1/sys/mounts", namespace: "team-a/"}},
		{"escaped path", "GET", "secret/data/a b\x01é", nil, "", seen{method: "GET", path: "/v1/secret/data/a b\x01é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			srv, _ := mustBenchHTTPServer(t, false, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got = seen{method: r.Method, path: r.URL.Path, token: r.Header.Get("X-Vault-Token"),
					namespace: r.Header.Get("X-Vault-Namespace"), request: r.Header.Get("X-Vault-Request"),
					ctype: r.Header.Get("Content-Type"), body: string(b), length: r.ContentLength}
				benchOK(w, r)
			})
			cl, err := api.NewClient(&api.Config{Address: srv.URL, HttpClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			cl.SetToken("root-token")
			cl.SetNamespace(tt.namespace)
			c := newBenchClient(cl, 1, 10*time.Second)
			t.Cleanup(c.close)
			var buf bytes.Buffer
			if err := c.do(t.Context(), tt.method, tt.path, tt.body, &buf); err != nil {
				t.Fatalf("do: %v", err)
			}
			want := tt.want
			want.token, want.request = "root-token", "true"
			if got != want {
				t.Fatalf("server saw %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestAppendBenchRequest(t *testing.T) {
	c := &benchClient{prefix: "/vault/v1/"}
	c.headers, _ = benchHeaderLines("h:1", "tok", "")
	tests := []struct {
		method, path string
		body         []byte
		want         string
	}{
		{"GET", "a/b", nil, "GET /vault/v1/a/b HTTP/1.1\r\nHost: h:1\r\nX-Vault-Token: tok\r\nX-Vault-Request: true\r\n\r\n"},
		{"PUT", "a", []byte("{}"), "PUT /vault/v1/a HTTP/1.1\r\nHost: h:1\r\nX-Vault-Token: tok\r\nX-Vault-Request: true\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"},
		{"POST", "a", nil, "POST /vault/v1/a HTTP/1.1\r\nHost: h:1\r\nX-Vault-Token: tok\r\nX-Vault-Request: true\r\nContent-Length: 0\r\n\r\n"},
		{"GET", "a b#\r\n", nil, "GET /vault/v1/a%20b%23%0D%0A HTTP/1.1\r\nHost: h:1\r\nX-Vault-Token: tok\r\nX-Vault-Request: true\r\n\r\n"},
	}
	for _, tt := range tests {
		if got := string(appendBenchRequest(nil, c, tt.method, tt.path, tt.body)); got != tt.want {
			t.Errorf("%s %s:\n got %q\nwant %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestBenchClientReusesConnection(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", secure), func(t *testing.T) {
			srv, conns := mustBenchHTTPServer(t, secure, benchOK)
			c := mustBenchClientOf(t, srv)
			var buf bytes.Buffer
			body := []byte(`{"data":{"value":"v"}}`)
			for i := range 1000 {
				method, b := http.MethodGet, []byte(nil)
				if i%2 == 0 {
					method, b = http.MethodPost, body
				}
				if err := c.do(t.Context(), method, "secret/data/k", b, &buf); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Fatalf("%d connections for 1000 sequential requests, want 1", n)
			}
			// A connection idle long enough to be probed is still reused.
			c.idle[0].idleSince = time.Now().Add(-time.Hour)
			if err := c.do(t.Context(), http.MethodGet, "secret/data/k", nil, &buf); err != nil {
				t.Fatalf("after idle: %v", err)
			}
			if n := conns.Load(); n != 1 {
				t.Fatalf("%d connections after a probe, want 1", n)
			}
		})
	}
}

func TestBenchClientConnectionClose(t *testing.T) {
	srv, conns := mustBenchHTTPServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		benchOK(w, r)
	})
	c := mustBenchClientOf(t, srv)
	var buf bytes.Buffer
	for i := range 5 {
		if err := c.do(t.Context(), http.MethodPost, "secret/data/k", []byte("{}"), &buf); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 5 {
		t.Fatalf("%d connections, want 5 (one per request)", n)
	}
	if len(c.idle) != 0 {
		t.Fatalf("%d idle connections kept, want 0", len(c.idle))
	}
}

func TestBenchClientConcurrent(t *testing.T) {
	const workers = 8
	srv, conns := mustBenchHTTPServer(t, false, benchOK)
	c := mustBenchClientFor(t, srv.URL, srv.Client(), workers, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			for range 50 {
				if err := c.do(t.Context(), http.MethodGet, "secret/data/k", nil, &buf); err != nil {
					errs <- err
					return
				}
				if buf.String() != `{"ok":true}` {
					errs <- fmt.Errorf("body %q", buf.String())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := conns.Load(); n > workers {
		t.Fatalf("%d connections for %d workers", n, workers)
	}
}

// TestBenchClientServerFailures: the first connection misbehaves, later
// ones answer properly. The failed request is an error; the next succeeds
// on a new connection.
func TestBenchClientServerFailures(t *testing.T) {
	tests := []struct {
		name    string
		first   func(c net.Conn, br *bufio.Reader)
		wantErr error
	}{
		{"closes mid-body", func(c net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial")
		}, io.ErrUnexpectedEOF},
		{"closes mid-header", func(c net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Len")
		}, io.ErrUnexpectedEOF},
		{"closes mid-chunk", func(c net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
		}, io.ErrUnexpectedEOF},
		{"closes before answering", func(_ net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
		}, io.EOF},
		{"malformed status line", func(c net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
			_, _ = io.WriteString(c, "HTTP/1.1 2xx OK\r\nContent-Length: 2\r\n\r\n{}")
		}, errBenchMalformed},
		{"not http", func(c net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
			_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
		}, errBenchMalformed},
		{"oversized body", func(c net.Conn, br *bufio.Reader) {
			_, _ = http.ReadRequest(br)
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", benchMaxBody+1)
		}, errBenchTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, accepted := mustBenchRawServer(t, func(n int, c net.Conn, br *bufio.Reader) {
				if n == 0 {
					tt.first(c, br)
					return
				}
				benchServeRaw(c, br, benchRawOK)
			})
			c := mustBenchClientFor(t, addr, nil, 1, 10*time.Second)
			var buf bytes.Buffer
			err := c.do(t.Context(), http.MethodPost, "secret/data/k", []byte("{}"), &buf)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("first request: %v, want %v", err, tt.wantErr)
			}
			for i := range 2 {
				if err := c.do(t.Context(), http.MethodPost, "secret/data/k", []byte("{}"), &buf); err != nil {
					t.Fatalf("request %d after the failure: %v", i, err)
				}
			}
			if n := accepted.Load(); n != 2 {
				t.Fatalf("%d connections, want 2", n)
			}
		})
	}
}

// TestBenchClientStaleConnection: the server closes each connection after
// one response, without saying so.
func TestBenchClientStaleConnection(t *testing.T) {
	closed := make(chan int, 10)
	addr, accepted := mustBenchRawServer(t, func(n int, c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			_, _ = io.WriteString(c, benchRawOK)
		}
		c.Close()
		closed <- n
	})
	c := mustBenchClientFor(t, addr, nil, 1, 10*time.Second)
	var buf bytes.Buffer
	for i := range 3 {
		// A GET that finds the connection closed is sent again on a new one.
		if err := c.do(t.Context(), http.MethodGet, "secret/data/k", nil, &buf); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Fatalf("%d connections for 3 GETs, want 3", n)
	}
	// A POST is not sent again: the server may have acted on it.
	if err := c.do(t.Context(), http.MethodPost, "secret/data/k", []byte("{}"), &buf); err == nil {
		t.Fatal("POST on a stale connection succeeded, want an error")
	}
	// After that error the pool is empty: the next POST gets a new
	// connection, which the server closes after answering.
	if err := c.do(t.Context(), http.MethodPost, "secret/data/k", []byte("{}"), &buf); err != nil {
		t.Fatalf("POST on a new connection: %v", err)
	}
	// Once idle for long, the connection is probed before use: the closed
	// one is dropped and the POST goes on a new connection.
	if len(c.idle) != 1 {
		t.Fatalf("%d idle connections, want 1", len(c.idle))
	}
	cn := c.idle[0]
	cn.idleSince = time.Now().Add(-time.Hour)
	for n := range closed {
		if n == int(accepted.Load())-1 {
			break
		}
	}
	waitForBench(t, "the probe to see the close", func() bool { return !cn.alive() })
	if err := c.do(t.Context(), http.MethodPost, "secret/data/k", []byte("{}"), &buf); err != nil {
		t.Fatalf("POST after the probe: %v", err)
	}
}

// waitForBench waits until cond holds, failing the test after 10 s.
func waitForBench(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBenchClientCanceledAndTimeout(t *testing.T) {
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	srv, _ := mustBenchHTTPServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers

	t.Run("canceled", func(t *testing.T) {
		c := mustBenchClientOf(t, srv)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			var buf bytes.Buffer
			done <- c.do(ctx, http.MethodGet, "secret/data/k", nil, &buf)
		}()
		<-arrived
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("do: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("do did not return after its context was canceled")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c := mustBenchClientFor(t, srv.URL, srv.Client(), 1, 50*time.Millisecond)
		var buf bytes.Buffer
		err := c.do(t.Context(), http.MethodGet, "secret/data/k", nil, &buf)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("do: %v, want a deadline error", err)
		}
		<-arrived
	})
}

func TestBenchClientInvalidToken(t *testing.T) {
	srv, conns := mustBenchHTTPServer(t, false, benchOK)
	cl, err := api.NewClient(&api.Config{Address: srv.URL, HttpClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken("hvs.secret\r\nX-Evil: 1")
	c := newBenchClient(cl, 1, time.Second)
	var buf bytes.Buffer
	err = c.do(t.Context(), http.MethodGet, "sys/health", nil, &buf)
	if !errors.Is(err, errBenchHeaderValue) {
		t.Fatalf("do: %v, want errBenchHeaderValue", err)
	}
	if strings.Contains(err.Error(), "hvs.secret") {
		t.Fatalf("error %q shows the token", err)
	}
	if conns.Load() != 0 {
		t.Fatal("the request was sent")
	}
}

func TestBenchClientProxy(t *testing.T) {
	proxy, _ := mustBenchHTTPServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != "vault.invalid:8200" || r.Header.Get("X-Vault-Token") != "root-token" {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, `{"proxied":true}`)
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = func(*http.Request) (*url.URL, error) { return url.Parse(proxy.URL) }
	c := mustBenchClientFor(t, "http://vault.invalid:8200", &http.Client{Transport: tr}, 1, 10*time.Second)
	if c.std == nil {
		t.Fatal("proxied address uses the lean client")
	}
	var buf bytes.Buffer
	if err := c.do(t.Context(), http.MethodGet, "sys/health", nil, &buf); err != nil {
		t.Fatalf("do: %v", err)
	}
	if buf.String() != `{"proxied":true}` {
		t.Fatalf("body %q", buf.String())
	}
}

func TestBenchConnCloseZeroes(t *testing.T) {
	srv, _ := mustBenchHTTPServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"auth":{"client_token":"hvs.secret"}}`)
	})
	c := mustBenchClientOf(t, srv)
	var buf bytes.Buffer
	if err := c.do(t.Context(), http.MethodPost, "auth/approle/login", []byte(`{"secret_id":"s3cret"}`), &buf); err != nil {
		t.Fatalf("do: %v", err)
	}
	cn := c.idle[0]
	c.close()
	rb, _ := cn.br.Peek(cn.br.Size())
	for name, b := range map[string][]byte{"request": cn.req[:cap(cn.req)], "read buffer": rb} {
		if len(bytes.Trim(b, "\x00")) != 0 {
			t.Errorf("%s not zeroed after close", name)
		}
	}
	if len(rb) != benchReadBuffer {
		t.Errorf("read buffer is %d bytes, want %d", len(rb), benchReadBuffer)
	}
}

// benchResponseCases are raw responses and what readBenchResponse makes
// of them; they seed FuzzReadBenchResponse.
var benchResponseCases = []struct {
	name    string
	raw     string
	status  int
	body    string
	close   bool
	wantErr error
}{
	{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", status: 200, body: "{}"},
	{name: "bare LF", raw: "HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", status: 200, body: "{}"},
	{name: "no reason", raw: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", status: 404},
	{name: "duplicate equal lengths", raw: "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nContent-Length:1\r\n\r\nx", status: 200, body: "x"},
	{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA \r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n", status: 200, body: "abc0123456789"},
	{name: "chunked case-insensitive", raw: "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", status: 200, body: "x"},
	{name: "connection close", raw: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", status: 200, close: true},
	{name: "http/1.0", raw: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, close: true},
	{name: "http/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", status: 200},
	{name: "until eof", raw: "HTTP/1.1 200 OK\r\n\r\nrest of it", status: 200, body: "rest of it", close: true},
	{name: "interim", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", status: 201, body: "x"},
	{name: "no content", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", status: 204},
	{name: "empty", raw: "", wantErr: io.ErrUnexpectedEOF},
	{name: "short status line", raw: "HTTP/1.1 20 OK\r\n\r\n", wantErr: errBenchMalformed},
	{name: "letters in status", raw: "HTTP/1.1 2OO OK\r\n\r\n", wantErr: errBenchMalformed},
	{name: "status below 100", raw: "HTTP/1.1 099 X\r\n\r\n", wantErr: errBenchMalformed},
	{name: "http/2 status line", raw: "HTTP/2.0 200 OK\r\n\r\n", wantErr: errBenchMalformed},
	{name: "no space after code", raw: "HTTP/1.1 200OK\r\n\r\n", wantErr: errBenchMalformed},
	{name: "control in reason", raw: "HTTP/1.1 200 O\x00K\r\n\r\n", wantErr: errBenchMalformed},
	{name: "header without colon", raw: "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n{}", wantErr: errBenchMalformed},
	{name: "space in header name", raw: "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}", wantErr: errBenchMalformed},
	{name: "folded header", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", wantErr: errBenchMalformed},
	{name: "bad content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}", wantErr: errBenchMalformed},
	{name: "empty content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", wantErr: errBenchMalformed},
	{name: "conflicting content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", wantErr: errBenchMalformed},
	{name: "huge content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", wantErr: errBenchTooLarge},
	{name: "gzip", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", wantErr: errBenchMalformed},
	{name: "two transfer-encodings", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantErr: errBenchMalformed},
	{name: "length and chunked", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantErr: errBenchMalformed},
	{name: "chunked in http/1.0", raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantErr: errBenchMalformed},
	{name: "bad chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: errBenchMalformed},
	{name: "empty chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", wantErr: errBenchMalformed},
	{name: "huge chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", wantErr: errBenchMalformed},
	{name: "chunk over body limit", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000001\r\n", wantErr: errBenchTooLarge},
	{name: "chunk without CRLF", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", wantErr: errBenchMalformed},
	{name: "bad trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a trailer\r\n\r\n", wantErr: errBenchMalformed},
	{name: "truncated trailers", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", wantErr: io.ErrUnexpectedEOF},
	{name: "protocol switch", raw: "HTTP/1.1 101 Switching Protocols\r\n\r\n", wantErr: errBenchMalformed},
	{name: "endless interim", raw: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", benchMax1xx+1) + "HTTP/1.1 200 OK\r\n\r\n", wantErr: errBenchMalformed},
	{name: "truncated header", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", wantErr: io.ErrUnexpectedEOF},
	{name: "truncated body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", wantErr: io.ErrUnexpectedEOF},
	{name: "long line", raw: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", benchMaxLine) + "\r\n\r\n", wantErr: errBenchTooLarge},
	{name: "long header section", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("a", 60<<10)+"\r\n", 20) + "\r\n", wantErr: errBenchTooLarge},
	{name: "long but allowed line", raw: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 50<<10) + "\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x"},
}

func TestReadBenchResponse(t *testing.T) {
	for _, tt := range benchResponseCases {
		t.Run(tt.name, func(t *testing.T) {
			var (
				line []byte
				resp benchResponse
				buf  bytes.Buffer
			)
			err := readBenchResponse(bufio.NewReaderSize(strings.NewReader(tt.raw), benchReadBuffer), &line, &resp, &buf)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if resp.status != tt.status || buf.String() != tt.body || resp.close != tt.close {
				t.Fatalf("got status %d body %q close %v, want %d %q %v", resp.status, buf.String(), resp.close, tt.status, tt.body, tt.close)
			}
		})
	}
}

// FuzzReadBenchResponse checks readBenchResponse against net/http: both
// may reject what the other accepts, but a final response both accept has
// the same status and body.
func FuzzReadBenchResponse(f *testing.F) {
	for _, tt := range benchResponseCases {
		if len(tt.raw) < 4096 {
			f.Add([]byte(tt.raw))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var (
			line []byte
			resp benchResponse
			buf  bytes.Buffer
		)
		err := readBenchResponse(bufio.NewReaderSize(bytes.NewReader(raw), 64), &line, &resp, &buf)
		if err != nil {
			return
		}
		if resp.status < 200 || resp.status > 999 || buf.Len() > len(raw) {
			t.Fatalf("status %d, body of %d bytes from %d", resp.status, buf.Len(), len(raw))
		}
		std, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil || std.StatusCode < 200 {
			return
		}
		body, err := io.ReadAll(std.Body)
		if err != nil {
			return
		}
		if std.StatusCode != resp.status || !bytes.Equal(body, buf.Bytes()) {
			t.Fatalf("net/http: %d %q; bench: %d %q", std.StatusCode, body, resp.status, buf.Bytes())
		}
	})
}

// BenchmarkBenchClientDo is one KV-write-sized request and response on a
// kept-alive connection to an in-process server.
func BenchmarkBenchClientDo(b *testing.B) {
	srv, _ := mustBenchHTTPServer(b, false, benchOK)
	c := mustBenchClientOf(b, srv)
	body := []byte(`{"data":{"value":"` + strings.Repeat("v", 128) + `"}}`)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		if err := c.do(b.Context(), http.MethodPost, "secret/data/coffer-bench/key-1", body, &buf); err != nil {
			b.Fatal(err)
		}
	}
}
