package kv

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"coffer/engines"
)

// Request bodies arrive decoded with json.Number, query parameters as
// strings, and tests pass Go values; these conversions accept all three,
// as Vault's weakly typed field decoding does.

var (
	errNotInteger  = errors.New("not an integer")
	errNotBool     = errors.New("not a boolean")
	errNotDuration = errors.New("not a duration")
	errNegative    = errors.New("cannot provide negative value")
)

// fieldError is the 400 for a field that does not convert.
func fieldError(field string, err error) error {
	return engines.BadRequest("error converting input for field %q: %v", field, err)
}

// parseInt converts a number or decimal string to an int64. The empty
// string is zero, as in Vault.
func parseInt(v any) (int64, error) {
	switch n := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		return parseIntString(string(n))
	case string:
		return parseIntString(n)
	case float64:
		if n != math.Trunc(n) || n >= math.MaxInt64 || n < math.MinInt64 {
			return 0, errNotInteger
		}
		return int64(n), nil
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	case uint32:
		return int64(n), nil
	case uint64:
		if n > math.MaxInt64 {
			return 0, errNotInteger
		}
		return int64(n), nil
	}
	return 0, errNotInteger
}

func parseIntString(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return 0, errNotInteger
	}
	return int64(f), nil
}

// parseBool converts a boolean, a number (non-zero is true) or a string
// strconv.ParseBool accepts.
func parseBool(v any) (bool, error) {
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
		n, err := parseInt(b)
		if err != nil {
			return false, errNotBool
		}
		return n != 0, nil
	}
	return false, errNotBool
}

// parseDuration converts a number of seconds or a Go duration string
// (with Vault's extra "d" for days; a bare number string is seconds),
// truncated to whole seconds as Vault keeps it.
func parseDuration(v any) (time.Duration, error) {
	d, err := parseAnyDuration(v)
	return d.Truncate(time.Second), err
}

func parseAnyDuration(v any) (time.Duration, error) {
	switch d := v.(type) {
	case nil:
		return 0, nil
	case string:
		return parseDurationString(d)
	case json.Number:
		return parseDurationString(string(d))
	case float64:
		return secondsDuration(d)
	case int:
		return secondsDuration(float64(d))
	case int64:
		return secondsDuration(float64(d))
	case time.Duration:
		return d, nil
	}
	return 0, errNotDuration
}

func parseDurationString(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsDuration(f)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > math.MaxInt64/int64(24*time.Hour) || n < math.MinInt64/int64(24*time.Hour) {
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

func secondsDuration(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, errNotDuration
	}
	return time.Duration(f * float64(time.Second)), nil
}

// parseVersions converts Vault's comma-int-slice field: a list of numbers
// or numeric strings, a comma-separated string, or a single number.
func parseVersions(v any) ([]uint64, error) {
	var items []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		items = x
	case []int:
		for _, n := range x {
			items = append(items, n)
		}
	case []string:
		for _, s := range x {
			items = append(items, s)
		}
	case string:
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	default:
		items = []any{x}
	}
	out := make([]uint64, 0, len(items))
	for _, it := range items {
		n, err := parseInt(it)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			// Vault casts to uint64; no version has such a number.
			continue
		}
		out = append(out, uint64(n))
	}
	return out, nil
}

// Vault's limits on custom_metadata.
const (
	maxCustomMetadataKeys        = 64
	maxCustomMetadataKeyLength   = 128
	maxCustomMetadataValueLength = 512
	customMetadataErrorPrefix    = "custom_metadata validation failed"
)

// parseCustomMetadata converts a custom_metadata object to strings. With
// keepNulls, a null value is kept as a deletion marker (nil entry in
// deletes) for a merge patch; without, null is the empty string.
func parseCustomMetadata(v any, keepNulls bool) (values map[string]string, deletes []string, err error) {
	if v == nil {
		return map[string]string{}, nil, nil
	}
	raw, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fieldError("custom_metadata", errors.New("not an object"))
	}
	values = make(map[string]string, len(raw))
	for k, item := range raw {
		var s string
		switch x := item.(type) {
		case nil:
			if keepNulls {
				deletes = append(deletes, k)
				continue
			}
		case string:
			s = x
		case json.Number:
			s = x.String()
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = "0"
			if x {
				s = "1"
			}
		default:
			return nil, nil, engines.BadRequest("%s: value for key %q is not a string", customMetadataErrorPrefix, k)
		}
		values[k] = s
	}
	return values, deletes, nil
}

// validateCustomMetadata applies Vault's limits: at most 64 keys, keys of
// 1 to 128 bytes, values of 1 to 512 bytes, all printable.
func validateCustomMetadata(cm map[string]string) error {
	if len(cm) > maxCustomMetadataKeys {
		return engines.BadRequest("%s: payload must contain at most %d keys, provided %d",
			customMetadataErrorPrefix, maxCustomMetadataKeys, len(cm))
	}
	keys := make([]string, 0, len(cm))
	for k := range cm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		val := cm[k]
		if n := len(k); n == 0 || n > maxCustomMetadataKeyLength {
			problems = append(problems, fmt.Sprintf("%s: length of key %q is %d but must be 0 < len(key) <= %d",
				customMetadataErrorPrefix, k, n, maxCustomMetadataKeyLength))
		}
		if n := len(val); n == 0 || n > maxCustomMetadataValueLength {
			problems = append(problems, fmt.Sprintf("%s: length of value for key %q is %d but must be 0 < len(value) <= %d",
				customMetadataErrorPrefix, k, n, maxCustomMetadataValueLength))
		}
		if !printable(k) {
			problems = append(problems, fmt.Sprintf("%s: key %q contains unprintable characters", customMetadataErrorPrefix, k))
		}
		if !printable(val) {
			problems = append(problems, fmt.Sprintf("%s: value for key %q contains unprintable characters", customMetadataErrorPrefix, k))
		}
	}
	if len(problems) > 0 {
		return engines.BadRequest("%s", strings.Join(problems, "; "))
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// casOption reads options.cas from a data write or patch body.
func casOption(data map[string]any) (cas int64, ok bool, err error) {
	raw, present := data["options"]
	if !present || raw == nil {
		return 0, false, nil
	}
	opts, isMap := raw.(map[string]any)
	if !isMap {
		return 0, false, fieldError("options", errors.New("not an object"))
	}
	v, present := opts["cas"]
	if !present {
		return 0, false, nil
	}
	cas, err = parseInt(v)
	if err != nil {
		return 0, false, engines.BadRequest("error parsing check-and-set parameter")
	}
	return cas, true, nil
}
