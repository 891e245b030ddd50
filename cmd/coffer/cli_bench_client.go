package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// benchClient sends raw Vault API requests over lean keep-alive HTTP/1.1
// connections (benchConn), one per request in flight: the stock api client,
// and net/http's client under it, cost more CPU per request than the
// servers being measured. Idle connections wait on a stack, so a worker
// usually gets back the connection it just used and there are never more
// connections than concurrent requests.
type benchClient struct {
	timeout time.Duration
	addr    string // dial address, host:port
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	tls     *tls.Config // nil for plain HTTP
	prefix  string      // path before the API path: "/v1/"
	headers []byte      // Host and X-Vault-* header lines; holds the token
	invalid error       // token or namespace cannot be sent in a header

	// std, when not nil, sends every request instead: the address is
	// reached through a proxy, which the lean connections do not speak to.
	std *benchStdClient

	mu      sync.Mutex
	idle    []*benchConn // last in, first out
	maxIdle int
	closed  bool
}

// benchHTTPError is a response with a 4xx or 5xx status. It holds the
// server's error messages, never the request body.
type benchHTTPError struct {
	method string
	path   string
	status int
	msgs   []string
}

func (e *benchHTTPError) Error() string {
	s := fmt.Sprintf("%s /v1/%s: %d", e.method, e.path, e.status)
	if len(e.msgs) > 0 {
		s += ": " + strings.Join(e.msgs, "; ")
	}
	return s
}

// newBenchClient derives a raw client from the configured api client: its
// address, token, namespace, dialer (a unix socket address dials the
// socket), proxy and TLS settings (-ca-cert, -tls-skip-verify,
// VAULT_CACERT...), keeping up to conc idle connections. timeout bounds
// each request, connecting included.
func newBenchClient(cl *api.Client, conc int, timeout time.Duration) *benchClient {
	var t *http.Transport
	if hc := cl.CloneConfig().HttpClient; hc != nil {
		if base, ok := hc.Transport.(*http.Transport); ok {
			t = base.Clone()
		}
	}
	if t == nil {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	c := &benchClient{timeout: timeout, maxIdle: max(conc, 1), dial: t.DialContext}
	if c.dial == nil {
		c.dial = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	}
	u, err := url.Parse(cl.Address())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.invalid = fmt.Errorf("bench: unsupported address %q", cl.Address())
		return c
	}
	c.prefix = strings.TrimRight(u.Path, "/") + "/v1/"
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	c.addr = net.JoinHostPort(u.Hostname(), port)
	if u.Scheme == "https" {
		c.tls = t.TLSClientConfig.Clone()
		if c.tls == nil {
			c.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.tls.NextProtos = []string{"http/1.1"}
		if c.tls.ServerName == "" {
			c.tls.ServerName = u.Hostname()
		}
	}
	c.headers, c.invalid = benchHeaderLines(u.Host, cl.Token(), cl.Namespace())
	if t.Proxy != nil {
		if p, err := t.Proxy(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}); err != nil || p != nil {
			c.std = newBenchStdClient(cl, t, conc, timeout)
		}
	}
	return c
}

// benchHeaderLines is the fixed part of every request's header.
func benchHeaderLines(host, token, namespace string) ([]byte, error) {
	if !benchValidHeaderValue(token) || !benchValidHeaderValue(namespace) || !benchValidHeaderValue(host) {
		return nil, errBenchHeaderValue
	}
	b := make([]byte, 0, 64+len(host)+len(token)+len(namespace))
	b = append(b, "Host: "...)
	b = append(b, host...)
	if token != "" {
		b = append(b, "\r\nX-Vault-Token: "...)
		b = append(b, token...)
	}
	if namespace != "" {
		b = append(b, "\r\nX-Vault-Namespace: "...)
		b = append(b, namespace...)
	}
	b = append(b, "\r\nX-Vault-Request: true\r\n"...)
	return b, nil
}

// benchValidHeaderValue reports whether s may be sent as a header value:
// no control characters but tab.
func benchValidHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// benchStdClient is net/http's client, for a proxied address.
type benchStdClient struct {
	client    *http.Client
	base      string // "https://host:8200/v1/"
	token     string
	namespace string
}

