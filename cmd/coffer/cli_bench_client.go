package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// benchClient sends raw Vault API requests over a keep-alive HTTP/1.1
// transport with a connection per worker: the stock api client costs more
// per request than the servers being measured.
type benchClient struct {
	http      *http.Client
	base      string // "https://host:8200/v1/"
	token     string
	namespace string
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
// address, token, namespace and TLS settings (-ca-cert, -tls-skip-verify,
// VAULT_CACERT...), with a transport sized for conc workers.
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
	t.MaxIdleConns = 2 * conc
	t.MaxIdleConnsPerHost = 2 * conc
	t.MaxConnsPerHost = 0
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true
	// One connection per worker, as that many separate clients would use:
	// no HTTP/2 multiplexing onto a single connection.
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if t.TLSClientConfig != nil {
		t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &benchClient{
		http:      &http.Client{Transport: t, Timeout: timeout},
		base:      strings.TrimRight(cl.Address(), "/") + "/v1/",
		token:     cl.Token(),
		namespace: cl.Namespace(),
	}
}

// do sends one request (body may be nil) and reads the response into buf,
// which it resets first. A 4xx or 5xx status is a *benchHTTPError.
func (c *benchClient) do(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) error {
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, c.base+path, rd)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, c.base+path, nil)
	}
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if c.token != "" {
		req.Header.Set("X-Vault-Token", c.token)
	}
	if c.namespace != "" {
		req.Header.Set("X-Vault-Namespace", c.namespace)
	}
	req.Header.Set("X-Vault-Request", "true")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	clear(buf.Bytes()) // responses may hold credentials
	buf.Reset()
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

// close drops the idle connections.
func (c *benchClient) close() {
	c.http.CloseIdleConnections()
}
