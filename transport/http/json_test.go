package http

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeBody(t *testing.T) {
	lim := Limits{MaxDepth: 4, MaxStringBytes: 8, MaxEntries: 3, MaxValues: 8}.withDefaults()
	cases := []struct {
		name, body string
		ok         bool
	}{
		{"empty", "", true},
		{"spaces", "  \n", true},
		{"null", " null ", true},
		{"object", `{"a":1,"b":"x","c":[true,null]}`, true},
		{"nested to the limit", `{"a":{"b":{"c":[1]}}}`, true},
		{"too deep", `{"a":{"b":{"c":{"d":[1]}}}}`, false},
		{"string too long", `{"a":"123456789"}`, false},
		{"key too long", `{"123456789":1}`, false},
		{"too many members", `{"a":1,"b":2,"c":3,"d":4}`, false},
		{"too many elements", `{"a":[1,2,3,4]}`, false},
		{"too many values in all", `{"a":[1,2,3],"b":[1,2,3],"c":[1]}`, false},
		{"array at top", `[1]`, false},
		{"string at top", `"x"`, false},
		{"truncated", `{"a":`, false},
		{"trailing", `{} {}`, false},
		{"bad token", `{"a":tru}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeBody([]byte(tc.body), lim)
			if (err == nil) != tc.ok {
				t.Fatalf("decode %q: err %v, want ok=%v", tc.body, err, tc.ok)
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

// FuzzDecodeBody checks the bounded decoder never panics and agrees with
// encoding/json on what is a valid object within the limits.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}]}`, `[`, `{"a":"\u0000"}`, strings.Repeat("[", 50)} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxDepth: 20, MaxStringBytes: 64, MaxEntries: 16}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeBody(body, lim)
		if err != nil {
			return
		}
		var want map[string]any
		if len(strings.TrimSpace(string(body))) == 0 {
			return
		}
		if jerr := json.Unmarshal(body, &want); jerr != nil {
			t.Fatalf("bounded decoder accepted what encoding/json rejects: %q (%v)", body, jerr)
		}
		if len(got) != len(want) {
			t.Fatalf("member count differs: %d vs %d", len(got), len(want))
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
	} {
		if got := canonical(path); got != want {
			t.Errorf("canonical(%q) = %v, want %v", path, got, want)
		}
	}
}
