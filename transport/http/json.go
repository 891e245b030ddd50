package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Limits bound what one request body may contain.
type Limits struct {
	// MaxBodyBytes caps the request body; zero means 32 MiB.
	MaxBodyBytes int64
	// MaxDepth caps nesting of objects and arrays; zero means 300.
	MaxDepth int
	// MaxStringBytes caps any one string (keys included); zero means 1 MiB.
	MaxStringBytes int
	// MaxEntries caps the members of any one object or array; zero means 10,000.
	MaxEntries int
	// MaxValues caps the values in the whole body, so memory stays
	// proportional to a small multiple of the body; zero means 250,000.
	MaxValues int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 32 << 20
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = 300
	}
	if l.MaxStringBytes == 0 {
		l.MaxStringBytes = 1 << 20
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = 10000
	}
	if l.MaxValues == 0 {
		l.MaxValues = 250000
	}
	return l
}

var (
	errBodyTooLarge = errors.New("http: request body too large")
	errNotObject    = errors.New("http: body must be a JSON object")
)

// decodeBody parses a JSON object from body in one pass, enforcing the
// limits as it goes, with numbers kept as json.Number. An empty body is an
// empty object.
func decodeBody(body []byte, lim Limits) (map[string]any, error) {
	// An empty body and a bare null (what clients send for "no data") are
	// both an empty object.
	if t := bytes.TrimSpace(body); len(t) == 0 || string(t) == "null" {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	p := &boundedParser{d: d, lim: lim}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("http: unexpected data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return obj, nil
}

type boundedParser struct {
	d      *json.Decoder
	lim    Limits
	values int
}

func (p *boundedParser) value(depth int) (any, error) {
	if p.values++; p.values > p.lim.MaxValues {
		return nil, fmt.Errorf("http: JSON body with more than %d values", p.lim.MaxValues)
	}
	tok, err := p.d.Token()
	if err != nil {
		return nil, fmt.Errorf("http: malformed JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > p.lim.MaxDepth {
			return nil, fmt.Errorf("http: JSON nested deeper than %d", p.lim.MaxDepth)
		}
		switch t {
		case '{':
			return p.object(depth + 1)
		case '[':
			return p.array(depth + 1)
		}
		return nil, fmt.Errorf("http: malformed JSON: unexpected %v", t)
	case string:
		if len(t) > p.lim.MaxStringBytes {
			return nil, fmt.Errorf("http: JSON string longer than %d bytes", p.lim.MaxStringBytes)
		}
		return t, nil
	default:
		return t, nil
	}
}

func (p *boundedParser) object(depth int) (map[string]any, error) {
	out := map[string]any{}
	for p.d.More() {
		tok, err := p.d.Token()
		if err != nil {
			return nil, fmt.Errorf("http: malformed JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("http: malformed JSON: object key is not a string")
		}
		if len(key) > p.lim.MaxStringBytes {
			return nil, fmt.Errorf("http: JSON key longer than %d bytes", p.lim.MaxStringBytes)
		}
		if len(out) >= p.lim.MaxEntries {
			return nil, fmt.Errorf("http: JSON object with more than %d entries", p.lim.MaxEntries)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	if _, err := p.d.Token(); err != nil {
		return nil, fmt.Errorf("http: malformed JSON: %w", err)
	}
	return out, nil
}

func (p *boundedParser) array(depth int) ([]any, error) {
	out := []any{}
	for p.d.More() {
		if len(out) >= p.lim.MaxEntries {
			return nil, fmt.Errorf("http: JSON array with more than %d elements", p.lim.MaxEntries)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := p.d.Token(); err != nil {
		return nil, fmt.Errorf("http: malformed JSON: %w", err)
	}
	return out, nil
}
