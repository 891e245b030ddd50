package database

import (
	"math"
	"strings"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// Request bodies arrive decoded with json.Number, query parameters as
// strings, and tests pass Go values; tokenfields converts all three as
// Vault's weakly typed field decoding does. fields adds what this engine
// needs on top: the first error remembered, so a handler checks once, and
// statement lists taken whole.
type fields struct {
	data map[string]any
	err  error
}

func (f *fields) has(name string) bool {
	_, ok := f.data[name]
	return ok
}

// keep records the first conversion error.
func (f *fields) keep(err error) bool {
	if err != nil && f.err == nil {
		f.err = err
	}
	return err == nil
}

func (f *fields) str(name string, into *string) {
	if s, ok, err := tokenfields.Fields(f.data).Str(name); f.keep(err) && ok {
		*into = s
	}
}

func (f *fields) integer(name string, into *int) {
	n, ok, err := tokenfields.Fields(f.data).Int(name)
	if err == nil && ok && (n > math.MaxInt32 || n < math.MinInt32) {
		err = engines.BadRequest("error converting input for field %q: not an integer", name)
	}
	if f.keep(err) && ok {
		*into = n
	}
}

func (f *fields) boolean(name string, into *bool) {
	if b, ok, err := tokenfields.Fields(f.data).Bool(name); f.keep(err) && ok {
		*into = b
	}
}

func (f *fields) duration(name string, into *time.Duration) {
	d, ok, err := tokenfields.Fields(f.data).Duration(name)
	if err == nil && ok && d < 0 {
		err = engines.BadRequest("error converting input for field %q: cannot provide negative value", name)
	}
	if f.keep(err) && ok {
		*into = d
	}
}

// statements reads a TypeStringSlice field: a list, or one string taken
// whole (statements contain commas).
func (f *fields) statements(name string, into *[]string) {
	v, ok := f.data[name]
	if !ok {
		return
	}
	if s, isString := v.(string); isString {
		*into = []string{}
		if strings.TrimSpace(s) != "" {
			*into = []string{s}
		}
		return
	}
	l, given, err := tokenfields.Fields{name: v}.Strings(name)
	if f.keep(err) {
		if !given || l == nil {
			l = []string{}
		}
		*into = l
	}
}

// commaList reads a TypeCommaStringSlice field: a list, or a
// comma-separated string.
func (f *fields) commaList(name string, into *[]string) {
	l, ok, err := tokenfields.Fields(f.data).Strings(name)
	if f.keep(err) && ok {
		if l == nil {
			l = []string{}
		}
		*into = l
	}
}

// seconds64 renders a duration as whole seconds, as Vault's read
// responses do.
func seconds64(d time.Duration) int64 { return int64(d / time.Second) }