// newBenchStdClient is a net/http client over t for a proxied address: a
// connection per worker, as that many separate clients would use, and no
// HTTP/2 multiplexing onto a single connection.
func newBenchStdClient(cl *api.Client, t *http.Transport, conc int, timeout time.Duration) *benchStdClient {
	t.MaxIdleConns = 2 * conc
	t.MaxIdleConnsPerHost = 2 * conc
	t.MaxConnsPerHost = 0
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if t.TLSClientConfig != nil {
		t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &benchStdClient{
		client:    &http.Client{Transport: t, Timeout: timeout},
		base:      strings.TrimRight(cl.Address(), "/") + "/v1/",
		token:     cl.Token(),
		namespace: cl.Namespace(),
	}
}

// do sends one request (body may be nil) and reads the response into buf,
// which it resets first. A 4xx or 5xx status is a *benchHTTPError. It is
// safe for concurrent use; each call has a connection to itself.
func (c *benchClient) do(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) error {
	clear(buf.Bytes()) // responses may hold credentials
	buf.Reset()
	if c.invalid != nil {
		return fmt.Errorf("%s /v1/%s: %w", method, path, c.invalid)
	}
	if c.std != nil {
		return c.doStd(ctx, method, path, body, buf)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s /v1/%s: %w", method, path, err)
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for retried := false; ; retried = true {
		cn, err := c.conn(ctx, deadline)
		if err != nil {
			return fmt.Errorf("%s /v1/%s: %w", method, path, benchCtxErr(ctx, err))
		}
		status, err := cn.roundTrip(ctx, deadline, c, method, path, body, buf)
		if err == nil {
			if cn.reusable() {
				c.put(cn)
			} else {
				cn.close()
			}
			return benchResponseError(method, path, status, buf.Bytes())
		}
		cn.close()
		var unsent *benchUnsentError
		if !retried && errors.As(err, &unsent) && ctx.Err() == nil {
			clear(buf.Bytes())
			buf.Reset()
			continue
		}
		return fmt.Errorf("%s /v1/%s: %w", method, path, benchCtxErr(ctx, err))
	}
}

// benchCtxErr is ctx's error if ctx has ended (the I/O error is then its
// consequence), else err.
func benchCtxErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}

// conn takes an idle connection, or dials one if there is none.
func (c *benchClient) conn(ctx context.Context, deadline time.Time) (*benchConn, error) {
	for {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			return dialBenchConn(ctx, c, deadline)
		}
		cn := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		if cn.alive() {
			return cn, nil
		}
		cn.close()
	}
}

// put returns a connection to the idle stack, or closes it if the stack is
// full or the client closed.
func (c *benchClient) put(cn *benchConn) {
	cn.idleSince = time.Now()
	c.mu.Lock()
	if !c.closed && len(c.idle) < c.maxIdle {
		c.idle = append(c.idle, cn)
		cn = nil
	}
	c.mu.Unlock()
	if cn != nil {
		cn.close()
	}
}

// doStd is do through net/http.
func (c *benchClient) doStd(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.std.base+path, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if c.std.token != "" {
		req.Header.Set("X-Vault-Token", c.std.token)
	}
	if c.std.namespace != "" {
		req.Header.Set("X-Vault-Namespace", c.std.namespace)
	}
	req.Header.Set("X-Vault-Request", "true")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.std.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("%s /v1/%s: read response: %w", method, path, err)
	}
	return benchResponseError(method, path, resp.StatusCode, buf.Bytes())
}

// benchResponseError is nil for a status below 400, else a
// *benchHTTPError with the messages of a Vault error body ({"errors":
// [...]}) if body is one.
func benchResponseError(method, path string, status int, body []byte) error {
	if status < 400 {
		return nil
	}
	var e struct {
		Errors []string `json:"errors"`
	}
	_ = json.Unmarshal(body, &e)
	return &benchHTTPError{method: method, path: path, status: status, msgs: e.Errors}
}

// call is do for setup and clean-up: body is marshalled from v (nil for
// none) and the response decoded into out (nil to discard).
func (c *benchClient) call(ctx context.Context, method, path string, v, out any) error {
	var body []byte
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	var buf bytes.Buffer
	defer func() { clear(buf.Bytes()) }()
	if err := c.do(ctx, method, path, body, &buf); err != nil {
		return err
	}
	if out == nil || buf.Len() == 0 {
		return nil
	}
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		return fmt.Errorf("%s /v1/%s: decode response: %w", method, path, err)
	}
	return nil
}

// close drops the idle connections; connections in use are closed when
// their request ends. It does not forget the token: call may still be used.
func (c *benchClient) close() {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, cn := range idle {
		cn.close()
	}
	if c.std != nil {
		c.std.client.CloseIdleConnections()
	}
}
