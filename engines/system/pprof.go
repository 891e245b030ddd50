package system

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"coffer/engines"
)

// maxProfileSeconds caps the duration of a CPU profile or an execution
// trace taken through sys/pprof.
const maxProfileSeconds = 30

// namedProfiles are the runtime profiles sys/pprof/<name> serves, as
// net/http/pprof serves them under /debug/pprof/.
var namedProfiles = []string{"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"}

// Content types of pprof answers: the binary protobuf profile, and the
// text form of debug=1 and 2 (and of cmdline, symbol, the index).
const (
	pprofBinaryType = "application/octet-stream"
	pprofTextType   = "text/plain; charset=utf-8"
)

// pprofPath serves sys/pprof/<name> (name relative to sys/pprof/, "" for
// the index): Go's runtime profiles, as Vault does. Sudo is required
// (sysSudoPaths), so only root-like tokens reach it. Parameters follow
// net/http/pprof: debug=N for the text forms, gc=1 to collect garbage
// before a heap profile, seconds=N for profile (default 30) and trace
// (default 1), capped at maxProfileSeconds. Delta profiles (seconds= on a
// named profile) and symbol lookups by POST are not offered.
func (s *System) pprofPath(ctx context.Context, req *engines.Request, name string) (*engines.Response, error) {
	if req.Operation != engines.ReadOperation {
		return nil, engines.ErrUnsupportedOperation
	}
	switch name {
	case "":
		return textStream(pprofIndex()), nil
	case "cmdline":
		return textStream(strings.Join(os.Args, "\x00")), nil
	case "symbol":
		// What net/http/pprof answers a GET: symbols can be looked up.
		return textStream("num_symbols: 1\n"), nil
	case "profile":
		secs, err := secondsParam(req.Data, 30)
		if err != nil {
			return nil, err
		}
		return startCapture(ctx, "CPU profile", time.Duration(secs)*time.Second, pprof.StartCPUProfile, pprof.StopCPUProfile)
	case "trace":
		secs, err := secondsParam(req.Data, 1)
		if err != nil {
			return nil, err
		}
		return startCapture(ctx, "execution trace", time.Duration(secs)*time.Second, trace.Start, trace.Stop)
	}
	if !isNamedProfile(name) {
		return nil, &engines.Error{Code: engines.CodeNotFound, Message: "unknown profile"}
	}
	debug, err := intParam(req.Data, "debug", 0)
	if err != nil {
		return nil, err
	}
	gc, err := intParam(req.Data, "gc", 0)
	if err != nil {
		return nil, err
	}
	ct := pprofBinaryType
	if debug != 0 {
		ct = pprofTextType
	}
	return &engines.Response{StreamType: ct, Stream: func(w io.Writer) error {
		if name == "heap" && gc > 0 {
			runtime.GC()
		}
		if err := pprof.Lookup(name).WriteTo(w, debug); err != nil {
			return fmt.Errorf("system: pprof %s: %w", name, err)
		}
		return nil
	}}, nil
}

func isNamedProfile(name string) bool {
	for _, n := range namedProfiles {
		if n == name {
			return true
		}
	}
	return false
}

// pprofIndex lists what sys/pprof/ serves, with the current counts.
func pprofIndex() string {
	var b strings.Builder
	b.WriteString("Profiles served under sys/pprof/:\n\n")
	for _, n := range namedProfiles {
		fmt.Fprintf(&b, "%-14s %d\n", n, pprof.Lookup(n).Count())
	}
	b.WriteString("cmdline\nprofile        ?seconds=N (CPU, default 30, at most 30)\nsymbol\ntrace          ?seconds=N (default 1, at most 30)\n")
	b.WriteString("\nText forms: ?debug=1 (or 2 for goroutine stacks); heap: ?gc=1 collects garbage first.\n")
	return b.String()
}

// textStream answers with a plain-text body.
func textStream(body string) *engines.Response {
	return &engines.Response{StreamType: pprofTextType, Stream: func(w io.Writer) error {
		_, err := io.WriteString(w, body)
		return err
	}}
}

// capture is a CPU profile or execution trace being recorded into memory.
// It stops by itself after its duration, whether or not anyone streams it
// (the response may never be written: an audit failure, a gone client).
type capture struct {
	buf  bytes.Buffer
	done chan struct{}
}

// startCapture starts a recording (start/stop: pprof.StartCPUProfile, or
// trace.Start) for d and answers with a stream that waits for it to end
// and writes it. Only one of each kind runs at a time in a process: a
// second request gets 409.
func startCapture(ctx context.Context, what string, d time.Duration, start func(io.Writer) error, stop func()) (*engines.Response, error) {
	c := &capture{done: make(chan struct{})}
	if err := start(&c.buf); err != nil {
		return nil, &engines.Error{Code: engines.CodeConflict, Message: fmt.Sprintf("cannot start a %s: one is already running", what)}
	}
	time.AfterFunc(d, func() {
		stop() // returns once every write to buf is done
		close(c.done)
	})
	return &engines.Response{StreamType: pprofBinaryType, Stream: func(w io.Writer) error {
		select {
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("system: pprof: %w", ctx.Err())
		}
		_, err := w.Write(c.buf.Bytes())
		return err
	}}, nil
}

// secondsParam reads ?seconds=N (def when absent): 1 to maxProfileSeconds.
func secondsParam(data map[string]any, def int) (int, error) {
	secs, err := intParam(data, "seconds", def)
	if err != nil {
		return 0, err
	}
	if secs < 1 || secs > maxProfileSeconds {
		return 0, engines.BadRequest("seconds must be between 1 and %d", maxProfileSeconds)
	}
	return secs, nil
}

// intParam reads an integer query parameter, def when absent.
func intParam(data map[string]any, key string, def int) (int, error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return def, nil
	}
	var str string
	switch v := raw.(type) {
	case string:
		str = v
	default:
		str = fmt.Sprint(v)
	}
	if str == "" {
		return def, nil
	}
	n, err := strconv.Atoi(str)
	if err != nil {
		return 0, engines.BadRequest("%s must be a whole number", key)
	}
	return n, nil
}
