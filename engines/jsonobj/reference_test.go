package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The references the tests and benchmarks compare with: encoding/json
// itself, and the json.Decoder Token loop transport/http used before this
// package (its errors without the "http: " prefix).

// refDecode is Decode's meaning in encoding/json's terms.
func refDecode(raw []byte) (map[string]any, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(raw[d.InputOffset():], " \t\r\n")) != 0 {
		return nil, errors.New("trailing data")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// refDecodePrefix is DecodePrefix's meaning in encoding/json's terms: a
// json.Decoder with UseNumber decoding into a map.
func refDecodePrefix(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// tokenDecode is transport/http's decodeBody before this package: a
// json.Decoder Token loop. A zero limit is none (depth: 10,000).
func tokenDecode(body []byte, lim Limits) (map[string]any, error) {
	if t := bytes.TrimSpace(body); len(t) == 0 || string(t) == "null" {
		return map[string]any{}, nil
	}
	if lim.MaxDepth == 0 {
		lim.MaxDepth = maxJSONDepth
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	p := &tokenParser{d: d, lim: lim}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("body must be a JSON object")
	}
	return obj, nil
}

type tokenParser struct {
	d      *json.Decoder
	lim    Limits
	values int
}

func over(n, limit int) bool { return limit > 0 && n > limit }

func (p *tokenParser) value(depth int) (any, error) {
	if p.values++; over(p.values, p.lim.MaxValues) {
		return nil, fmt.Errorf("JSON body with more than %d values", p.lim.MaxValues)
	}
	tok, err := p.d.Token()
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > p.lim.MaxDepth {
			return nil, fmt.Errorf("JSON nested deeper than %d", p.lim.MaxDepth)
		}
		switch t {
		case '{':
			return p.object(depth + 1)
		case '[':
			return p.array(depth + 1)
		}
		return nil, fmt.Errorf("malformed JSON: unexpected %v", t)
	case string:
		if over(len(t), p.lim.MaxStringBytes) {
			return nil, fmt.Errorf("JSON string longer than %d bytes", p.lim.MaxStringBytes)
		}
		return t, nil
	default:
		return t, nil
	}
}

func (p *tokenParser) object(depth int) (map[string]any, error) {
	out := map[string]any{}
	for p.d.More() {
		tok, err := p.d.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("malformed JSON: object key is not a string")
		}
		if over(len(key), p.lim.MaxStringBytes) {
			return nil, fmt.Errorf("JSON key longer than %d bytes", p.lim.MaxStringBytes)
		}
		if over(len(out)+1, p.lim.MaxEntries) {
			return nil, fmt.Errorf("JSON object with more than %d entries", p.lim.MaxEntries)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	if _, err := p.d.Token(); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	return out, nil
}

func (p *tokenParser) array(depth int) ([]any, error) {
	out := []any{}
	for p.d.More() {
		if over(len(out)+1, p.lim.MaxEntries) {
			return nil, fmt.Errorf("JSON array with more than %d elements", p.lim.MaxEntries)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := p.d.Token(); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	return out, nil
}
