package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// redactor replaces every string value in a structure with its HMAC, as
// Vault's HashStructure does: map keys stay readable, Go numbers, booleans
// and times stay as they are, byte slices are hashed as strings, and so
// are json.Number values (numbers as a client sent them in a JSON body:
// Vault hashes them too, a PIN is a number). It never mutates its input:
// it returns new maps and slices.
type redactor struct {
	hash func(string) string
	// keepNumbers keeps json.Number values: set for values that went
	// through their JSON form here, whose numbers were Go numbers.
	keepNumbers bool
}

// value returns a redacted copy of v. Types it does not know are turned
// into their JSON form first and then redacted, so an unexpected type
// errs toward hashing.
func (r redactor) value(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if r.keepNumbers {
			return x, nil
		}
		return r.hash(string(x)), nil
	case nil, bool,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Duration:
		return x, nil
	case string:
		return r.hash(x), nil
	case []byte:
		return r.hash(string(x)), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case map[string]any:
		return r.mapAny(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			rv, err := r.value(e)
			if err != nil {
				return nil, err
			}
			out[i] = rv
		}
		return out, nil
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = r.hash(e)
		}
		return out, nil
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[k] = r.hash(e)
		}
		return out, nil
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			rv, err := r.mapAny(e)
			if err != nil {
				return nil, err
			}
			out[i] = rv
		}
		return out, nil
	case json.RawMessage:
		return r.viaJSON(x, false)
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("redact a %T value: %w", x, errUnloggable)
		}
		return r.viaJSON(raw, true)
	}
}

func (r redactor) mapAny(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		rv, err := r.value(e)
		if err != nil {
			return nil, err
		}
		out[k] = rv
	}
	return out, nil
}

// viaJSON decodes raw JSON and redacts it; keepNumbers says whether its
// numbers were Go numbers (a value marshaled here) or client text.
func (r redactor) viaJSON(raw []byte, keepNumbers bool) (any, error) {
	r.keepNumbers = keepNumbers
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("redact: %w", errUnloggable)
	}
	return r.value(v)
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
