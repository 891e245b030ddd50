package database

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"coffer/engines"
	"coffer/engines/enginestest"
)

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := generatePassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != passwordLength || strings.Trim(p, passwordCharset) != "" ||
			!strings.ContainsAny(p, "abcdefghijklmnopqrstuvwxyz") || !strings.ContainsAny(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") ||
			!strings.ContainsAny(p, "0123456789") {
			t.Fatalf("password %q breaks the policy", p)
		}
		if seen[p] {
			t.Fatalf("password %q repeated", p)
		}
		seen[p] = true
	}
	enginestest.AssertCode(t, checkPasswordPolicy("strong"), engines.CodeInvalidRequest, "not found")
	if err := checkPasswordPolicy(""); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateUsername(t *testing.T) {
	now := func() time.Time { return time.Unix(1700000000, 0) }
	cases := []struct {
		name, tmpl string
		in         usernameInput
		check      func(string) bool
	}{
		{"default", "", usernameInput{"token", "readonly"}, func(s string) bool {
			parts := strings.Split(s, "-")
			return len(parts) == 5 && parts[0] == "v" && parts[1] == "token" && parts[2] == "readonly" &&
				len(parts[3]) == 20 && parts[4] == "1700000000"
		}},
		{"default truncates long names", "", usernameInput{"userpass-alice", "a-very-long-role-name"}, func(s string) bool {
			return strings.HasPrefix(s, "v-userpass-a-very-l-") && len(s) <= 63
		}},
		{"custom with functions", `{{ .RoleName | uppercase }}_{{ unix_time }}_{{ random 4 | len }}`, usernameInput{"", "ro"},
			func(s string) bool { return s == "RO_1700000000_4" }},
		{"cut to 63 bytes on a character boundary", `{{ printf "%s%s" (random 62) "é" }}`, usernameInput{}, func(s string) bool {
			return len(s) == 62 && utf8.ValidString(s)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := generateUsername(tc.tmpl, tc.in, now)
			if err != nil || !tc.check(got) {
				t.Fatalf("generateUsername = %q, %v", got, err)
			}
		})
	}
	for _, bad := range []string{`{{ .Nope }}`, `{{ printf "\x00" }}`, `{{ "" }}`, `{{`} {
		if _, err := generateUsername(bad, usernameInput{}, now); err == nil {
			t.Errorf("template %q: no error", bad)
		}
	}
}

func TestParams(t *testing.T) {
	f := &fields{data: enginestest.Body(t, `{"a":"1h","b":3600,"c":"3600","d":"2d","l":"x, y,,z","s":["p, q"],"n":"5","t":"true"}`)}
	var a, b, c, d time.Duration
	var l, s []string
	var n int
	var v bool
	f.duration("a", &a)
	f.duration("b", &b)
	f.duration("c", &c)
	f.duration("d", &d)
	f.commaList("l", &l)
	f.statements("s", &s)
	f.integer("n", &n)
	f.boolean("t", &v)
	if f.err != nil || a != time.Hour || b != time.Hour || c != time.Hour || d != 48*time.Hour ||
		strings.Join(l, "|") != "x|y|z" || strings.Join(s, "|") != "p, q" || n != 5 || !v {
		t.Fatalf("got %v %v %v %v %q %q %d %v, err %v", a, b, c, d, l, s, n, v, f.err)
	}
	bad := &fields{data: map[string]any{"x": "soon"}}
	bad.duration("x", &a)
	enginestest.AssertCode(t, bad.err, engines.CodeInvalidRequest, `field "x"`)
}
