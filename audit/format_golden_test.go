package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coffer/engines"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/format.golden")

// goldenSalt is a fixed device salt, so the golden lines are stable.
func goldenSalt() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i*11 + 3)
	}
	return s
}

// formatOptionSets are the device settings every case is formatted under.
var formatOptionSets = []struct {
	name string
	opts map[string]string
}{
	{"default", nil},
	{"no-hmac-accessor", map[string]string{"hmac_accessor": "false"}},
	{"log-raw", map[string]string{"log_raw": "true", "prefix": "coffer: "}},
	{"elide", map[string]string{"elide_list_responses": "true"}},
	{"prefix", map[string]string{"prefix": `p"\ `}},
}

// label and point exercise the unknown-type path (JSON form, then redacted).
type label string

type point struct {
	X, Y  float64
	Name  string `json:"name"`
	Skip  string `json:"-"`
	Inner *point `json:"inner,omitempty"`
}

// escapy holds every character class the JSON encoder treats apart.
const escapy = "q\"b\\s/n\nr\rt\tb\bf\fc\x01d\x7f<a>&u\u2028v\u2029é\xffz"

// formatCases are the inputs the golden file and the reference comparison
// cover; each builds a fresh Input.
var formatCases = []struct {
	name string
	in   func() *Input
}{
	{"kv read", testInput},
	{"login", func() *Input {
		in := testInput()
		in.Token = nil
		in.Request.ClientToken = ""
		in.Request.Operation = engines.UpdateOperation
		in.FullPath = "auth/userpass/login/bob"
		in.Request.Data = map[string]any{"password": "pw", "username": "bob"}
		in.Response = &engines.Response{Auth: &engines.Auth{
			ClientToken: "s.newtoken", Accessor: "newacc",
			Policies: []string{"default", "dev"}, TokenPolicies: []string{"dev"},
			Metadata:      map[string]string{"b": "2", "a": "1", "é": "x", "": "empty"},
			LeaseDuration: 90 * time.Minute, NumUses: 3, EntityID: "ent-1",
			TokenType: "service", DisplayName: "userpass-bob",
		}}
		return in
	}},
	{"value types", func() *Input {
		in := testInput()
		in.Response.Data = map[string]any{
			"strings": []any{"a", "", json.Number("7"), json.Number("-1.5e3"), true, false, nil},
			"ints": []any{int(-1), int8(-8), int16(16), int32(-32), int64(math.MinInt64),
				uint(1), uint8(8), uint16(16), uint32(32), uint64(math.MaxUint64)},
			"floats": []any{1.5, 3.0, 0.0, math.Copysign(0, -1), 1e20, 1e21, 1e-6, 1e-7, -2.5e-9,
				123456789.125, float32(0.1), float32(1e21), float32(1e-7), float32(-3)},
			"durations": time.Duration(5 * time.Second),
			"when":      time.Date(2025, 1, 1, 0, 0, 0, 123456789, time.FixedZone("X", 3600)),
			"bytes":     []byte("raw"),
			"strs":      []string{"s1", "s2"},
			"nilstrs":   []string(nil),
			"mss":       map[string]string{"k2": "v2", "k1": "v1"},
			"nilmss":    map[string]string(nil),
			"maps":      []map[string]any{{"a": "b"}, nil, {}},
			"nilmaps":   []map[string]any(nil),
			"nilmap":    map[string]any(nil),
			"nillist":   []any(nil),
			"empty":     map[string]any{},
			"emptylist": []any{},
			"rawjson":   json.RawMessage(`{"x":[1,"y",{"z":null}],"n":2.50}`),
			"label":     label("lbl"),
			"struct":    point{X: 1, Y: 2.5, Name: "pt", Skip: "no", Inner: &point{Name: "in"}},
			"ptr":       &point{X: -1},
			"ip":        net.IPv4(10, 0, 0, 1),
			"intmap":    map[int]string{2: "b", 10: "a"},
			"ints2":     []int{1, 2},
			"deep":      map[string]any{"l1": map[string]any{"l2": []any{map[string]any{"l3": "x"}}}},
		}
		return in
	}},
	{"escapes", func() *Input {
		in := testInput()
		in.FullPath = "secret/data/" + escapy
		in.MountPoint = "m" + escapy
		in.Request.ID = escapy
		in.Request.Data = map[string]any{escapy: escapy, "b": "x", "a": "y", "B": "z", "é": "w", "": ""}
		in.Token.DisplayName = escapy
		in.Token.Policies = []string{escapy, "default"}
		in.Token.Meta = map[string]string{escapy: escapy}
		in.Token.EntityID = escapy
		in.Response.Data = map[string]any{escapy: map[string]any{escapy: []any{escapy}}}
		in.Response.Warnings = []string{escapy, "plain"}
		return in
	}},
	{"lease and warnings", func() *Input {
		in := testInput()
		in.Response.Secret = &engines.Secret{LeaseID: "database/creds/ro/abc"}
		in.Response.Warnings = []string{"value hunter2 was ignored", `quoted "hunter2"`, "short pw"}
		return in
	}},
	{"error echo", func() *Input {
		in := testInput()
		in.Request.Data = map[string]any{"ttl": "not\"a\\duration\n", "n": json.Number("12345")}
		in.Response = nil
		in.Err = engines.BadRequest("field %q: parsing %q, then %s and 12345", "ttl", "not\"a\\duration\n", "not\"a\\duration\n")
		return in
	}},
	{"internal error", func() *Input {
		in := testInput()
		in.Response = nil
		in.Err = errString("disk path /var/secret failed")
		return in
	}},
	{"list", func() *Input {
		in := testInput()
		in.Request.Operation = engines.ListOperation
		in.Response.Data = map[string]any{"keys": []string{"a", "b", "c"}, "key_info": map[string]any{"a": 1}, "other": "x"}
		return in
	}},
	{"list any", func() *Input {
		in := testInput()
		in.Request.Operation = engines.ListOperation
		in.Response.Data = map[string]any{"keys": []any{"a"}, "key_info": map[string]string{"a": "1", "b": "2"}}
		return in
	}},
	{"nil request", func() *Input {
		return &Input{FullPath: "sys/health", Time: time.Date(2025, 2, 3, 4, 5, 6, 7, time.UTC),
			Response: &engines.Response{Data: map[string]any{"initialized": true, "sealed": false}}}
	}},
	{"remote ipv6 and forwarded", func() *Input {
		in := testInput()
		in.Request.RemoteAddr = "[::1]:8200"
		in.Request.ForwardedFrom = "node-2"
		in.MountPoint, in.MountAccessor = "", ""
		in.Request.MountPoint, in.Request.MountAccessor = "req-mount/", "req_acc"
		in.FullPath = ""
		return in
	}},
	{"remote without port", func() *Input {
		in := testInput()
		in.Request.RemoteAddr = "@unix"
		return in
	}},
	{"remote bad port", func() *Input {
		in := testInput()
		in.Request.RemoteAddr = "host:port"
		return in
	}},
	{"token details", func() *Input {
		in := testInput()
		in.Token.Meta = map[string]string{"role": "r1", "team": "", "a": "z"}
		in.Token.CreationTime = time.Time{}
		in.Token.TTL = -1500 * time.Millisecond
		in.Token.NumUses = 5
		in.Token.EntityID = "ent"
		in.Token.Policies = nil
		in.Token.Accessor = ""
		return in
	}},
	{"empty data", func() *Input {
		in := testInput()
		in.Request.Data = map[string]any{}
		in.Response = &engines.Response{Warnings: []string{}, Secret: &engines.Secret{}}
		in.Token.Meta = map[string]string{}
		in.Token.Policies = []string{}
		return in
	}},
	{"sensitive", func() *Input {
		in := testInput()
		in.Sensitive = true
		in.Response.Data = map[string]any{"keys": []any{"unseal-share"}, "root_token": "s.root"}
		return in
	}},
	{"new token under raw", func() *Input {
		in := testInput()
		in.Response.Auth = &engines.Auth{ClientToken: "s.login", Accessor: "acc"}
		in.Response.Secret = &engines.Secret{LeaseID: "lease"}
		return in
	}},
	{"big", func() *Input {
		in := testInput()
		m := map[string]any{}
		for i := range 60 {
			m[strings.Repeat("k", i%7)+string(rune('a'+i%26))+strings.Repeat("x", i%11)] = strings.Repeat("v", i)
		}
		in.Response.Data = map[string]any{"data": m, "metadata": map[string]any{"version": 3, "created_time": "2025-01-01T00:00:00Z"}}
		return in
	}},
}

