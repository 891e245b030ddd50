// Package jsonobj decodes JSON objects into map[string]any and appends
// plain values as JSON, byte for byte as encoding/json would, in one pass
// and without reflection.
package jsonobj

import "bytes"

// maxJSONDepth is encoding/json's limit on nested objects and arrays.
const maxJSONDepth = 10000

// Limits bound what one input may hold. A zero field means no limit,
// except MaxDepth, whose zero means encoding/json's own 10,000.
type Limits struct {
	// MaxDepth caps the nesting of objects and arrays; the top object is
	// at depth 1.
	MaxDepth int
	// MaxStringBytes caps any one string, keys included, as decoded.
	MaxStringBytes int
	// MaxEntries caps the members of any one object or array.
	MaxEntries int
	// MaxValues caps the values in the whole input, the top one included
	// (object keys are not values).
	MaxValues int
}

// Decode decodes raw, which must hold one JSON object and nothing else
// but white space. Raw that is empty or "null" once bytes.TrimSpace has
// trimmed it is an empty object.
//
// Objects become map[string]any (a repeated key: the last wins), arrays
// []any (never nil), numbers json.Number with the literal's text, strings
// are unquoted as encoding/json does (invalid UTF-8 becomes U+FFFD). What
// it accepts and rejects is what encoding/json does, within the limits.
//
// Errors are *Error, checked in input order: a limit violation (ErrTooDeep,
// ErrStringTooLong, ErrTooManyEntries, ErrTooManyValues) or ErrSyntax where
// it occurs, then ErrTrailingData for anything after the value, then
// ErrNotObject for a value that is not an object.
func Decode(raw []byte, lim Limits) (map[string]any, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return map[string]any{}, nil
	}
	d := newDecoder(raw, lim, false)
	if err := d.count(); err != nil {
		return nil, err
	}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.off < len(raw) {
		return nil, &Error{Err: ErrTrailingData, Offset: d.off, Reason: "unexpected data after the JSON value"}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{Err: ErrNotObject, Reason: "not a JSON object"}
	}
	return m, nil
}

// DecodePrefix decodes the JSON object at the start of raw (after any
// white space) as Decode does, and returns how many bytes it took; what
// follows is not looked at. A null there is an empty object; empty raw
// is ErrSyntax, any other value ErrNotObject.
//
// It is meant for stored objects, read back whole: when raw is small
// (4 KiB) the strings it returns share one copy of raw, which saves an
// allocation per string but keeps all of raw alive while any is.
func DecodePrefix(raw []byte, lim Limits) (map[string]any, int, error) {
	d := newDecoder(raw, lim, true)
	d.skipSpace()
	if d.off >= len(raw) {
		return nil, d.off, d.syntax("unexpected end of input")
	}
	switch raw[d.off] {
	case '{':
		if err := d.count(); err != nil {
			return nil, d.off, err
		}
		m, err := d.object()
		if err != nil {
			return nil, d.off, err
		}
		return m, d.off, nil
	case 'n':
		if err := d.literal("null"); err != nil {
			return nil, d.off, err
		}
		return map[string]any{}, d.off, nil
	}
	return nil, d.off, &Error{Err: ErrNotObject, Offset: d.off, Reason: "not a JSON object"}
}
