package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Limits and tunables of the bench HTTP/1.1 client.
const (
	benchReadBuffer = 8 << 10          // bufio.Reader size of a connection
	benchMaxLine    = 64 << 10         // a status, header or chunk-size line
	benchMaxHeader  = 1 << 20          // a response's header section, trailers included
	benchMaxBody    = 32 << 20         // a response body
	benchMax1xx     = 5                // interim (1xx) responses before the final one
	benchIdleProbe  = time.Second      // idle time after which a connection is probed
	benchProbeWait  = time.Millisecond // how long a probe waits for the server's close
)

var (
	errBenchMalformed   = errors.New("bench: malformed response")
	errBenchTooLarge    = errors.New("bench: response too large")
	errBenchHeaderValue = errors.New("bench: token, namespace or host not valid in a header")
)

// benchLongAgo is a deadline in the past: it interrupts blocked I/O.
var benchLongAgo = time.Unix(1, 0)

// benchConn is one HTTP/1.1 keep-alive connection of a benchClient. One
// goroutine at a time uses it: the one that took it from the client.
type benchConn struct {
	nc        net.Conn
	br        *bufio.Reader
	req       []byte // request being sent; cleared once written
	line      []byte // a line longer than br's buffer
	resp      benchResponse
	used      bool // completed an exchange before
	broken    bool // must not be reused
	idleSince time.Time
}

// benchUnsentError is a failure on a reused connection before the server
// can have acted on the request: the request may be sent again on a new
// connection, as net/http does.
type benchUnsentError struct{ err error }

func (e *benchUnsentError) Error() string { return e.err.Error() }
func (e *benchUnsentError) Unwrap() error { return e.err }

// dialBenchConn connects to c's server (with TLS for https) by deadline.
func dialBenchConn(ctx context.Context, c *benchClient, deadline time.Time) (*benchConn, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	return &benchConn{nc: nc, br: bufio.NewReaderSize(nc, benchReadBuffer)}, nil
}

// roundTrip sends one request of c and reads the response body into buf,
// by deadline or until ctx ends. It returns the status. An error leaves
// the connection unusable; it is a *benchUnsentError if the request may be
// sent again.
func (cn *benchConn) roundTrip(ctx context.Context, deadline time.Time, c *benchClient, method, path string, body []byte, buf *bytes.Buffer) (int, error) {
	cn.broken = true // until the exchange completes
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return 0, fmt.Errorf("set deadline: %w", err)
	}
	if ctx.Done() != nil {
		nc := cn.nc
		stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(benchLongAgo) })
		defer func() {
			if !stop() {
				cn.broken = true // the deadline was, or is being, moved
			}
		}()
	}
	cn.req = appendBenchRequest(cn.req[:0], c, method, path, body)
	n, err := cn.nc.Write(cn.req)
	clear(cn.req) // holds the token and perhaps a secret
	if err != nil {
		err = fmt.Errorf("write request: %w", err)
		if cn.used && n == 0 {
			return 0, &benchUnsentError{err}
		}
		return 0, err
	}
	if _, err := cn.br.Peek(1); err != nil {
		err = fmt.Errorf("read response: %w", err)
		if cn.used && benchReplayable(method) && !errors.Is(err, os.ErrDeadlineExceeded) {
			// The server closed the connection while it was idle.
			return 0, &benchUnsentError{err}
		}
		return 0, err
	}
	if err := readBenchResponse(cn.br, &cn.line, &cn.resp, buf); err != nil {
		return 0, fmt.Errorf("read response: %w", err)
	}
	cn.used = true
	cn.broken = cn.resp.close || cn.br.Buffered() > 0
	return cn.resp.status, nil
}

// benchReplayable reports whether a request with method may be sent again
// after the server may have received it (net/http's rule).
func benchReplayable(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// appendBenchRequest appends the request line, header and body of a
// request of c to b.
func appendBenchRequest(b []byte, c *benchClient, method, path string, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, c.prefix...)
	for i := 0; i < len(path); i++ {
		if ch := path[i]; ch <= ' ' || ch >= 0x7f || ch == '#' {
			const hex = "0123456789ABCDEF"
			b = append(b, '%', hex[ch>>4], hex[ch&15])
		} else {
			b = append(b, ch)
		}
	}
	b = append(b, " HTTP/1.1\r\n"...)
	b = append(b, c.headers...)
	switch {
	case body != nil:
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = appendBenchInt(b, len(body))
		b = append(b, "\r\n\r\n"...)
		b = append(b, body...)
	case method == "POST" || method == "PUT" || method == "PATCH":
		b = append(b, "Content-Length: 0\r\n\r\n"...)
	default:
		b = append(b, "\r\n"...)
	}
	return b
}

// appendBenchInt appends the decimal form of n ≥ 0 to b.
func appendBenchInt(b []byte, n int) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// reusable reports whether the connection may carry another request.
func (cn *benchConn) reusable() bool { return !cn.broken }

// alive reports whether an idle connection still looks usable. One idle
// for a while is probed with a short read, as the server may have closed
// it (a deadline already past would fail the read before it is tried).
func (cn *benchConn) alive() bool {
	if cn.broken || cn.br.Buffered() > 0 {
		return false
	}
	if time.Since(cn.idleSince) < benchIdleProbe {
		return true
	}
	if err := cn.nc.SetReadDeadline(time.Now().Add(benchProbeWait)); err != nil {
		return false
	}
	_, err := cn.br.Peek(1)
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// close closes the connection and zeroes what its buffers held.
func (cn *benchConn) close() {
	cn.broken = true
	_ = cn.nc.Close()
	clear(cn.req[:cap(cn.req)])
	clear(cn.line[:cap(cn.line)])
	// Overwrite the read buffer, which may hold responses, with zeros.
	cn.br.Reset(benchZeros{})
	_, _ = cn.br.Peek(cn.br.Size())
}

// benchZeros reads as an endless run of zero bytes.
type benchZeros struct{}

func (benchZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