// goldenLines formats every case under every option set as the device
// would write them: prefix, body, chain fields, each line chained to the
// one before.
func goldenLines(tb testing.TB) []byte {
	tb.Helper()
	var out []byte
	last := zeroHash
	seq := uint64(0)
	for _, set := range formatOptionSets {
		f, prefix := mustFormatter(tb, set.opts, goldenSalt())
		for _, c := range formatCases {
			for _, typ := range []string{typeRequest, typeResponse} {
				body, err := f.format(c.in(), typ)
				if err != nil {
					tb.Fatalf("%s/%s/%s: %v", set.name, c.name, typ, err)
				}
				start := len(out)
				out = append(out, prefix...)
				out = append(out, body...)
				seq++
				out = appendTail(out, seq, last)
				last = lineHash(out[start:])
				out = append(out, '\n')
			}
		}
	}
	return out
}

// mustFormatter returns the formatter (and prefix) of a device with opts.
func mustFormatter(tb testing.TB, opts map[string]string, salt []byte) (*formatter, string) {
	tb.Helper()
	o := map[string]string{"file_path": "x"}
	for k, v := range opts {
		o[k] = v
	}
	parsed, err := parseOptions(DeviceConfig{Type: "file", Options: o})
	if err != nil {
		tb.Fatal(err)
	}
	d := newDevice(DeviceConfig{Type: "file", Name: "g/"}, parsed, salt, nil)
	tb.Cleanup(func() { _ = d.close() })
	return &d.form, parsed.prefix
}

