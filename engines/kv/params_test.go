package kv

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{json.Number("3"), 3, true},
		{json.Number("3.0"), 3, true},
		{json.Number("3.5"), 0, false},
		{json.Number("1e3"), 1000, true},
		{"42", 42, true},
		{" 7 ", 7, true},
		{"", 0, true},
		{nil, 0, true},
		{"x", 0, false},
		{float64(5), 5, true},
		{float64(5.5), 0, false},
		{9.3e18, 0, false},
		{int(-2), -2, true},
		{true, 0, false},
		{[]any{1}, 0, false},
	}
	for _, tt := range tests {
		got, err := parseInt(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseInt(%#v) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in   any
		want bool
		ok   bool
	}{
		{true, true, true}, {false, false, true}, {"true", true, true}, {"0", false, true},
		{"1", true, true}, {"", false, true}, {json.Number("1"), true, true},
		{float64(0), false, true}, {"yes", false, false}, {map[string]any{}, false, false},
	}
	for _, tt := range tests {
		got, err := parseBool(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBool(%#v) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   any
		want time.Duration
		ok   bool
	}{
		{"1h", time.Hour, true},
		{"0s", 0, true},
		{"", 0, true},
		{"90", 90 * time.Second, true},
		{json.Number("3600"), time.Hour, true},
		{float64(60), time.Minute, true},
		{"2d", 48 * time.Hour, true},
		{"-1", -time.Second, true},
		{"1500ms", time.Second, true},
		{"-500ms", 0, true},
		{"soon", 0, false},
		{"1e300", 0, false},
		{"99999999999999999d", 0, false},
		{true, 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%#v) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseVersions(t *testing.T) {
	tests := []struct {
		in   any
		want []uint64
		ok   bool
	}{
		{[]any{json.Number("1"), "2", float64(3)}, []uint64{1, 2, 3}, true},
		{"4,5, 6", []uint64{4, 5, 6}, true},
		{json.Number("7"), []uint64{7}, true},
		{[]int{1, -2}, []uint64{1}, true},
		{[]string{"8"}, []uint64{8}, true},
		{nil, nil, true},
		{"", []uint64{}, true},
		{[]any{"x"}, nil, false},
		{map[string]any{}, nil, false},
	}
	for _, tt := range tests {
		got, err := parseVersions(tt.in)
		if (err == nil) != tt.ok || (tt.ok && len(got)+len(tt.want) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("parseVersions(%#v) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestMergePatch(t *testing.T) {
	// Cases from RFC 7386, appendix A.
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, tt := range tests {
		var target, patch any
		if err := json.Unmarshal([]byte(tt.target), &target); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(tt.patch), &patch); err != nil {
			t.Fatal(err)
		}
		jsonEqual(t, mergePatch(target, patch), tt.want)
	}
}
