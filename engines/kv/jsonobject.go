package kv

import (
	"fmt"

	"coffer/engines/jsonobj"
)

// decodeObject decodes a stored JSON object, keeping numbers exact, to
// exactly what a json.Decoder with UseNumber decodes into a
// map[string]any (null is an empty object; anything after the object is
// ignored).
func decodeObject(raw []byte) (map[string]any, error) {
	m, _, err := parseObject(raw)
	return m, err
}

// parseObject decodes the JSON object (or null) at the start of raw, as
// decodeObject does, and reports how many bytes it took.
func parseObject(raw []byte) (map[string]any, int, error) {
	m, n, err := jsonobj.DecodePrefix(raw, jsonobj.Limits{})
	if err != nil {
		return nil, n, fmt.Errorf("%w: %w", errCorruptJSON, err)
	}
	return m, n, nil
}

// onlySpace reports whether b is nothing but JSON white space.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}
