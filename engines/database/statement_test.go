package database

import (
	"errors"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	vals := map[string]string{
		"name":       `v-a"b'c`,
		"username":   `v-a"b'c`,
		"password":   `p'w"\x`,
		"expiration": "2024-05-06 07:08:09+0000",
	}
	cases := []struct {
		name, tmpl, want string
		err              error
	}{
		{"usual", `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
			`CREATE ROLE "v-a""b'c" WITH LOGIN PASSWORD 'p''w"\x' VALID UNTIL '2024-05-06 07:08:09+0000';`, nil},
		{"spaces in placeholder", `GRANT x TO "{{ username }}"`, `GRANT x TO "v-a""b'c"`, nil},
		{"bare identifier and literal", `ALTER ROLE {{name}} PASSWORD {{password}}`,
			`ALTER ROLE  "v-a""b'c"  PASSWORD  'p''w"\x' `, nil},
		{"bare after E stays standard", `SELECT E{{password}}`, `SELECT E 'p''w"\x' `, nil},
		{"escape string", `SELECT E'{{password}}'`, `SELECT E'p''w"\\x'`, nil},
		{"E inside identifier is not an escape string", `SELECT fooE'{{password}}'`, `SELECT fooE'p''w"\x'`, nil},
		{"doubled quotes stay inside", `SELECT 'it''s {{password}}'`, `SELECT 'it''s p''w"\x'`, nil},
		{"line comment untouched", "-- {{password}}\nSELECT 1", "-- {{password}}\nSELECT 1", nil},
		{"nested block comment untouched", "/* a /* {{name}} */ {{name}} */ SELECT", "/* a /* {{name}} */ {{name}} */ SELECT", nil},
		{"unknown placeholder kept", `SELECT '{{other}}'`, `SELECT '{{other}}'`, nil},
		{"dollar body refuses quotes", `DO $$ BEGIN EXECUTE 'x {{name}}'; END $$`, "", errDollarValue},
		{"tagged dollar body refuses quotes", `DO $fn$ {{password}} $fn$`, "", errDollarValue},
		{"parameter is not a dollar quote", `SELECT $1, '{{password}}'`, `SELECT $1, 'p''w"\x'`, nil},
		{"identifier dollar is not a dollar quote", `SELECT a$b$, '{{password}}'`, `SELECT a$b$, 'p''w"\x'`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render(tc.tmpl, vals)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("render(%q) = %q, %v; want %q, %v", tc.tmpl, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestRenderDollarSafe(t *testing.T) {
	vals := map[string]string{"name": "v-tok-ro-AbC123-1700000000", "expiration": "2024-05-06 07:08:09+0000"}
	got, err := render(`DO $$ BEGIN EXECUTE format('ALTER ROLE %I VALID UNTIL %L', '{{name}}', '{{expiration}}'); END $$`, vals)
	if err != nil || !strings.Contains(got, "'v-tok-ro-AbC123-1700000000'") || !strings.Contains(got, "'2024-05-06 07:08:09+0000'") {
		t.Fatalf("render = %q, %v", got, err)
	}
	for _, bad := range []map[string]string{{"name": "a b"}, {"name": "a--b"}, {"name": "a$b"}, {"name": "a;b"}} {
		if _, err := render(`DO $$ {{name}} $$`, bad); !errors.Is(err, errDollarValue) {
			t.Errorf("value %q in a dollar body: err %v, want %v", bad["name"], err, errDollarValue)
		}
	}
}

func TestRenderRefusesNUL(t *testing.T) {
	for _, tmpl := range []string{`"{{name}}"`, `'{{name}}'`, `{{name}}`, `E'{{name}}'`} {
		if _, err := render(tmpl, map[string]string{"name": "a\x00b"}); !errors.Is(err, errNULValue) {
			t.Errorf("render(%q) with NUL: %v, want %v", tmpl, err, errNULValue)
		}
	}
}

// skeleton is a statement with every literal's and comment's content
// removed: what PostgreSQL would parse as structure.
func skeleton(s string) string {
	var b strings.Builder
	l := &lexer{s: s}
	for l.i < len(s) {
		before := l.state
		tok := l.step()
		// Plain text and delimiters stay; what is inside goes.
		if before == lexPlain || l.state == lexPlain {
			b.WriteString(tok)
		}
	}
	if l.state != lexPlain {
		b.WriteString("<unterminated>")
	}
	return b.String()
}

// FuzzRender checks that no value escapes its literal: the rendered
// statement has the template's structure, with each bare placeholder
// turned into one quoted token.
func FuzzRender(f *testing.F) {
	f.Add(`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`, `a"b`, `p'w`)
	f.Add(`SELECT E'{{password}}', {{name}}, {{password}} -- {{name}}`, `x\`, `\'`)
	f.Add(`DO $x$ '{{name}}' $x$; /* {{password}} */`, `ok`, `*/ DROP`)
	f.Add(`SELECT U&'{{password}}', B'{{password}}'`, `'`, `\0027`)
	f.Fuzz(func(t *testing.T, tmpl, name, password string) {
		vals := map[string]string{"name": name, "username": name, "password": password, "expiration": "2024-05-06 07:08:09+0000"}
		out, err := render(tmpl, vals)
		if err != nil {
			return
		}
		// The same template with harmless values has the structure the
		// template intends; the fuzzed values must not change it.
		safe := map[string]string{"name": "n", "username": "n", "password": "p", "expiration": "e"}
		ref, err := render(tmpl, safe)
		if err != nil {
			t.Fatalf("render with safe values failed: %v", err)
		}
		if got, want := skeleton(out), skeleton(ref); got != want {
			t.Fatalf("structure changed:\ntemplate %q\nout      %q\ngot  %q\nwant %q", tmpl, out, got, want)
		}
	})
}