// refFormatterFor returns the reference formatter for the same settings.
func refFormatterFor(tb testing.TB, opts map[string]string, salt []byte) *refFormatter {
	tb.Helper()
	o := map[string]string{"file_path": "x"}
	for k, v := range opts {
		o[k] = v
	}
	parsed, err := parseOptions(DeviceConfig{Type: "file", Options: o})
	if err != nil {
		tb.Fatal(err)
	}
	return &refFormatter{salt: salt, hmacAccessor: parsed.hmacAccessor, logRaw: parsed.logRaw, elideList: parsed.elideList}
}

// TestFormatGolden pins the exact bytes a device writes: field order,
// escaping, number forms, HMAC values and the chain. Run with -update
// only when the format is meant to change.
func TestFormatGolden(t *testing.T) {
	got := goldenLines(t)
	path := filepath.Join("testdata", "format.golden")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(gl), len(wl)) {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Fatalf("line %d differs:\n got %s\nwant %s", i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("got %d lines, want %d", len(gl), len(wl))
}

// TestFormatMatchesReference checks the production encoder against the
// reference one (encoding/json over built structures) byte for byte.
func TestFormatMatchesReference(t *testing.T) {
	salt := goldenSalt()
	for _, set := range formatOptionSets {
		f, _ := mustFormatter(t, set.opts, salt)
		ref := refFormatterFor(t, set.opts, salt)
		for _, c := range formatCases {
			for _, typ := range []string{typeRequest, typeResponse} {
				t.Run(set.name+"/"+c.name+"/"+typ, func(t *testing.T) {
					mustSameFormat(t, f, ref, c.in, typ)
				})
			}
		}
	}
}

// TestFormatUnloggableMatchesReference checks that both encoders refuse
// the same values.
func TestFormatUnloggableMatchesReference(t *testing.T) {
	salt := goldenSalt()
	bad := []any{math.NaN(), math.Inf(1), float32(math.Inf(-1)), make(chan int), func() {},
		json.RawMessage(`{`), json.RawMessage(nil), []any{math.NaN()}, map[string]any{"x": math.Inf(-1)},
		point{X: math.NaN()}, complex(1, 2)}
	for _, set := range formatOptionSets {
		f, _ := mustFormatter(t, set.opts, salt)
		ref := refFormatterFor(t, set.opts, salt)
		for i, v := range bad {
			in := func() *Input {
				in := testInput()
				in.Response.Data = map[string]any{"v": v}
				return in
			}
			_, err := f.format(in(), typeResponse)
			_, refErr := ref.format(in(), typeResponse)
			if (err == nil) != (refErr == nil) {
				t.Errorf("%s: value %d (%T): err %v, reference err %v", set.name, i, v, err, refErr)
			}
		}
	}
}

func mustSameFormat(tb testing.TB, f *formatter, ref *refFormatter, in func() *Input, typ string) {
	tb.Helper()
	want, wantErr := ref.format(in(), typ)
	got, err := f.format(in(), typ)
	if (err == nil) != (wantErr == nil) {
		tb.Fatalf("err %v, reference err %v", err, wantErr)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("bytes differ:\n got %s\nwant %s", got, want)
	}
}

// FuzzFormatMatchesReference formats arbitrary JSON data and strings
// under arbitrary settings with both encoders: the bytes must be equal.
func FuzzFormatMatchesReference(f *testing.F) {
	f.Add([]byte(`{"a":"b","n":1.0,"l":["x",{"y":"z"}],"t":true}`), "secret/data/x", "ttl", uint8(0))
	f.Add([]byte(`{"keys":["a","b"],"k\u2028":"\ud800","<&>":null}`), "p\"\\\x01", "\xff", uint8(0xff))
	f.Add([]byte(`{"v":-0,"w":1e400,"x":12345678901234567890}`), "", "12345678901234567890", uint8(0x15))
	salt := goldenSalt()
	type pair struct {
		f   *formatter
		ref *refFormatter
	}
	var pairs []pair
	for _, set := range formatOptionSets {
		fm, _ := mustFormatter(f, set.opts, salt)
		pairs = append(pairs, pair{fm, refFormatterFor(f, set.opts, salt)})
	}
	f.Fuzz(func(t *testing.T, body []byte, text, key string, flags uint8) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		p := pairs[int(flags)%len(pairs)]
		typ := typeRequest
		if flags&0x08 != 0 {
			typ = typeResponse
		}
		in := func() *Input {
			in := testInput()
			in.Request.Data = data
			in.Response.Data = data
			in.FullPath = text
			in.Token.DisplayName = text
			in.Token.Meta = map[string]string{key: text}
			in.Sensitive = flags&0x10 != 0
			if flags&0x20 != 0 {
				in.Request.Operation = engines.ListOperation
			}
			if flags&0x40 != 0 {
				in.Err = engines.BadRequest("field %q: parsing %q: %s", key, text, text)
			}
			if flags&0x80 != 0 {
				in.Response.Warnings = []string{text, key}
				in.Response.Auth = &engines.Auth{ClientToken: key, Metadata: map[string]string{text: key}}
			}
			return in
		}
		mustSameFormat(t, p.f, p.ref, in, typ)
	})
}

// FuzzJSONPrimitives holds the string, float and number writers to
// encoding/json's output (HTML escaping off).
func FuzzJSONPrimitives(f *testing.F) {
	f.Add("a\"b\\<>&\u2028\u2029\xff\x00\x7f\t", 1e21, float32(1e-7), "12.5e+3")
	f.Add("", math.Copysign(0, -1), float32(3.4e38), "-0")
	f.Add("é", 5e-324, float32(1e21), "01")
	ref := func(v any) ([]byte, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), err
	}
	same := func(t *testing.T, v any, got []byte, err error) {
		t.Helper()
		want, wantErr := ref(v)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%#v: err %v, encoding/json err %v", v, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("%#v: got %s, encoding/json %s", v, got, want)
		}
	}
	f.Fuzz(func(t *testing.T, s string, x float64, y float32, num string) {
		same(t, s, appendJSONString(nil, s), nil)
		got, err := appendJSONFloat(nil, x, 64)
		same(t, x, got, err)
		got, err = appendJSONFloat(nil, float64(y), 32)
		same(t, y, got, err)
		got, err = appendJSONNumber(nil, json.Number(num))
		same(t, json.Number(num), got, err)
		same(t, []string{s, num}, appendJSONStrings(nil, []string{s, num}), nil)
	})
}
