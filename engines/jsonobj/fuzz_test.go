package jsonobj

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// seeds are inputs for the differential tests: valid and invalid JSON of
// every kind the grammar has.
var seeds = []string{
	`{"username":"app","password":"hunter2hunter2"}`,
	`{"port":5432,"ratio":-0.5e+10,"big":123456789012345678901234567890,"z":0,"f":1E-2,"n":-0}`,
	`{"nested":{"a":[1,"two",true,false,null,{"b":[]}],"c":{}},"a":null}`,
	`{"esc":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\ud800x\udc00","utf8":"héllo","bad":"\xff\xfe"}`,
	`{"pairs":"\ud800\ud800\udc00\udc00\ud800\u0041\uDBFF\uDFFF\uD83D","key\u0000":"\u0000"}`,
	"{\"surrogate in utf8\":\"\xed\xa0\x80\",\"fffd\":\"\xef\xbf\xbd\",\"short\":\"\xe2\x82\"}",
	`{"dup":1,"dup":2}`, `{"a":{"b":1},"a":[]}`,
	" \t\r\n{ \"a\" : 1 , \"b\" :[ 1 , 2 ] } ", " \t\r\n{ \"a\" : 1 } trailing",
	`null`, ` null `, `null}`, `nul`, `nullx`, ``, `  `, "\f", "\u00a0null", `[]`, `[1]`, `"s"`, `1`, `true`, `-`, `1x`,
	`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":1e+}`, `{"a":.5}`, `{"a":+1}`, `{"a":-01}`, `{"a":1.5e3x}`,
	`{"a":tru}`, `{"a":truex}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":1 "b":2}`, `{"a" 1}`, `{"a":}`,
	"{\"ctl\":\"a\x01b\"}", "{\"tab\":\"a\tb\"}", `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":"unterminated}`, `{"a":"\`,
	`{"a":[1,]}`, `{"a":[1 2]}`, `{"a":[,1]}`, `{"a":[1}`, `{"a":[}`, `{1:2}`, `{"a":1}}`, `{"a":{"b":1}`, `{]`, `{} {}`, `{}x`,
	"\ufeff{}", "{\"a\":1}\x00", `{"a":'b'}`, `{"a":NaN}`, `{"a":Infinity}`,
	strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000),
	strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
	`{"a":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}`,
}

// checkDecode: Decode accepts what encoding/json accepts as one object
// and nothing else, and decodes the same values.
func checkDecode(tb testing.TB, raw []byte) {
	tb.Helper()
	want, wantErr := refDecode(raw)
	got, gotErr := Decode(raw, Limits{})
	if (wantErr == nil) != (gotErr == nil) {
		tb.Fatalf("Decode(%.80q): error %v, encoding/json's %v", raw, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("Decode(%.80q):\n got %#v\nwant %#v", raw, got, want)
	}
	checkError(tb, gotErr)
}

// checkDecodePrefix: DecodePrefix decodes what a json.Decoder decodes
// into a map, and fails where it fails.
func checkDecodePrefix(tb testing.TB, raw []byte) {
	tb.Helper()
	want, wantErr := refDecodePrefix(raw)
	got, n, gotErr := DecodePrefix(raw, Limits{})
	if (wantErr == nil) != (gotErr == nil) {
		tb.Fatalf("DecodePrefix(%.80q): error %v, encoding/json's %v", raw, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("DecodePrefix(%.80q):\n got %#v\nwant %#v", raw, got, want)
	}
	if gotErr == nil {
		// What it took is a whole object: Decode takes it alone.
		if _, err := Decode(raw[:n], Limits{}); err != nil || n > len(raw) {
			tb.Fatalf("DecodePrefix(%.80q) took %d bytes, not an object alone: %v", raw, n, err)
		}
	}
	checkError(tb, gotErr)
}

// checkError: every refusal is an *Error whose text holds no input.
func checkError(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Err == nil || !errors.Is(err, e.Err) {
		tb.Fatalf("error %v (%T) is not an *Error with a sentinel", err, err)
	}
}

// checkLimits: with limits, Decode refuses exactly what the json.Decoder
// Token loop it replaces refused, with the same reason (for malformed
// input, the same kind).
func checkLimits(tb testing.TB, raw []byte, lim Limits) {
	tb.Helper()
	want, wantErr := tokenDecode(raw, lim)
	got, gotErr := Decode(raw, lim)
	if (wantErr == nil) != (gotErr == nil) {
		tb.Fatalf("Decode(%.80q, %+v): error %v, Token loop's %v", raw, lim, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("Decode(%.80q, %+v):\n got %#v\nwant %#v", raw, lim, got, want)
	}
	if gotErr == nil {
		return
	}
	var e *Error
	if !errors.As(gotErr, &e) {
		tb.Fatalf("error %v (%T) is not an *Error", gotErr, gotErr)
	}
	switch w := wantErr.Error(); {
	case strings.HasPrefix(w, "malformed JSON"):
		if e.Err != ErrSyntax {
			tb.Fatalf("Decode(%.80q, %+v): %v, want malformed JSON (Token loop: %v)", raw, lim, gotErr, wantErr)
		}
	case w == "body must be a JSON object":
		if e.Err != ErrNotObject {
			tb.Fatalf("Decode(%.80q, %+v): %v, want not an object", raw, lim, gotErr)
		}
	case e.Reason != w:
		tb.Fatalf("Decode(%.80q, %+v): reason %q, Token loop's %q", raw, lim, e.Reason, w)
	}
}

// TestDecodeMatchesEncodingJSON runs the differential checks over the seeds.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		checkDecode(t, []byte(s))
		checkDecodePrefix(t, []byte(s))
		checkLimits(t, []byte(s), Limits{MaxDepth: 3, MaxStringBytes: 4, MaxEntries: 2, MaxValues: 6})
	}
}

// FuzzDecode compares Decode with encoding/json on arbitrary input.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds {
		if len(s) < 1000 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkDecode(t, raw) })
}

// FuzzDecodePrefix compares DecodePrefix with a json.Decoder on arbitrary
// input.
func FuzzDecodePrefix(f *testing.F) {
	for _, s := range seeds {
		if len(s) < 1000 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkDecodePrefix(t, raw) })
}

// FuzzDecodeLimits compares Decode under small limits with the Token loop
// it replaces.
func FuzzDecodeLimits(f *testing.F) {
	for _, s := range seeds {
		if len(s) < 1000 {
			f.Add([]byte(s), uint8(3), uint8(4), uint8(2), uint8(6))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, depth, str, entries, values uint8) {
		checkLimits(t, raw, Limits{MaxDepth: int(depth), MaxStringBytes: int(str), MaxEntries: int(entries), MaxValues: int(values)})
	})
}
