package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"coffer/engines/jsonobj"
)

// redactor writes a value as JSON with every string replaced by its HMAC,
// as Vault's HashStructure does: map keys stay readable, Go numbers,
// booleans and times stay as they are, byte slices are hashed as strings,
// and so are json.Number values (numbers as a client sent them in a JSON
// body: Vault hashes them too, a PIN is a number). It only reads its
// input, and writes in one pass what encoding/json would write for the
// redacted copy (maps in key order, nil slices as []).
type redactor struct {
	hs *hmacSession
	// keepNumbers keeps json.Number values: set for values that went
	// through their JSON form here, whose numbers were Go numbers.
	keepNumbers bool
}

// appendValue appends the redacted JSON of v. Types it does not know are
// turned into their JSON form first and then redacted, so an unexpected
// type errs toward hashing.
func (r redactor) appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return r.hs.appendString(dst, x), nil
	case map[string]any:
		return r.appendMap(dst, x)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = r.appendValue(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case json.Number:
		if r.keepNumbers {
			return appendJSONNumber(dst, x)
		}
		return r.hs.appendString(dst, string(x)), nil
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case time.Duration:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case float32:
		return appendJSONFloat(dst, float64(x), 32)
	case float64:
		return appendJSONFloat(dst, x, 64)
	case []byte:
		return r.hs.appendBytes(dst, x), nil
	case time.Time:
		// RFC 3339 text has nothing JSON escapes.
		dst = append(dst, '"')
		dst = x.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"'), nil
	case []string:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = r.hs.appendString(dst, e)
		}
		return append(dst, ']'), nil
	case map[string]string:
		var buf [8]jsonobj.KeyValue[string]
		dst = append(dst, '{')
		for i, kv := range jsonobj.SortedEntries(buf[:0], x) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, kv.K)
			dst = append(dst, ':')
			dst = r.hs.appendString(dst, kv.V)
		}
		return append(dst, '}'), nil
	case []map[string]any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = r.appendMap(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case json.RawMessage:
		return r.appendViaJSON(dst, x, false)
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			return dst, fmt.Errorf("redact a %T value: %w", x, errUnloggable)
		}
		return r.appendViaJSON(dst, raw, true)
	}
}

// appendMap appends the redacted JSON of m, keys in order (null for a nil
// map).
func (r redactor) appendMap(dst []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	var buf [8]jsonobj.KeyValue[any]
	dst = append(dst, '{')
	for i, kv := range jsonobj.SortedEntries(buf[:0], m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, kv.K)
		dst = append(dst, ':')
		var err error
		if dst, err = r.appendValue(dst, kv.V); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendViaJSON decodes raw JSON and appends it redacted; keepNumbers
// says whether its numbers were Go numbers (a value marshaled here) or
// client text.
func (r redactor) appendViaJSON(dst, raw []byte, keepNumbers bool) ([]byte, error) {
	r.keepNumbers = keepNumbers
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return dst, fmt.Errorf("redact: %w", errUnloggable)
	}
	return r.appendValue(dst, v)
}

// minScrubLen is the shortest value scrub replaces: shorter values would
// turn ordinary words of a message into hashes and hide nothing of worth.
const minScrubLen = 4

// scrubber replaces, inside free text (error messages, warnings), every
// occurrence of a string the request or response carried, with its HMAC.
// Vault logs errors verbatim, but an error such as `error converting input
// for field "ttl": parsing "<value>"` echoes what the client sent.
type scrubber struct {
	hash   func(string) string
	values []string // longest first: the longest match wins
}

// collectStrings appends every string (and []byte) value found in v.
func collectStrings(dst []string, v any) []string {
	switch x := v.(type) {
	case string:
		if len(x) >= minScrubLen {
			dst = append(dst, x)
		}
	case []byte:
		if len(x) >= minScrubLen {
			dst = append(dst, string(x))
		}
	case json.Number:
		if len(x) >= minScrubLen {
			dst = append(dst, string(x))
		}
	case map[string]any:
		for _, e := range x {
			dst = collectStrings(dst, e)
		}
	case []any:
		for _, e := range x {
			dst = collectStrings(dst, e)
		}
	case []string:
		for _, e := range x {
			dst = collectStrings(dst, e)
		}
	case map[string]string:
		for _, e := range x {
			dst = collectStrings(dst, e)
		}
	case []map[string]any:
		for _, e := range x {
			dst = collectStrings(dst, e)
		}
	}
	return dst
}

func newScrubber(hash func(string) string, values []string) *scrubber {
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	return &scrubber{hash: hash, values: values}
}

// text returns t with every known value, and its Go-quoted form (errors
// often print values with %q), replaced by the value's HMAC, in one pass
// over the original text so a replacement is never rescanned.
func (s *scrubber) text(t string) string {
	var pairs []string
	for _, v := range s.values {
		h := ""
		if strings.Contains(t, v) {
			h = s.hash(v)
			pairs = append(pairs, v, h)
		}
		q := strconv.Quote(v)
		if q = q[1 : len(q)-1]; q != v && strings.Contains(t, q) {
			if h == "" {
				h = s.hash(v)
			}
			pairs = append(pairs, q, h)
		}
	}
	if pairs == nil {
		return t
	}
	return strings.NewReplacer(pairs...).Replace(t)
}
