package jsonobj

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// plain marks the bytes a string's text may hold as they are: printable
// ASCII other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str parses the string at d.off (a '"') and returns its value, held to
// MaxStringBytes; key says which it is, for the error.
func (d *decoder) str(key bool) (string, error) {
	start := d.off + 1
	i := start
	for i < len(d.buf) && plain[d.buf[i]] {
		i++
	}
	if i < len(d.buf) && d.buf[i] == '"' {
		d.off = i + 1
		if err := d.checkLen(i-start, key); err != nil { // before the copy
			return "", err
		}
		return d.slice(start, i), nil
	}
	s, err := d.strSlow(start, i)
	if err != nil {
		return "", err
	}
	if err := d.checkLen(len(s), key); err != nil {
		return "", err
	}
	return s, nil
}

// checkLen holds a string of n bytes to MaxStringBytes.
func (d *decoder) checkLen(n int, key bool) error {
	limit := d.lim.MaxStringBytes
	switch {
	case limit <= 0 || n <= limit:
		return nil
	case key:
		return limitError(ErrStringTooLong, "JSON key longer than ", limit, " bytes", d.off)
	}
	return limitError(ErrStringTooLong, "JSON string longer than ", limit, " bytes", d.off)
}

// strSlow finishes a string that has escapes, non-ASCII bytes or an
// error, from byte i on; its text starts at start.
func (d *decoder) strSlow(start, i int) (string, error) {
	escaped := false
	for i < len(d.buf) {
		c := d.buf[i]
		switch {
		case c == '"':
			body := d.buf[start:i]
			d.off = i + 1
			if !escaped && utf8.Valid(body) {
				return d.slice(start, i), nil
			}
			return unquote(body), nil
		case c == '\\':
			escaped = true
			n, err := d.escape(i)
			if err != nil {
				return "", err
			}
			i += n
		case c < 0x20:
			d.off = i
			return "", d.syntax("invalid character in string literal")
		default:
			i++
		}
	}
	d.off = i
	return "", d.syntax("unexpected end of input")
}

// escape checks the escape sequence at buf[i] (a backslash) and returns
// its length.
func (d *decoder) escape(i int) (int, error) {
	if i+1 >= len(d.buf) {
		d.off = len(d.buf)
		return 0, d.syntax("unexpected end of input")
	}
	switch d.buf[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		for j := i + 2; j < i+6; j++ {
			if j >= len(d.buf) {
				d.off = j
				return 0, d.syntax("unexpected end of input")
			}
			if hexVal(d.buf[j]) < 0 {
				d.off = j
				return 0, d.syntax("invalid character in \\u hexadecimal character escape")
			}
		}
		return 6, nil
	}
	d.off = i + 1
	return 0, d.syntax("invalid character in string escape code")
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// u4 decodes the \uXXXX at the start of s, or returns -1.
func u4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

// unquote decodes a string's text, already checked, as encoding/json
// does: escapes resolved, a surrogate pair joined, a lone surrogate or an
// invalid UTF-8 byte replaced by U+FFFD.
func unquote(s []byte) string {
	var b strings.Builder
	b.Grow(len(s))
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				rr := u4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, u4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b.WriteRune(dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b.WriteRune(rr)
				continue
			default: // '"', '\\', '/'
				b.WriteByte(s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			b.WriteRune(rr)
			r += size
		}
	}
	return b.String()
}
