package audit

import (
	"context"
	"fmt"
	"net"
	"time"
)

// socketSink writes lines to a stream socket, each write bounded by a
// deadline so a peer that stops reading cannot hold the device forever.
type socketSink struct {
	c       net.Conn
	timeout time.Duration
}

func (s *socketSink) Write(p []byte) (int, error) {
	if err := s.c.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return 0, err
	}
	return s.c.Write(p)
}

func (s *socketSink) Close() error { return s.c.Close() }

// socketOpener dials the device's address; the chain over a socket has no
// tail to read, so a new connection links to the device's own history.
func socketOpener(network, address string, timeout time.Duration) opener {
	return func(ctx context.Context) (sink, string, error) {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, "", fmt.Errorf("dial audit socket: %w", err)
		}
		return &socketSink{c: c, timeout: timeout}, "", nil
	}
}
