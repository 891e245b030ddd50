package database

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"coffer/engines"
)

// Request bodies arrive decoded with json.Number, query parameters as
// strings, and tests pass Go values; these conversions accept all three,
// as Vault's weakly typed field decoding does.

var (
	errNotInteger  = errors.New("not an integer")
	errNotBool     = errors.New("not a boolean")
	errNotDuration = errors.New("not a duration")
	errNotString   = errors.New("not a string")
	errNotList     = errors.New("not a list of strings")
)

// fieldError is the 400 for a field that does not convert.
func fieldError(field string, err error) error {
	return engines.BadRequest("error converting input for field %q: %v", field, err)
}

// fields reads typed values out of a request body, remembering the first
// conversion error so a handler can check once.
type fields struct {
	data map[string]any
	err  error
}

func (f *fields) has(name string) bool {
	_, ok := f.data[name]
	return ok
}

func (f *fields) fail(name string, err error) {
	if f.err == nil {
		f.err = fieldError(name, err)
	}
}

func (f *fields) str(name string, into *string) {
	v, ok := f.data[name]
	if !ok {
		return
	}
	s, err := toString(v)
	if err != nil {
		f.fail(name, err)
		return
	}
	*into = s
}

func (f *fields) integer(name string, into *int) {
	v, ok := f.data[name]
	if !ok {
		return
	}
	n, err := toInt(v)
	if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
		f.fail(name, errNotInteger)
		return
	}
	*into = int(n)
}

func (f *fields) boolean(name string, into *bool) {
	v, ok := f.data[name]
	if !ok {
		return
	}
	b, err := toBool(v)
	if err != nil {
		f.fail(name, err)
		return
	}
	*into = b
}

func (f *fields) duration(name string, into *time.Duration) {
	v, ok := f.data[name]
	if !ok {
		return
	}
	d, err := toDuration(v)
	if err != nil {
		f.fail(name, err)
		return
	}
	if d < 0 {
		f.fail(name, errors.New("cannot provide negative value"))
		return
	}
	*into = d
}

// statements reads a TypeStringSlice field: a list, or one string taken
// whole (statements contain commas).
func (f *fields) statements(name string, into *[]string) {
	v, ok := f.data[name]
	if !ok {
		return
	}
	l, err := toList(v, false)
	if err != nil {
		f.fail(name, err)
		return
	}
	*into = l
}

// commaList reads a TypeCommaStringSlice field: a list, or a
// comma-separated string.
func (f *fields) commaList(name string, into *[]string) {
	v, ok := f.data[name]
	if !ok {
		return
	}
	l, err := toList(v, true)
	if err != nil {
		f.fail(name, err)
		return
	}
	*into = l
}

func toString(v any) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	case json.Number:
		return s.String(), nil
	case bool:
		return strconv.FormatBool(s), nil
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(s), nil
	case int64:
		return strconv.FormatInt(s, 10), nil
	}
	return "", errNotString
}

// toInt converts a number or decimal string; the empty string is zero.
func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		return intString(string(n))
	case string:
		return intString(n)
	case float64:
		if n != math.Trunc(n) || math.Abs(n) >= math.MaxInt64 {
			return 0, errNotInteger
		}
		return int64(n), nil
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	}
	return 0, errNotInteger
}

func intString(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errNotInteger
	}
	return toInt(f)
}

func toBool(v any) (bool, error) {
	switch b := v.(type) {
	case nil:
		return false, nil
	case bool:
		return b, nil
	case string:
		if b == "" {
			return false, nil
		}
		r, err := strconv.ParseBool(b)
		if err != nil {
			return false, errNotBool
		}
		return r, nil
	case json.Number, float64, int, int64:
		n, err := toInt(b)
		if err != nil {
			return false, errNotBool
		}
		return n != 0, nil
	}
	return false, errNotBool
}

// toDuration converts a number of seconds or a duration string (Go's, a
// bare number of seconds, or Vault's "d" for days), truncated to whole
// seconds as Vault keeps it.
func toDuration(v any) (time.Duration, error) {
	var d time.Duration
	var err error
	switch x := v.(type) {
	case nil:
	case string:
		d, err = durationString(x)
	case json.Number:
		d, err = durationString(string(x))
	case float64:
		d, err = seconds(x)
	case int:
		d, err = seconds(float64(x))
	case int64:
		d, err = seconds(float64(x))
	case time.Duration:
		d = x
	default:
		err = errNotDuration
	}
	return d.Truncate(time.Second), err
}

func durationString(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return seconds(f)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > math.MaxInt64/int64(24*time.Hour) || n < 0 {
			return 0, errNotDuration
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errNotDuration
	}
	return d, nil
}

func seconds(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, errNotDuration
	}
	return time.Duration(f * float64(time.Second)), nil
}

// toList converts a list of strings, or one string (split on commas when
// comma is set); empty items of a comma list are dropped.
func toList(v any, comma bool) ([]string, error) {
	var out []string
	switch x := v.(type) {
	case nil:
		return []string{}, nil
	case string:
		if !comma {
			if strings.TrimSpace(x) == "" {
				return []string{}, nil
			}
			return []string{x}, nil
		}
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []string:
		out = append(out, x...)
	case []any:
		for _, it := range x {
			s, err := toString(it)
			if err != nil {
				return nil, errNotList
			}
			out = append(out, s)
		}
	default:
		return nil, errNotList
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// seconds64 renders a duration as whole seconds, as Vault's read
// responses do.
func seconds64(d time.Duration) int64 { return int64(d / time.Second) }
