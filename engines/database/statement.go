package database

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Statement templates are SQL with {{name}}, {{username}}, {{password}}
// and {{expiration}} placeholders. render substitutes values according to
// where the placeholder sits, found by a lexer that follows PostgreSQL's
// own at the top level:
//
//   - inside "..." (a quoted identifier): quotes doubled, as
//     pgx.Identifier.Sanitize does;
//   - inside '...' (a string literal, also B'', X'', N'', U&''): single
//     quotes doubled; inside E'...' backslashes doubled as well (every
//     connection forces standard_conforming_strings on);
//   - bare: name and username become a quoted identifier, other values a
//     quoted literal;
//   - inside a dollar-quoted body ($$...$$, often a DO block, lexed as
//     opaque as PostgreSQL does): only values from a small safe alphabet
//     are accepted, otherwise render fails;
//   - inside a comment: left unsubstituted.
//
// A value containing NUL is refused everywhere. Unknown placeholders are
// left as written, as Vault does.

var (
	errNULValue    = errors.New("database: a templated value contains a NUL byte")
	errDollarValue = errors.New("database: a templated value cannot be placed safely in a dollar-quoted body")
)

// identKeys are the placeholders that name a role; bare, they are quoted
// as identifiers.
var identKeys = map[string]bool{"name": true, "username": true}

// lexState is where the lexer is in a statement.
type lexState int

const (
	lexPlain lexState = iota
	lexSingle
	lexEscape // E'...'
	lexDouble
	lexLineComment
	lexBlockComment
	lexDollar
)

// lexer walks a statement byte by byte, tracking the context.
type lexer struct {
	s     string
	i     int
	state lexState
	depth int    // block comment nesting
	tag   string // the open dollar quote, "$tag$"
}

// step consumes the token at l.i (one byte, or a whole delimiter) and
// returns it, updating the state. Content bytes come back one at a time.
func (l *lexer) step() string {
	s, i := l.s, l.i
	rest := s[i:]
	advance := func(n int) string { l.i += n; return s[i : i+n] }
	switch l.state {
	case lexPlain:
		switch {
		case strings.HasPrefix(rest, "--"):
			l.state = lexLineComment
			return advance(2)
		case strings.HasPrefix(rest, "/*"):
			l.state, l.depth = lexBlockComment, 1
			return advance(2)
		case rest[0] == '\'':
			l.state = lexSingle
			if i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !identByte(s[i-2])) {
				l.state = lexEscape
			}
			return advance(1)
		case rest[0] == '"':
			l.state = lexDouble
			return advance(1)
		case rest[0] == '$' && (i == 0 || !identByte(s[i-1])):
			if tag, ok := dollarTag(rest); ok {
				l.state, l.tag = lexDollar, tag
				return advance(len(tag))
			}
		}
	case lexSingle:
		if strings.HasPrefix(rest, "''") {
			return advance(2)
		}
		if rest[0] == '\'' {
			l.state = lexPlain
		}
	case lexEscape:
		if strings.HasPrefix(rest, "''") || (rest[0] == '\\' && len(rest) > 1) {
			return advance(2)
		}
		if rest[0] == '\'' {
			l.state = lexPlain
		}
	case lexDouble:
		if strings.HasPrefix(rest, `""`) {
			return advance(2)
		}
		if rest[0] == '"' {
			l.state = lexPlain
		}
	case lexLineComment:
		if rest[0] == '\n' || rest[0] == '\r' {
			l.state = lexPlain
		}
	case lexBlockComment:
		switch {
		case strings.HasPrefix(rest, "/*"):
			l.depth++
			return advance(2)
		case strings.HasPrefix(rest, "*/"):
			l.depth--
			if l.depth == 0 {
				l.state = lexPlain
			}
			return advance(2)
		}
	case lexDollar:
		if strings.HasPrefix(rest, l.tag) {
			l.state = lexPlain
			return advance(len(l.tag))
		}
	}
	return advance(1)
}

// identByte reports whether b can continue an identifier (PostgreSQL
// allows $ and any non-ASCII byte).
func identByte(b byte) bool {
	return b == '_' || b == '$' || b >= 0x80 || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9')
}

// dollarTag returns the "$tag$" opening s, if any.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		b := s[j]
		if b == '$' {
			return s[:j+1], true
		}
		if !(b == '_' || b >= 0x80 || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || (j > 1 && '0' <= b && b <= '9')) {
			return "", false
		}
	}
	return "", false
}

// placeholder returns the key and length of a {{key}} at the start of s.
func placeholder(s string) (key string, n int, ok bool) {
	if !strings.HasPrefix(s, "{{") {
		return "", 0, false
	}
	end := strings.Index(s, "}}")
	if end < 0 {
		return "", 0, false
	}
	key = strings.TrimSpace(s[2:end])
	if key == "" || strings.ContainsAny(key, "{} \t\n") {
		return "", 0, false
	}
	return key, end + 2, true
}

// render substitutes vals into tmpl; see the comment at the top of the
// file for the quoting rules.
func render(tmpl string, vals map[string]string) (string, error) {
	var b strings.Builder
	l := &lexer{s: tmpl}
	for l.i < len(tmpl) {
		if key, n, ok := placeholder(tmpl[l.i:]); ok {
			if v, known := vals[key]; known && l.state != lexLineComment && l.state != lexBlockComment {
				q, err := quoteFor(l.state, key, v)
				if err != nil {
					return "", err
				}
				b.WriteString(q)
				l.i += n
				continue
			}
		}
		b.WriteString(l.step())
	}
	return b.String(), nil
}

// quoteFor escapes v for the lexer state it is substituted in.
func quoteFor(state lexState, key, v string) (string, error) {
	if strings.IndexByte(v, 0) >= 0 {
		return "", errNULValue
	}
	switch state {
	case lexSingle:
		return strings.ReplaceAll(v, "'", "''"), nil
	case lexEscape:
		return strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", "''"), nil
	case lexDouble:
		q := quoteIdent(v)
		return q[1 : len(q)-1], nil
	case lexDollar:
		if !dollarSafe(key, v) {
			return "", errDollarValue
		}
		return v, nil
	}
	// Spaces keep the quote from joining what surrounds it: E'..' would
	// turn on backslash escapes, '..''..' would merge two literals.
	if identKeys[key] {
		return " " + quoteIdent(v) + " ", nil
	}
	return " " + quoteLiteral(v) + " ", nil
}

// dollarSafe accepts the values that cannot change the meaning of a
// dollar-quoted body wherever they stand in it: letters, digits and
// "_.-:+", plus spaces for values that do not name a role; never "--".
func dollarSafe(key, v string) bool {
	if strings.Contains(v, "--") {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '.' || c == '-' || c == ':' || c == '+':
		case c == ' ' && !identKeys[key]:
		default:
			return false
		}
	}
	return true
}

// quoteIdent quotes an identifier (pgx.Identifier.Sanitize: quotes
// doubled, NUL dropped; callers refuse NUL first).
func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// quoteLiteral quotes a string literal for standard_conforming_strings.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// renderAll renders each statement template.
func renderAll(tmpls []string, vals map[string]string) ([]string, error) {
	out := make([]string, 0, len(tmpls))
	for _, t := range tmpls {
		if strings.TrimSpace(t) == "" {
			continue
		}
		s, err := render(t, vals)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
