package jsonobj

import "encoding/json"

// decoder is a recursive descent JSON parser over buf. Its limit checks
// run at the points a json.Decoder Token loop would make them, so a body
// that is both malformed and over a limit gets the same refusal as
// before: members are counted before their separator is checked.
type decoder struct {
	buf []byte
	// text, when set, is buf as one string: strings and numbers are then
	// slices of it, one allocation for all of them.
	text     string
	off      int
	depth    int
	maxDepth int
	values   int
	lim      Limits
}

// shareMax is the largest input whose strings may share one allocation.
// It bounds what one kept string can pin in memory.
const shareMax = 4 << 10

// newDecoder starts a decoder over raw. With share (and raw small) the
// strings it returns share one copy of raw, so any one of them kept
// alive keeps all of raw alive: right for stored objects, read back
// whole for one caller; wrong for request bodies, where a string kept
// in memory (a policy name) would pin a secret sent beside it.
func newDecoder(raw []byte, lim Limits, share bool) decoder {
	d := decoder{buf: raw, lim: lim, maxDepth: lim.MaxDepth}
	if share && len(raw) <= shareMax {
		d.text = string(raw)
	}
	if d.maxDepth <= 0 {
		d.maxDepth = maxJSONDepth
	}
	return d
}

func (d *decoder) syntax(what string) error { return syntaxError(what, d.off) }

// isSpace is JSON's white space.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (d *decoder) skipSpace() {
	for d.off < len(d.buf) && isSpace[d.buf[d.off]] {
		d.off++
	}
}

// count counts one more value against MaxValues.
func (d *decoder) count() error {
	if d.lim.MaxValues <= 0 {
		return nil
	}
	if d.values++; d.values > d.lim.MaxValues {
		return limitError(ErrTooManyValues, "JSON body with more than ", d.lim.MaxValues, " values", d.off)
	}
	return nil
}

// value parses the value after any white space at d.off; the caller has
// counted it.
func (d *decoder) value() (any, error) {
	d.skipSpace()
	if d.off >= len(d.buf) {
		return nil, d.syntax("unexpected end of input")
	}
	switch c := d.buf[d.off]; c {
	case '{':
		return d.object()
	case '[':
		return d.array()
	case '"':
		s, err := d.str(false)
		if err != nil {
			return nil, err
		}
		return s, nil
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return d.number()
	}
	return nil, d.syntax("invalid character looking for beginning of value")
}

// enter steps into the object or array at d.off.
func (d *decoder) enter() error {
	if d.depth++; d.depth > d.maxDepth {
		return limitError(ErrTooDeep, "JSON nested deeper than ", d.maxDepth, "", d.off)
	}
	d.off++
	return nil
}

// object parses an object; d.buf[d.off] is '{'.
func (d *decoder) object() (map[string]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	m := make(map[string]any)
	d.skipSpace()
	if d.off < len(d.buf) && d.buf[d.off] == '}' {
		d.off++
		d.depth--
		return m, nil
	}
	for {
		if d.off >= len(d.buf) {
			return nil, d.syntax("unexpected end of input")
		}
		if d.buf[d.off] != '"' {
			return nil, d.syntax("invalid character looking for beginning of object key string")
		}
		k, err := d.str(true)
		if err != nil {
			return nil, err
		}
		if n := d.lim.MaxEntries; n > 0 && len(m) >= n {
			return nil, limitError(ErrTooManyEntries, "JSON object with more than ", n, " entries", d.off)
		}
		if err := d.count(); err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.off >= len(d.buf) {
			return nil, d.syntax("unexpected end of input")
		}
		if d.buf[d.off] != ':' {
			return nil, d.syntax("invalid character after object key")
		}
		d.off++
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v // a repeated key: the last wins, as in encoding/json
		d.skipSpace()
		if d.off >= len(d.buf) {
			return nil, d.syntax("unexpected end of input")
		}
		switch d.buf[d.off] {
		case ',':
			d.off++
			d.skipSpace()
		case '}':
			d.off++
			d.depth--
			return m, nil
		default:
			return nil, d.syntax("invalid character after object key:value pair")
		}
	}
}

// array parses an array; d.buf[d.off] is '['.
func (d *decoder) array() ([]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	a := make([]any, 0)
	d.skipSpace()
	for {
		// d.off is at the first element or at what follows the last one.
		if d.off >= len(d.buf) {
			return nil, d.syntax("unexpected end of input")
		}
		switch d.buf[d.off] {
		case ']':
			d.off++
			d.depth--
			return a, nil
		case '}':
			return nil, d.syntax("invalid character after array element")
		}
		if n := d.lim.MaxEntries; n > 0 && len(a) >= n {
			return nil, limitError(ErrTooManyEntries, "JSON array with more than ", n, " elements", d.off)
		}
		if err := d.count(); err != nil {
			return nil, err
		}
		if len(a) > 0 {
			if d.buf[d.off] != ',' {
				return nil, d.syntax("invalid character after array element")
			}
			d.off++
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
	}
}

// literal consumes word (true, false or null) at d.off.
func (d *decoder) literal(word string) error {
	if len(d.buf)-d.off < len(word) {
		if string(d.buf[d.off:]) == word[:len(d.buf)-d.off] {
			d.off = len(d.buf)
			return d.syntax("unexpected end of input")
		}
		return d.syntax("invalid literal")
	}
	if string(d.buf[d.off:d.off+len(word)]) != word {
		return d.syntax("invalid literal")
	}
	d.off += len(word)
	return nil
}

// number parses a number as JSON's grammar has it and keeps its text.
func (d *decoder) number() (json.Number, error) {
	start := d.off
	if d.buf[d.off] == '-' {
		d.off++
	}
	switch c := d.peek(); {
	case c == '0':
		d.off++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		return "", d.badNumber()
	}
	if d.peek() == '.' {
		d.off++
		if d.digits() == 0 {
			return "", d.badNumber()
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.off++
		if c := d.peek(); c == '+' || c == '-' {
			d.off++
		}
		if d.digits() == 0 {
			return "", d.badNumber()
		}
	}
	return json.Number(d.slice(start, d.off)), nil
}

// slice returns buf[i:j] as a string, shared with text when there is one.
func (d *decoder) slice(i, j int) string {
	if d.text != "" {
		return d.text[i:j]
	}
	return string(d.buf[i:j])
}

func (d *decoder) badNumber() error {
	if d.off >= len(d.buf) {
		return d.syntax("unexpected end of input")
	}
	return d.syntax("invalid character in numeric literal")
}

// peek returns the byte at d.off, or 0 at the end.
func (d *decoder) peek() byte {
	if d.off >= len(d.buf) {
		return 0
	}
	return d.buf[d.off]
}

// digits consumes a run of decimal digits and returns its length.
func (d *decoder) digits() int {
	start := d.off
	for d.off < len(d.buf) && '0' <= d.buf[d.off] && d.buf[d.off] <= '9' {
		d.off++
	}
	return d.off - start
}
