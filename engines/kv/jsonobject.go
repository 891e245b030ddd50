package kv

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxJSONDepth is encoding/json's limit on nested objects and arrays.
const maxJSONDepth = 10000

// decodeObject decodes a stored JSON object, keeping numbers exact, to
// exactly what a json.Decoder with UseNumber decodes into a
// map[string]any (null is an empty object; anything after the object is
// ignored), without the Decoder's buffer copy and second scan.
func decodeObject(raw []byte) (map[string]any, error) {
	m, _, err := parseObject(raw)
	return m, err
}

// parseObject decodes the JSON object (or null) at the start of raw and
// reports how many bytes it took. Objects become map[string]any, arrays
// []any, numbers json.Number with the literal's text, and strings are
// unquoted as encoding/json does (it still unquotes the rare string that
// has escapes or invalid UTF-8).
func parseObject(raw []byte) (map[string]any, int, error) {
	p := objectParser{buf: raw}
	p.skipSpace()
	if p.off >= len(raw) {
		return nil, p.off, p.fail("unexpected end of input")
	}
	switch raw[p.off] {
	case '{':
		m, err := p.object()
		return m, p.off, err
	case 'n':
		if err := p.literal("null"); err != nil {
			return nil, p.off, err
		}
		return map[string]any{}, p.off, nil
	}
	return nil, p.off, p.fail("not an object")
}

// objectParser is a recursive descent JSON parser over buf.
type objectParser struct {
	buf   []byte
	off   int
	depth int
}

func (p *objectParser) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errCorruptJSON, what, p.off)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// onlySpace reports whether b is nothing but JSON whitespace.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if !isJSONSpace(c) {
			return false
		}
	}
	return true
}

func (p *objectParser) skipSpace() {
	for p.off < len(p.buf) && isJSONSpace(p.buf[p.off]) {
		p.off++
	}
}

// next skips space and returns the next byte, or 0 at the end.
func (p *objectParser) next() byte {
	p.skipSpace()
	if p.off >= len(p.buf) {
		return 0
	}
	return p.buf[p.off]
}

func (p *objectParser) value() (any, error) {
	switch c := p.next(); {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.string()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	}
	return nil, p.fail("invalid character looking for a value")
}

func (p *objectParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.fail("exceeded max depth")
	}
	p.off++ // the '{' or '['
	return nil
}

// object parses an object; p.buf[p.off] is '{'.
func (p *objectParser) object() (map[string]any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	m := make(map[string]any)
	if p.next() == '}' {
		p.off++
		p.depth--
		return m, nil
	}
	for {
		if p.next() != '"' {
			return nil, p.fail("object key is not a string")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		if p.next() != ':' {
			return nil, p.fail("missing colon after object key")
		}
		p.off++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[k] = v // a repeated key: the last wins, as in encoding/json
		switch p.next() {
		case ',':
			p.off++
		case '}':
			p.off++
			p.depth--
			return m, nil
		default:
			return nil, p.fail("invalid character after object value")
		}
	}
}

// array parses an array; p.buf[p.off] is '['.
func (p *objectParser) array() ([]any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	a := make([]any, 0)
	if p.next() == ']' {
		p.off++
		p.depth--
		return a, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		switch p.next() {
		case ',':
			p.off++
		case ']':
			p.off++
			p.depth--
			return a, nil
		default:
			return nil, p.fail("invalid character after array element")
		}
	}
}

// string parses a string; p.buf[p.off] is '"'.
func (p *objectParser) string() (string, error) {
	start := p.off
	i := start + 1
	plain := true // no escapes and valid UTF-8, so the bytes are the value
	ascii := true
	for ; i < len(p.buf); i++ {
		c := p.buf[i]
		switch {
		case c == '"':
			body := p.buf[start+1 : i]
			p.off = i + 1
			if plain && (ascii || utf8.Valid(body)) {
				return string(body), nil
			}
			var s string
			if err := json.Unmarshal(p.buf[start:i+1], &s); err != nil {
				return "", fmt.Errorf("%w: bad string at byte %d: %w", errCorruptJSON, start, err)
			}
			return s, nil
		case c == '\\':
			plain = false
			i++ // the escaped byte cannot end the string
		case c < 0x20:
			p.off = i
			return "", p.fail("control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	p.off = i
	return "", p.fail("unterminated string")
}

func (p *objectParser) literal(word string) error {
	if len(p.buf)-p.off < len(word) || string(p.buf[p.off:p.off+len(word)]) != word {
		return p.fail("invalid literal")
	}
	p.off += len(word)
	return nil
}

// number parses a number as JSON's grammar has it and keeps its text.
func (p *objectParser) number() (json.Number, error) {
	start := p.off
	if p.peek() == '-' {
		p.off++
	}
	switch c := p.peek(); {
	case c == '0':
		p.off++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return "", p.fail("invalid number")
	}
	if p.peek() == '.' {
		p.off++
		if p.digits() == 0 {
			return "", p.fail("invalid number")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.off++
		if c := p.peek(); c == '+' || c == '-' {
			p.off++
		}
		if p.digits() == 0 {
			return "", p.fail("invalid number")
		}
	}
	return json.Number(p.buf[start:p.off]), nil
}

func (p *objectParser) peek() byte {
	if p.off >= len(p.buf) {
		return 0
	}
	return p.buf[p.off]
}

// digits consumes a run of decimal digits and returns its length.
func (p *objectParser) digits() int {
	start := p.off
	for p.off < len(p.buf) && '0' <= p.buf[p.off] && p.buf[p.off] <= '9' {
		p.off++
	}
	return p.off - start
}
