package tokenfields_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"coffer/engines/auth/tokenfields"
)

func TestFieldConversions(t *testing.T) {
	f := tokenfields.Fields{
		"n": json.Number("42"), "ns": "7", "nf": 3.0, "nbad": "x", "nfrac": json.Number("1.5"),
		"d1": json.Number("90"), "d2": "1h30m", "d3": "2d", "d4": "", "d5": "1.9", "dbad": "soon", "dhuge": "9999999999d",
		"b1": true, "b2": "false", "b3": json.Number("1"), "bbad": "yes please",
		"l1": "a, b,,c", "l2": []any{"x", json.Number("5"), " y "}, "l3": "", "lbad": []any{map[string]any{}},
		"m1": map[string]any{"k": "v", "n": json.Number("1")}, "m2": `{"a":"b"}`, "m3": "a=1, b = 2", "mbad": "novalue",
		"null": nil,
	}
	ints := []struct {
		name string
		want int
		bad  bool
	}{{"n", 42, false}, {"ns", 7, false}, {"nf", 3, false}, {"nbad", 0, true}, {"nfrac", 0, true}}
	for _, tc := range ints {
		got, ok, err := f.Int(tc.name)
		if !ok || (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("Int %s: %d %v %v", tc.name, got, ok, err)
		}
	}
	durs := []struct {
		name string
		want time.Duration
		bad  bool
	}{{"d1", 90 * time.Second, false}, {"d2", 90 * time.Minute, false}, {"d3", 48 * time.Hour, false}, {"d4", 0, false},
		{"d5", time.Second, false}, {"dbad", 0, true}, {"dhuge", 0, true}}
	for _, tc := range durs {
		got, ok, err := f.Duration(tc.name)
		if !ok || (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("Duration %s: %v %v %v", tc.name, got, ok, err)
		}
	}
	bools := []struct {
		name      string
		want, bad bool
	}{{"b1", true, false}, {"b2", false, false}, {"b3", true, false}, {"bbad", false, true}}
	for _, tc := range bools {
		got, ok, err := f.Bool(tc.name)
		if !ok || (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Bool %s: %v %v %v", tc.name, got, ok, err)
		}
	}
	lists := []struct {
		name string
		want []string
		bad  bool
	}{{"l1", []string{"a", "b", "c"}, false}, {"l2", []string{"x", "5", "y"}, false}, {"l3", []string{}, false}, {"lbad", nil, true}}
	for _, tc := range lists {
		got, ok, err := f.Strings(tc.name)
		if !ok || (err != nil) != tc.bad || (!tc.bad && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("Strings %s: %q %v %v", tc.name, got, ok, err)
		}
	}
	maps := []struct {
		name string
		want map[string]string
		bad  bool
	}{{"m1", map[string]string{"k": "v", "n": "1"}, false}, {"m2", map[string]string{"a": "b"}, false},
		{"m3", map[string]string{"a": "1", "b": "2"}, false}, {"mbad", nil, true}}
	for _, tc := range maps {
		got, ok, err := f.StringMap(tc.name)
		if !ok || (err != nil) != tc.bad || (!tc.bad && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("StringMap %s: %v %v %v", tc.name, got, ok, err)
		}
	}
	for _, name := range []string{"null", "absent"} {
		if _, ok, err := f.Int(name); ok || err != nil {
			t.Errorf("%s counted as given", name)
		}
	}
}
