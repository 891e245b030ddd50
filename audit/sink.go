package audit

import (
	"context"
	"io"
)

// sink is where a device's lines go. Write writes one whole line (newline
// included). On error the device closes the sink and opens a new one on its
// next entry, which starts a new segment.
type sink interface {
	io.Writer
	io.Closer
}

// opener opens a device's sink. tail is the hash of the last complete line
// already at the destination ("" if none or unknown), so a new segment can
// name it when the device itself has no history.
type opener func(ctx context.Context) (s sink, tail string, err error)

// writerSink adapts an io.Writer; Close closes it only if it is an
// io.Closer. Tests inject faulty writers through it.
type writerSink struct {
	io.Writer
}

func (w writerSink) Close() error {
	if c, ok := w.Writer.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

var (
	_ sink = (*fileSink)(nil)
	_ sink = stdoutSink{}
	_ sink = (*socketSink)(nil)
	_ sink = writerSink{}
)
