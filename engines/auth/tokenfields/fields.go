package tokenfields

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"coffer/engines"
)

// The package's errors: why a value does not convert, quoted to clients in
// a 400 (so, as Vault words them, without a package prefix), and why a
// block does not parse.
var (
	errNotInteger  = errors.New("not an integer")
	errNotBool     = errors.New("not a boolean")
	errNotDuration = errors.New("not a duration")
	errNotString   = errors.New("not a string")
	errNotList     = errors.New("not a list of strings")
	errBadCIDR     = errors.New("not an IP address or CIDR block")
)

// Fields is a request's decoded body. Request bodies arrive decoded with
// json.Number, query parameters as strings, and tests pass Go values; the
// accessors convert all three the way Vault's weakly typed field decoding
// does. Each returns the value, whether the field was given (a JSON null
// counts as not given), and a 400 for a value that does not convert.
type Fields map[string]any

// fieldError is the 400 for a field that does not convert.
func fieldError(field string, err error) error {
	return engines.BadRequest("error converting input for field %q: %v", field, err)
}

// Has reports whether name was given (a JSON null counts as not given).
func (f Fields) Has(name string) bool {
	v, ok := f[name]
	return ok && v != nil
}

// Str returns a string field; numbers and booleans are formatted.
func (f Fields) Str(name string) (string, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return "", false, nil
	}
	s, err := toString(v)
	if err != nil {
		return "", true, fieldError(name, err)
	}
	return s, true, nil
}

func toString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return "", errNotString
}

// Int returns an int field: a number or a decimal string.
func (f Fields) Int(name string) (int, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, err := toInt(v)
	if err != nil {
		return 0, true, fieldError(name, err)
	}
	return n, true, nil
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		if x > math.MaxInt32 || x < math.MinInt32 {
			return 0, errNotInteger
		}
		return int(x), nil
	case float64:
		if x != math.Trunc(x) || x > math.MaxInt32 || x < math.MinInt32 {
			return 0, errNotInteger
		}
		return int(x), nil
	case json.Number:
		return intString(string(x))
	case string:
		return intString(x)
	}
	return 0, errNotInteger
}

func intString(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return int(n), nil
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || fl != math.Trunc(fl) || fl > math.MaxInt32 || fl < math.MinInt32 {
		return 0, errNotInteger
	}
	return int(fl), nil
}

// Bool returns a bool field: a boolean, a number (non-zero is true) or
// a string strconv.ParseBool accepts.
func (f Fields) Bool(name string) (bool, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return false, false, nil
	}
	b, err := toBool(v)
	if err != nil {
		return false, true, fieldError(name, err)
	}
	return b, true, nil
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if x == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(x)
		if err != nil {
			return false, errNotBool
		}
		return b, nil
	case json.Number, float64, int, int64:
		n, err := toInt(x)
		if err != nil {
			return false, errNotBool
		}
		return n != 0, nil
	}
	return false, errNotBool
}

// Duration returns a duration field in whole seconds: a number of seconds,
// a Go duration string, or a number of days with a "d" suffix.
func (f Fields) Duration(name string) (time.Duration, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	d, err := toDuration(v)
	if err != nil {
		return 0, true, fieldError(name, err)
	}
	return d.Truncate(time.Second), true, nil
}

// maxDurationSeconds keeps durations well inside time.Duration's range.
const maxDurationSeconds = 100 * 365 * 24 * 3600

func toDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		return durationString(x)
	case json.Number:
		return durationString(string(x))
	case float64:
		return seconds(x)
	case int:
		return seconds(float64(x))
	case int64:
		return seconds(float64(x))
	case time.Duration:
		return x, nil
	}
	return 0, errNotDuration
}

func durationString(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if fl, err := strconv.ParseFloat(s, 64); err == nil {
		return seconds(fl)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > maxDurationSeconds/86400 || n < -maxDurationSeconds/86400 {
			return 0, errNotDuration
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d > maxDurationSeconds*time.Second || d < -maxDurationSeconds*time.Second {
		return 0, errNotDuration
	}
	return d, nil
}

func seconds(fl float64) (time.Duration, error) {
	if math.IsNaN(fl) || math.Abs(fl) > maxDurationSeconds {
		return 0, errNotDuration
	}
	return time.Duration(fl * float64(time.Second)), nil
}

// Strings returns a list field given as a JSON array or a comma-separated
// string; items are trimmed and empty ones dropped.
func (f Fields) Strings(name string) ([]string, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	var items []string
	switch x := v.(type) {
	case string:
		items = strings.Split(x, ",")
	case json.Number:
		items = []string{x.String()}
	case []string:
		items = x
	case []any:
		for _, it := range x {
			s, err := toString(it)
			if err != nil {
				return nil, true, fieldError(name, errNotList)
			}
			items = append(items, s)
		}
	default:
		return nil, true, fieldError(name, errNotList)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out, true, nil
}

// StringMap returns a map of strings given as a JSON object, a string
// holding a JSON object, or "k=v,k2=v2".
func (f Fields) StringMap(name string) (map[string]string, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			s, err := toString(item)
			if err != nil {
				return nil, true, fieldError(name, fmt.Errorf("value of %q: %w", k, err))
			}
			out[k] = s
		}
	case map[string]string:
		for k, s := range x {
			out[k] = s
		}
	case string:
		x = strings.TrimSpace(x)
		if x == "" {
			return out, true, nil
		}
		if strings.HasPrefix(x, "{") {
			var m map[string]string
			if err := json.Unmarshal([]byte(x), &m); err != nil {
				return nil, true, fieldError(name, errors.New("not a JSON object of strings"))
			}
			return m, true, nil
		}
		for _, kv := range strings.Split(x, ",") {
			k, val, found := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !found || k == "" {
				return nil, true, fieldError(name, errors.New("want key=value pairs"))
			}
			out[k] = strings.TrimSpace(val)
		}
	default:
		return nil, true, fieldError(name, errors.New("not an object"))
	}
	return out, true, nil
}

// NonNegativeDuration stores the duration field name in *dst if it was
// given; a negative duration is a 400.
func (f Fields) NonNegativeDuration(name string, dst *time.Duration) error {
	d, ok, err := f.Duration(name)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if d < 0 {
		return engines.BadRequest("'%s' cannot be negative", name)
	}
	*dst = d
	return nil
}
