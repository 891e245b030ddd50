package database

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"coffer/engines"
)

// defaultUsernameTemplate is Vault's for PostgreSQL: v-<display name>-
// <role>-<20 random>-<unix time>, at most 63 characters.
const defaultUsernameTemplate = `{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}`

// maxIdentifierBytes is PostgreSQL's NAMEDATALEN - 1: longer names are
// silently truncated by the server, so they are cut here instead.
const maxIdentifierBytes = 63

// usernameInput is what a username template sees.
type usernameInput struct {
	DisplayName string
	RoleName    string
}

// usernameFuncs are Vault's username template functions.
func usernameFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"random": func(n int) (string, error) {
			if n < 0 || n > 1024 {
				return "", fmt.Errorf("random length %d out of range", n)
			}
			return randomString(n, passwordCharset)
		},
		"truncate": func(n int, s string) (string, error) {
			if n < 0 {
				return "", fmt.Errorf("truncate length %d is negative", n)
			}
			return truncateRunes(s, n), nil
		},
		"truncate_sha256": func(n int, s string) (string, error) {
			if n < 0 {
				return "", fmt.Errorf("truncate length %d is negative", n)
			}
			if utf8.RuneCountInString(s) <= n {
				return s, nil
			}
			sum := sha256.Sum256([]byte(s))
			return truncateRunes(s, n) + hex.EncodeToString(sum[:]), nil
		},
		"uppercase":        strings.ToUpper,
		"lowercase":        strings.ToLower,
		"replace":          func(from, to, s string) string { return strings.ReplaceAll(s, from, to) },
		"sha256":           func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) },
		"base64":           func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"unix_time":        func() string { return strconv.FormatInt(now().Unix(), 10) },
		"unix_time_millis": func() string { return strconv.FormatInt(now().UnixMilli(), 10) },
		"timestamp":        func(layout string) string { return now().UTC().Format(layout) },
		"uuid": func() (string, error) {
			s, err := randomString(32, "0123456789abcdef")
			if err != nil {
				return "", err
			}
			return s[:8] + "-" + s[8:12] + "-4" + s[13:16] + "-a" + s[17:20] + "-" + s[20:], nil
		},
	}
}

func truncateRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// parseUsernameTemplate checks a template at write time; "" is the
// default.
func parseUsernameTemplate(src string) (*template.Template, error) {
	if src == "" {
		src = defaultUsernameTemplate
	}
	t, err := template.New("username").Option("missingkey=error").Funcs(usernameFuncs(time.Now)).Parse(src)
	if err != nil {
		return nil, engines.BadRequest("invalid username_template: %v", err)
	}
	return t, nil
}

// generateUsername runs the template and makes the result a valid
// PostgreSQL role name: no NUL, not empty, at most 63 bytes (cut at a
// character boundary). Quoting makes any other character safe.
func generateUsername(src string, in usernameInput, now func() time.Time) (string, error) {
	t, err := parseUsernameTemplate(src)
	if err != nil {
		return "", err
	}
	t.Funcs(usernameFuncs(now))
	var b strings.Builder
	if err := t.Execute(&b, in); err != nil {
		return "", engines.BadRequest("username_template failed: %v", err)
	}
	name := strings.TrimSpace(b.String())
	if strings.IndexByte(name, 0) >= 0 {
		return "", engines.BadRequest("username_template produced a name with a NUL byte")
	}
	name = truncateBytes(name, maxIdentifierBytes)
	if name == "" {
		return "", engines.BadRequest("username_template produced an empty name")
	}
	return name, nil
}

// truncateBytes cuts s to at most n bytes without splitting a character.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
