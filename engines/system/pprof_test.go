package system

import (
	"strings"
	"testing"

	"coffer/engines"
)

// pprofGet asks sys/pprof/<name> with query params.
func pprofGet(t *testing.T, name string, params map[string]any) (*engines.Response, error) {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	s := &System{}
	return s.pprofPath(t.Context(), &engines.Request{Operation: engines.ReadOperation, Data: params}, name)
}

func TestPprofProfiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		params   map[string]any
		wantType string
		check    func(body string) bool
	}{
		{"", nil, pprofTextType, func(b string) bool { return strings.Contains(b, "goroutine") && strings.Contains(b, "profile") }},
		{"cmdline", nil, pprofTextType, func(b string) bool { return b != "" }},
		{"symbol", nil, pprofTextType, func(b string) bool { return b == "num_symbols: 1\n" }},
		// The binary form is a gzipped protobuf.
		{"goroutine", nil, pprofBinaryType, func(b string) bool { return strings.HasPrefix(b, "\x1f\x8b") }},
		{"goroutine", map[string]any{"debug": "2"}, pprofTextType, func(b string) bool { return strings.Contains(b, "goroutine ") }},
		{"heap", map[string]any{"gc": "1"}, pprofBinaryType, func(b string) bool { return strings.HasPrefix(b, "\x1f\x8b") }},
		{"allocs", map[string]any{"debug": "1"}, pprofTextType, func(b string) bool { return strings.Contains(b, "heap profile") }},
		{"threadcreate", nil, pprofBinaryType, func(b string) bool { return b != "" }},
		{"block", nil, pprofBinaryType, func(b string) bool { return b != "" }},
		{"mutex", nil, pprofBinaryType, func(b string) bool { return b != "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := pprofGet(t, tc.name, tc.params)
			if err != nil {
				t.Fatalf("pprof %q: %v", tc.name, err)
			}
			if resp.StreamType != tc.wantType {
				t.Errorf("content type %q, want %q", resp.StreamType, tc.wantType)
			}
			if body := mustStream(t, resp); !tc.check(body) {
				t.Errorf("unexpected body (%d bytes): %.200q", len(body), body)
			}
		})
	}
}

func TestPprofRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     engines.Operation
		params map[string]any
		want   engines.Code
	}{
		{"nosuch", engines.ReadOperation, nil, engines.CodeNotFound},
		{"goroutine", engines.UpdateOperation, nil, engines.CodeUnsupportedOperation},
		{"goroutine", engines.ReadOperation, map[string]any{"debug": "x"}, engines.CodeInvalidRequest},
		{"profile", engines.ReadOperation, map[string]any{"seconds": "0"}, engines.CodeInvalidRequest},
		{"profile", engines.ReadOperation, map[string]any{"seconds": "31"}, engines.CodeInvalidRequest},
		{"trace", engines.ReadOperation, map[string]any{"seconds": "3600"}, engines.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := tc.params
			if params == nil {
				params = map[string]any{}
			}
			s := &System{}
			_, err := s.pprofPath(t.Context(), &engines.Request{Operation: tc.op, Data: params}, tc.name)
			if code, _ := engines.CodeOf(err); err == nil || code != tc.want {
				t.Fatalf("err %v, want code %d", err, tc.want)
			}
		})
	}
}

// TestPprofCaptures takes a one-second CPU profile and trace at once, and
// checks a second CPU profile is refused while the first runs.
func TestPprofCaptures(t *testing.T) {
	one := map[string]any{"seconds": "1"}
	prof, err := pprofGet(t, "profile", one)
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	tr, err := pprofGet(t, "trace", one)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	if _, err := pprofGet(t, "profile", one); err == nil {
		t.Fatalf("a second CPU profile started")
	} else if code, _ := engines.CodeOf(err); code != engines.CodeConflict {
		t.Fatalf("second profile: %v, want a conflict", err)
	}
	if body := mustStream(t, prof); !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("CPU profile is not a gzipped protobuf: %.20q", body)
	}
	if body := mustStream(t, tr); !strings.HasPrefix(body, "go 1.") {
		t.Errorf("trace lacks its header: %.20q", body)
	}
}
