package audit

import (
	"encoding/json"
	"fmt"

	"coffer/engines/jsonobj"
)

// The append-style JSON primitives the entry encoder is built from, on
// engines/jsonobj without its HTML escaping (json.Encoder.SetEscapeHTML
// (false)), which is the format the audit log has always had;
// TestFormatMatchesReference and TestFormatGolden hold them to it.

// appendJSONString appends s as a JSON string, '<', '>' and '&' kept.
func appendJSONString(dst []byte, s string) []byte { return jsonobj.AppendString(dst, s, false) }

// appendJSONStrings appends a JSON array of strings; a nil list is [].
func appendJSONStrings(dst []byte, list []string) []byte {
	if list == nil {
		return append(dst, '[', ']')
	}
	return jsonobj.AppendStrings(dst, list, false)
}

// appendJSONFloat appends f as encoding/json does; NaN and infinities
// cannot be logged.
func appendJSONFloat(dst []byte, f float64, bits int) ([]byte, error) {
	out, err := jsonobj.AppendFloat(dst, f, bits)
	if err != nil {
		return dst, fmt.Errorf("%w: %w", errUnloggable, err)
	}
	return out, nil
}

// appendJSONNumber appends a json.Number as it is ("" as 0); one that is
// not a JSON number cannot be logged.
func appendJSONNumber(dst []byte, n json.Number) ([]byte, error) {
	out, err := jsonobj.AppendNumber(dst, n)
	if err != nil {
		return dst, fmt.Errorf("%w: %w", errUnloggable, err)
	}
	return out, nil
}

// appendEncoded appends v as encoding/json writes it with HTML escaping
// off: the fallback for values of types the encoder does not know (only
// ever written raw, under log_raw).
func appendEncoded(dst []byte, v any) ([]byte, error) {
	out, err := jsonobj.AppendEncoded(dst, v, false)
	if err != nil {
		return dst, fmt.Errorf("%w: %w", errUnloggable, err)
	}
	return out, nil
}
