package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The append-style JSON primitives the entry encoder is built from. Each
// writes exactly what encoding/json writes for the same value with HTML
// escaping off (json.Encoder.SetEscapeHTML(false)), which is the format
// the audit log has always had; TestFormatMatchesReference and
// TestFormatGolden hold them to it.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: '"' and '\\' escaped, the
// control characters as \b \f \n \r \t or \u00XX, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped; '<', '>' and '&' kept.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
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

// appendJSONStrings appends a JSON array of strings.
func appendJSONStrings(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendJSONFloat appends f as encoding/json does (ES6 number form);
// NaN and infinities cannot be written.
func appendJSONFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("encode a non-finite number: %w", errUnloggable)
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

// appendJSONNumber appends a json.Number as it is ("" as 0); one that is
// not a JSON number cannot be written.
func appendJSONNumber(dst []byte, n json.Number) ([]byte, error) {
	s := string(n)
	if s == "" {
		s = "0"
	}
	if !isValidNumber(s) {
		return dst, fmt.Errorf("encode an invalid number: %w", errUnloggable)
	}
	return append(dst, s...), nil
}

// isValidNumber reports whether s is a JSON number (RFC 8259).
func isValidNumber(s string) bool {
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

// appendEncoded appends v as encoding/json writes it with HTML escaping
// off: the fallback for values of types the encoder does not know (only
// ever written raw, under log_raw).
func appendEncoded(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encode a %T value: %w", v, errUnloggable)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// keyValue is one map entry, for writing a map in key order.
type keyValue[V any] struct {
	k string
	v V
}

// sortedEntries returns m's entries ordered by key (bytewise, as
// encoding/json orders map keys), reusing buf's storage when it is large
// enough.
func sortedEntries[V any](buf []keyValue[V], m map[string]V) []keyValue[V] {
	kvs := buf[:0]
	for k, v := range m {
		kvs = append(kvs, keyValue[V]{k, v})
	}
	slices.SortFunc(kvs, func(a, b keyValue[V]) int { return strings.Compare(a.k, b.k) })
	return kvs
}
