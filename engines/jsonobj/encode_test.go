package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

// encodingJSON is what encoding/json writes for v, with or without its
// HTML escaping.
func encodingJSON(v any, html bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func mustSameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	for _, html := range []bool{true, false} {
		want, werr := encodingJSON(v, html)
		got, gerr := AppendValue(nil, v, html)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("html=%v %#v: encoding/json error %v, AppendValue error %v", html, v, werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("html=%v %#v:\n got %s\nwant %s", html, v, got, want)
		}
		if gerr != nil && !errors.Is(gerr, ErrUnencodable) {
			t.Fatalf("error %v does not wrap ErrUnencodable", gerr)
		}
	}
}

func TestAppendValueMatchesEncodingJSON(t *testing.T) {
	cases := []any{
		nil, true, false, "", "plain", "<a href=\"x\">&amp;</a>", "tab\tnl\nret\r\x00\x1f\x7f",
		"\u2028\u2029", "invalid \xff utf8", "snow ☃ 𝄞",
		json.Number("12345678901234567890"), json.Number(""), json.Number("1e5"), json.Number("-0.5"),
		json.Number("01"), json.Number("abc"),
		0.0, -0.0, 1.5, 1e21, 1e20, 1e-7, 1e-6, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.NaN(), math.Inf(1), float32(3.1), float32(1e-7), float32(1e21),
		0, -1, int64(math.MinInt64), int32(7), uint64(math.MaxUint64), uint32(9), uint(3),
		[]string{}, []string(nil), []string{"a", "<b>"},
		[]any{}, []any(nil), []any{1, "x", nil, []any{true}},
		map[string]any{}, map[string]any(nil), map[string]string(nil), map[string]string{"b": "2", "a": "<1>"},
		map[string]any{"z": 1, "a": map[string]any{"k": []any{json.Number("2"), "v"}}, "é": "x", "<": ">"},
		time.Date(2026, 11, 26, 5, 0, 0, 123, time.UTC), []int{1, 2}, struct{ A int }{1},
		map[string]any{"t": time.Unix(0, 0).UTC(), "bad": math.NaN()},
	}
	for _, v := range cases {
		mustSameAsEncodingJSON(t, v)
	}
}

func FuzzAppendValue(f *testing.F) {
	f.Add([]byte(`{"a":[1,"x",{"b":null,"c":true}],"d":"<&>","e":1.5e300}`))
	f.Add([]byte(`{"\u2028":"\ud800","n":-0.000001}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Decoded values (json.Number) and the same through float64.
		m, err := Decode(raw, Limits{})
		if err != nil {
			return
		}
		mustSameAsEncodingJSON(t, m)
		var generic any
		if json.Unmarshal(raw, &generic) == nil {
			mustSameAsEncodingJSON(t, generic)
		}
	})
}

func BenchmarkAppendValue(b *testing.B) {
	v := map[string]any{
		"data":     map[string]any{"password": string(bytes.Repeat([]byte("x"), 128)), "user": "app"},
		"metadata": map[string]any{"created_time": "2026-11-26T05:00:00.123Z", "custom_metadata": nil, "deletion_time": "", "destroyed": false, "version": uint64(3)},
	}
	b.Run("jsonobj", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = AppendValue(buf[:0], v, true)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(v)
		}
	})
}
