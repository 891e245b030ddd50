package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The append-style encoder. Each function writes exactly what encoding/json
// writes for the same value: with html, its default escaping of '<', '>'
// and '&' (json.Marshal); without, json.Encoder.SetEscapeHTML(false).
// FuzzAppendValue holds them to it.

// ErrUnencodable is wrapped by the errors of values JSON cannot hold (NaN,
// infinities, a json.Number that is not a number) or encoding/json refuses.
var ErrUnencodable = errors.New("jsonobj: value cannot be encoded as JSON")

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string: '"' and '\\' escaped, control
// characters as \b \f \n \r \t or \u00XX, invalid UTF-8 as \ufffd, U+2028
// and U+2029 escaped, and with html '<', '>' and '&' as \u003c \u003e
// \u0026.
func AppendString(dst []byte, s string, html bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && (!html || (b != '<' && b != '>' && b != '&')) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendStrings appends a JSON array of strings (null for a nil slice).
func AppendStrings(dst []byte, list []string, html bool) []byte {
	if list == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s, html)
	}
	return append(dst, ']')
}

// AppendFloat appends f as encoding/json does (the ES6 number form) for a
// float of the given bit size; NaN and infinities cannot be written.
func AppendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("encode a non-finite number: %w", ErrUnencodable)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// e-09 becomes e-9.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// AppendNumber appends a json.Number as it is ("" as 0); one that is not a
// JSON number cannot be written.
func AppendNumber(dst []byte, n json.Number) ([]byte, error) {
	s := string(n)
	if s == "" {
		s = "0"
	}
	if !ValidNumber(s) {
		return dst, fmt.Errorf("encode an invalid number: %w", ErrUnencodable)
	}
	return append(dst, s...), nil
}

// ValidNumber reports whether s is a JSON number (RFC 8259).
func ValidNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		if s = s[1:]; s == "" {
			return false
		}
	}
	digits := func(s string) string {
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
		return s
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = digits(s[1:])
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = digits(s[2:])
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			if s = s[1:]; s == "" {
				return false
			}
		}
		s = digits(s)
	}
	return s == ""
}

// AppendEncoded appends v as encoding/json writes it: the fallback for
// types the append-style encoder does not know.
func AppendEncoded(dst []byte, v any, html bool) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encode a %T value: %w: %w", v, ErrUnencodable, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// KeyValue is one map entry, for writing a map in key order.
type KeyValue[V any] struct {
	K string
	V V
}

// SortedEntries returns m's entries ordered by key (bytewise, as
// encoding/json orders map keys), reusing buf's storage when it is large
// enough.
func SortedEntries[V any](buf []KeyValue[V], m map[string]V) []KeyValue[V] {
	kvs := buf[:0]
	for k, v := range m {
		kvs = append(kvs, KeyValue[V]{k, v})
	}
	slices.SortFunc(kvs, func(a, b KeyValue[V]) int { return strings.Compare(a.K, b.K) })
	return kvs
}

// maxAppendDepth bounds AppendValue's recursion; deeper values go to
// encoding/json, which has its own cycle and depth checks.
const maxAppendDepth = 64

// AppendValue appends v as encoding/json writes it. The plain values a
// decoded request or a backend's response is made of (nil, bool, string,
// json.Number, floats, integers, []any, []string, map[string]any,
// map[string]string) are written without reflection; anything else goes
// through encoding/json.
func AppendValue(dst []byte, v any, html bool) ([]byte, error) {
	return appendValue(dst, v, html, 0)
}

func appendValue(dst []byte, v any, html bool, depth int) ([]byte, error) {
	if depth > maxAppendDepth {
		return AppendEncoded(dst, v, html)
	}
	switch t := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, t, html), nil
	case bool:
		return strconv.AppendBool(dst, t), nil
	case json.Number:
		return AppendNumber(dst, t)
	case float64:
		return AppendFloat(dst, t, 64)
	case float32:
		return AppendFloat(dst, float64(t), 32)
	case int:
		return strconv.AppendInt(dst, int64(t), 10), nil
	case int64:
		return strconv.AppendInt(dst, t, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(t), 10), nil
	case uint64:
		return strconv.AppendUint(dst, t, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(t), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(t), 10), nil
	case []string:
		return AppendStrings(dst, t, html), nil
	case []any:
		if t == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, e := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, html, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		return appendMap(dst, t, html, func(dst []byte, v any) ([]byte, error) {
			return appendValue(dst, v, html, depth+1)
		})
	case map[string]string:
		return appendMap(dst, t, html, func(dst []byte, v string) ([]byte, error) {
			return AppendString(dst, v, html), nil
		})
	}
	return AppendEncoded(dst, v, html)
}

// appendMap appends m as a JSON object in key order (null when nil),
// each value written by value.
func appendMap[V any](dst []byte, m map[string]V, html bool, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	var buf [16]KeyValue[V]
	dst = append(dst, '{')
	for i, kv := range SortedEntries(buf[:0], m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, kv.K, html)
		dst = append(dst, ':')
		var err error
		if dst, err = value(dst, kv.V); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}
