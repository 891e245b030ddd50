package enginestest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"coffer/engines"
)

// Body decodes a JSON request body as the HTTP layer does (json.Number);
// the empty string is an empty body.
func Body(tb testing.TB, s string) map[string]any {
	tb.Helper()
	m := map[string]any{}
	if s == "" {
		return m
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("decode body %q: %v", s, err)
	}
	return m
}

// AssertCode fails tb unless err carries code and, if msg is not empty, a
// client message containing msg.
func AssertCode(tb testing.TB, err error, code engines.Code, msg string) {
	tb.Helper()
	gotCode, gotMsg := engines.CodeOf(err)
	if gotCode != code || !strings.Contains(gotMsg, msg) {
		tb.Fatalf("error %v: code %d message %q, want code %d containing %q", err, gotCode, gotMsg, code, msg)
	}
}

// JSONEqual fails tb unless v, encoded as a client would see it, equals
// the JSON text want.
func JSONEqual(tb testing.TB, v any, want string) {
	tb.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatalf("bad want JSON %q: %v", want, err)
	}
	g := RoundTrip(tb, v)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		tb.Fatalf("got  %s\nwant %s", gb, wb)
	}
}

// RoundTrip encodes v as the HTTP layer would and decodes it back, so
// tests compare what a client sees.
func RoundTrip(tb testing.TB, v any) any {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.Fatalf("decode: %v", err)
	}
	return out
}
