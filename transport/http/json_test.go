package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"coffer/engines"
	"coffer/engines/jsonobj"
)

func TestDecodeBody(t *testing.T) {
	lim := Limits{MaxDepth: 4, MaxStringBytes: 8, MaxEntries: 3, MaxValues: 8}.withDefaults()
	cases := []struct {
		name, body string
		ok         bool
		// msg is what clients see after "failed to parse JSON input: "
		// (for malformed JSON, its start).
		msg string
	}{
		{"empty", "", true, ""},
		{"spaces", "  \n", true, ""},
		{"null", " null ", true, ""},
		{"object", `{"a":1,"b":"x","c":[true,null]}`, true, ""},
		{"nested to the limit", `{"a":{"b":{"c":[1]}}}`, true, ""},
		{"too deep", `{"a":{"b":{"c":{"d":[1]}}}}`, false, "JSON nested deeper than 4"},
		{"string too long", `{"a":"123456789"}`, false, "JSON string longer than 8 bytes"},
		{"key too long", `{"123456789":1}`, false, "JSON key longer than 8 bytes"},
		{"too many members", `{"a":1,"b":2,"c":3,"d":4}`, false, "JSON object with more than 3 entries"},
		{"too many elements", `{"a":[1,2,3,4]}`, false, "JSON array with more than 3 elements"},
		{"too many values in all", `{"a":[1,2,3],"b":[1,2,3],"c":[1]}`, false, "JSON body with more than 8 values"},
		{"array at top", `[1]`, false, "body must be a JSON object"},
		{"string at top", `"x"`, false, "body must be a JSON object"},
		{"truncated", `{"a":`, false, "malformed JSON: "},
		{"trailing", `{} {}`, false, "unexpected data after the JSON value"},
		{"trailing after an array", `[1] x`, false, "unexpected data after the JSON value"},
		{"bad token", `{"a":tru}`, false, "malformed JSON: "},
		{"bad escape", `{"a":"\q"}`, false, "malformed JSON: "},
	}
	h := &Handler{limits: lim}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeBody([]byte(tc.body), lim)
			if (err == nil) != tc.ok {
				t.Fatalf("decode %q: err %v, want ok=%v", tc.body, err, tc.ok)
			}
			if tc.ok {
				return
			}
			_, err = h.decode([]byte(tc.body))
			var e *engines.Error
			if !errors.As(err, &e) || e.Code != engines.CodeInvalidRequest {
				t.Fatalf("decode %q: %v, want a bad request", tc.body, err)
			}
			want := "failed to parse JSON input: " + tc.msg
			if !strings.HasPrefix(e.Message, want) || !strings.HasPrefix(tc.msg, "malformed") && e.Message != want {
				t.Fatalf("decode %q: client sees %q, want %q", tc.body, e.Message, want)
			}
		})
	}
	v, err := decodeBody([]byte(`{"n":12345678901234567890}`), Limits{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := v["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Fatalf("numbers must stay exact json.Number, got %T %v", v["n"], v["n"])
	}
}

// FuzzDecodeBody checks the bounded decoder never panics, accepts only
// what encoding/json accepts as an object and decodes it to the same
// values, and accepts every such object within the limits.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}]}`, `[`, `{"a":"\u0000"}`, strings.Repeat("[", 50), `{"a":1} x`, `null`} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxDepth: 20, MaxStringBytes: 64, MaxEntries: 16}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeBody(body, lim)
		if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || string(trimmed) == "null" {
			if err != nil || len(got) != 0 {
				t.Fatalf("%q: got %v, %v; want an empty object", body, got, err)
			}
			return
		}
		var want map[string]any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		jerr := d.Decode(&want)
		if jerr == nil && len(bytes.TrimLeft(body[d.InputOffset():], " \t\r\n")) != 0 {
			jerr = errors.New("trailing data")
		}
		if err == nil {
			if jerr != nil {
				t.Fatalf("bounded decoder accepted what encoding/json rejects: %q (%v)", body, jerr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: decoded %#v, encoding/json %#v", body, got, want)
			}
			return
		}
		if jerr == nil && (errors.Is(err, jsonobj.ErrSyntax) || errors.Is(err, jsonobj.ErrTrailingData) || errors.Is(err, errNotObject)) {
			t.Fatalf("%q: refused a valid object with %v, not a limit", body, err)
		}
	})
}

func TestCanonical(t *testing.T) {
	for path, want := range map[string]bool{
		"secret/data/a":      true,
		"secret/metadata/a/": true,
		"":                   false,
		"/secret":            false,
		"a//b":               false,
		"a/./b":              false,
		"a/../b":             false,
		"a/b/..":             false,
		"a//":                false,
		"/":                  false,
		"a/.":                false,
		"a/b/c/":             true,
	} {
		if got := canonical(path); got != want {
			t.Errorf("canonical(%q) = %v, want %v", path, got, want)
		}
	}
}
