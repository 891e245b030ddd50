package jsonobj

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want map[string]any // nil: want wantErr
		err  error
	}{
		{"empty", ``, map[string]any{}, nil},
		{"white space", " \t\r\n", map[string]any{}, nil},
		{"unicode white space", "\u00a0\f", map[string]any{}, nil},
		{"null", ` null `, map[string]any{}, nil},
		{"empty object", `{}`, map[string]any{}, nil},
		{"values", `{"s":"x","n":-1.5e3,"t":true,"f":false,"z":null,"a":[],"o":{}}`,
			map[string]any{"s": "x", "n": json.Number("-1.5e3"), "t": true, "f": false, "z": nil, "a": []any{}, "o": map[string]any{}}, nil},
		{"exact big number", `{"n":12345678901234567890}`, map[string]any{"n": json.Number("12345678901234567890")}, nil},
		{"last duplicate wins", `{"k":1,"k":"two"}`, map[string]any{"k": "two"}, nil},
		{"escapes", `{"e":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, map[string]any{"e": "\"\\/\b\f\n\r\té😀"}, nil},
		{"lone surrogates", `{"e":"\ud800x\udc00"}`, map[string]any{"e": "\ufffdx\ufffd"}, nil},
		{"invalid utf-8", "{\"e\":\"a\xffb\"}", map[string]any{"e": "a\ufffdb"}, nil},
		{"array at top", `[1]`, nil, ErrNotObject},
		{"string at top", `"x"`, nil, ErrNotObject},
		{"trailing", `{} {}`, nil, ErrTrailingData},
		{"trailing after malformed array", `[1] x`, nil, ErrTrailingData},
		{"truncated", `{"a":`, nil, ErrSyntax},
		{"bad literal", `{"a":tru}`, nil, ErrSyntax},
		{"leading zero", `{"a":01}`, nil, ErrSyntax},
		{"control character", "{\"a\":\"\x01\"}", nil, ErrSyntax},
		{"bad escape", `{"a":"\q"}`, nil, ErrSyntax},
		{"trailing comma", `{"a":1,}`, nil, ErrSyntax},
		{"too deep for encoding/json", strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001), nil, ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.raw), Limits{})
			if tt.want == nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, %v; want %v", got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
}

func TestDecodePrefix(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		want  map[string]any // nil: want err
		taken int
		err   error
	}{
		{"object", ` {"a":"b"} `, map[string]any{"a": "b"}, 10, nil},
		{"trailing ignored", `{"a":[1]}{"x`, map[string]any{"a": []any{json.Number("1")}}, 9, nil},
		{"null", `null}`, map[string]any{}, 4, nil},
		{"empty", ``, nil, 0, ErrSyntax},
		{"white space", `  `, nil, 2, ErrSyntax},
		{"array", `[]`, nil, 0, ErrNotObject},
		{"number", `1`, nil, 0, ErrNotObject},
		{"bad null", `nul`, nil, 0, ErrSyntax},
		{"truncated", `{"a":1`, nil, 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := DecodePrefix([]byte(tt.raw), Limits{})
			if tt.want == nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, %v; want %v", got, err, tt.err)
				}
				return
			}
			if err != nil || n != tt.taken || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, %d, %v; want %#v, %d", got, n, err, tt.want, tt.taken)
			}
		})
	}
}

// TestLimits: each limit refuses with the reason transport/http's clients
// have always seen, at its bound and not before.
func TestLimits(t *testing.T) {
	lim := Limits{MaxDepth: 4, MaxStringBytes: 8, MaxEntries: 3, MaxValues: 8}
	tests := []struct {
		name, raw string
		err       error  // nil: accepted
		reason    string // the whole reason, or for ErrSyntax its start
	}{
		{"nested to the limit", `{"a":{"b":{"c":[1]}}}`, nil, ""},
		{"too deep", `{"a":{"b":{"c":{"d":[1]}}}}`, ErrTooDeep, "JSON nested deeper than 4"},
		{"string at the limit", `{"a":"12345678"}`, nil, ""},
		{"string too long", `{"a":"123456789"}`, ErrStringTooLong, "JSON string longer than 8 bytes"},
		{"string too long once unquoted", "{\"a\":\"\xff\xff\xff\"}", ErrStringTooLong, "JSON string longer than 8 bytes"},
		{"escaped string within the limit", `{"a":"\u0041\u0042\u0043"}`, nil, ""},
		{"key too long", `{"123456789":1}`, ErrStringTooLong, "JSON key longer than 8 bytes"},
		{"members at the limit", `{"a":1,"b":2,"c":3}`, nil, ""},
		{"repeated keys count once", `{"a":1,"a":2,"a":3,"a":4}`, nil, ""},
		{"too many members", `{"a":1,"b":2,"c":3,"d":4}`, ErrTooManyEntries, "JSON object with more than 3 entries"},
		{"too many elements", `{"a":[1,2,3,4]}`, ErrTooManyEntries, "JSON array with more than 3 elements"},
		{"too many values in all", `{"a":[1,2,3],"b":[1,2,3],"c":[1]}`, ErrTooManyValues, "JSON body with more than 8 values"},
		{"limit before a missing comma", `{"a":[1,2,3 4]}`, ErrTooManyEntries, "JSON array with more than 3 elements"},
		{"limit before a missing colon", `{"a":1,"b":2,"c":3,"d" 4}`, ErrTooManyEntries, "JSON object with more than 3 entries"},
		{"malformed before a limit", `{"a":1,"b":2,"c":3 "d":4}`, ErrSyntax, "malformed JSON: "},
		{"truncated", `{"a":`, ErrSyntax, "malformed JSON: unexpected end of input at byte 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLimits(t, []byte(tt.raw), lim)
			_, err := Decode([]byte(tt.raw), lim)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Err != tt.err || !strings.HasPrefix(e.Reason, tt.reason) ||
				(tt.err != ErrSyntax && e.Reason != tt.reason) {
				t.Fatalf("got %v, want %v with reason %q", err, tt.err, tt.reason)
			}
			if want := "jsonobj: " + e.Reason; err.Error() != want {
				t.Fatalf("text %q, want %q", err.Error(), want)
			}
		})
	}
}

// TestErrorHoldsNoInput: refusals name a place, never the input's bytes.
func TestErrorHoldsNoInput(t *testing.T) {
	for _, raw := range []string{`{"password": hunter2}`, "{\"password\":\"hunter2\x01\"}", `{"password":"hunter2\q"}`, `{"hunter2"}`} {
		_, err := Decode([]byte(raw), Limits{})
		if err == nil || strings.Contains(err.Error(), "hunter") || strings.Contains(err.Error(), "'") {
			t.Fatalf("%q: %v", raw, err)
		}
	}
}
