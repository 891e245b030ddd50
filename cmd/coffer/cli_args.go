package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Errors from parsing K=V arguments.
var (
	errKVFormat      = errors.New("format must be key=value")
	errStdinConsumed = errors.New("stdin already consumed")
	errNoStdin       = errors.New("stdin is not supported")
)

// parseKVArgs turns Vault-style data arguments into a request body:
//
//	key=value    a string value
//	key=@file    the file's contents as the value
//	key=\@text   the literal "@text"
//	key=-        all of stdin as the value (once)
//	-            a JSON object read from stdin, merged in (once)
//	@file        a JSON object read from the file, merged in
//
// A key given more than once becomes a list of its values.
func parseKVArgs(stdin io.Reader, args []string) (map[string]any, error) {
	out := make(map[string]any)
	stdinUsed := false
	takeStdin := func() (io.Reader, error) {
		if stdin == nil {
			return nil, errNoStdin
		}
		if stdinUsed {
			return nil, errStdinConsumed
		}
		stdinUsed = true
		return stdin, nil
	}
	for _, raw := range args {
		if raw == "" {
			continue
		}
		key, value, hasEq := strings.Cut(raw, "=")
		if !hasEq {
			switch {
			case raw == "-":
				r, err := takeStdin()
				if err != nil {
					return nil, err
				}
				if err := mergeJSONObject(out, r); err != nil {
					return nil, fmt.Errorf("read json from stdin: %w", err)
				}
				continue
			case raw[0] == '@':
				f, err := os.Open(raw[1:])
				if err != nil {
					return nil, fmt.Errorf("error reading file: %w", err)
				}
				err = mergeJSONObject(out, f)
				f.Close()
				if err != nil {
					return nil, fmt.Errorf("read json from %s: %w", raw[1:], err)
				}
				continue
			}
			return nil, fmt.Errorf("%w: %q", errKVFormat, raw)
		}
		switch {
		case strings.HasPrefix(value, "@"):
			b, err := os.ReadFile(value[1:])
			if err != nil {
				return nil, fmt.Errorf("error reading file: %w", err)
			}
			value = string(b)
		case strings.HasPrefix(value, `\@`):
			value = value[1:]
		case value == "-":
			r, err := takeStdin()
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			value = string(b)
		}
		switch prev := out[key].(type) {
		case nil:
			out[key] = value
		case []any:
			out[key] = append(prev, value)
		default:
			out[key] = []any{prev, value}
		}
	}
	return out, nil
}

// mergeJSONObject decodes one JSON object from r into dst, keeping numbers
// as json.Number so large integers survive the round trip.
func mergeJSONObject(dst map[string]any, r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		dst[k] = v
	}
	return nil
}

// versionsFlag collects -versions values: repeatable, each comma-separated.
type versionsFlag []int

func (v *versionsFlag) String() string {
	parts := make([]string, len(*v))
	for i, n := range *v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (v *versionsFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid version %q", p)
		}
		*v = append(*v, n)
	}
	return nil
}

// mapFlag collects repeatable key=value flags (-custom-metadata, -options).
type mapFlag map[string]string

func (m *mapFlag) String() string {
	if m == nil || *m == nil {
		return ""
	}
	parts := make([]string, 0, len(*m))
	for k, v := range *m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m *mapFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%w: %q", errKVFormat, s)
	}
	if *m == nil {
		*m = make(map[string]string)
	}
	(*m)[k] = v
	return nil
}

// optionalBool is a bool flag that remembers whether it was given.
type optionalBool struct {
	set   bool
	value bool
}

func (b *optionalBool) String() string { return strconv.FormatBool(b.value) }

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.value = true, v
	return nil
}

// IsBoolFlag lets "-flag" alone mean true.
func (b *optionalBool) IsBoolFlag() bool { return true }
