package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// Request bodies arrive decoded with json.Number, query parameters as
// strings, and tests pass Go values; fields converts them with
// tokenfields where the token store's rules are Vault's auth-method rules,
// and remembers which keys were read so the rest can be reported as
// ignored.
type fields struct {
	data tokenfields.Fields
	used map[string]bool
}

var (
	errNotInteger  = errors.New("not an integer")
	errNotBool     = errors.New("not a boolean")
	errNotDuration = errors.New("not a duration")
	errNotList     = errors.New("not a list of strings")
	errNotMap      = errors.New("not a map of strings")
)

func newFields(data map[string]any) *fields {
	return &fields{data: data, used: map[string]bool{}}
}

func fieldError(name string, err error) error {
	return engines.BadRequest("error converting input for field %q: %v", name, err)
}

// get returns a field's raw value; a JSON null counts as absent.
func (f *fields) get(name string) (any, bool) {
	f.used[name] = true
	v, ok := f.data[name]
	return v, ok && v != nil
}

// accept marks fields as known without reading them.
func (f *fields) accept(names ...string) {
	for _, n := range names {
		f.used[n] = true
	}
}

// warning names the fields nobody read, as Vault's framework reports them.
func (f *fields) warning() []string {
	var unknown []string
	for k := range f.data {
		if !f.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return []string{fmt.Sprintf("Endpoint ignored these unrecognized parameters: [%s]", strings.Join(unknown, " "))}
}

func (f *fields) str(name string) (string, error) {
	f.used[name] = true
	s, _, err := f.data.Str(name)
	return s, err
}

// boolean reads a bool as tokenfields does, except that a JSON number
// must be a plain integer (see integer).
func (f *fields) boolean(name string) (val, ok bool, err error) {
	v, ok := f.get(name)
	if n, isNum := v.(json.Number); ok && isNum {
		i, err := intText(string(n))
		if err != nil {
			return false, false, fieldError(name, errNotBool)
		}
		return i != 0, true, nil
	}
	return f.data.Bool(name)
}

// integer reads an int as tokenfields does, except that a JSON number or
// a string must be written as a plain integer: tokenfields also takes an
// integral float ("3.0", "1e3"), which the token store has always refused
// with a 400, as Vault's int decoding of json.Number does.
func (f *fields) integer(name string) (val int, ok bool, err error) {
	v, _ := f.get(name)
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		if s = strings.TrimSpace(x); s == "" {
			return 0, true, nil
		}
	default:
		return f.data.Int(name)
	}
	n, err := intText(s)
	if err != nil {
		return 0, false, fieldError(name, err)
	}
	return n, true, nil
}

func intText(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, errNotInteger
	}
	return int(n), nil
}

// duration reads a number of seconds or a duration string ("90", "90s",
// "1h30m", "2d"), truncated to whole seconds. It stays apart from
// tokenfields.Duration, which refuses anything past 100 years and takes
// negative day counts: the token store accepts any duration time.Duration
// holds (a token TTL past the max is capped with a warning, not refused) and a
// negative day count is "not a duration" rather than its own 400.
func (f *fields) duration(name string) (val time.Duration, ok bool, err error) {
	v, ok := f.get(name)
	if !ok {
		return 0, false, nil
	}
	d, err := toDuration(v)
	if err != nil {
		return 0, false, fieldError(name, err)
	}
	return d.Truncate(time.Second), true, nil
}

const maxSeconds = float64(math.MaxInt64 / int64(time.Second))

func toDuration(v any) (time.Duration, error) {
	var s string
	switch x := v.(type) {
	case int:
		return secondsDuration(float64(x))
	case int64:
		return secondsDuration(float64(x))
	case float64:
		return secondsDuration(x)
	case time.Duration:
		return x, nil
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, errNotDuration
	}
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsDuration(n)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > int64(maxSeconds)/86400 {
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

func secondsDuration(n float64) (time.Duration, error) {
	if math.IsNaN(n) || math.Abs(n) > maxSeconds {
		return 0, errNotDuration
	}
	return time.Duration(n * float64(time.Second)), nil
}

// strings reads a list of strings: a JSON list, or a comma-separated
// string. It stays apart from tokenfields.Strings, which also takes a bare
// number and boolean list items: policy lists here take strings and
// numbers only, and anything else is a 400.
func (f *fields) strings(name string) (val []string, ok bool, err error) {
	v, ok := f.get(name)
	if !ok {
		return nil, false, nil
	}
	switch x := v.(type) {
	case []string:
		return trimAll(x), true, nil
	case string:
		return trimAll(strings.Split(x, ",")), true, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, it := range x {
			switch s := it.(type) {
			case string:
				out = append(out, s)
			case json.Number:
				out = append(out, s.String())
			default:
				return nil, false, fieldError(name, errNotList)
			}
		}
		return trimAll(out), true, nil
	}
	return nil, false, fieldError(name, errNotList)
}

func trimAll(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// stringMap reads an object of strings (numbers and booleans converted).
// It stays apart from tokenfields.StringMap: token metadata is a JSON
// object only (no "k=v" or JSON-in-a-string forms) and a null value is an
// empty string rather than a 400.
func (f *fields) stringMap(name string) (map[string]string, error) {
	v, ok := f.get(name)
	if !ok {
		return nil, nil
	}
	switch x := v.(type) {
	case map[string]string:
		return cloneMeta(x), nil
	case map[string]any:
		out := make(map[string]string, len(x))
		for k, it := range x {
			switch s := it.(type) {
			case string:
				out[k] = s
			case json.Number:
				out[k] = s.String()
			case float64:
				out[k] = strconv.FormatFloat(s, 'f', -1, 64)
			case int:
				out[k] = strconv.Itoa(s)
			case int64:
				out[k] = strconv.FormatInt(s, 10)
			case bool:
				out[k] = strconv.FormatBool(s)
			case nil:
				out[k] = ""
			default:
				return nil, fieldError(name, errNotMap)
			}
		}
		return out, nil
	}
	return nil, fieldError(name, errNotMap)
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }
