package policy

import (
	"encoding/json"
	"reflect"
	"strings"
)

// paramsAllowed applies a rule's parameter constraints to a request body,
// in Vault's order: required parameters must be present; an empty body is
// then allowed; a denied parameter (or a denied "*") refuses; finally every
// parameter must be allowed, unless allowed_parameters is absent or holds
// only "*". Keys are compared lower-cased.
func (r *rule) paramsAllowed(data map[string]any) bool {
	for _, p := range r.required {
		if _, ok := data[p]; !ok {
			return false
		}
	}
	if len(data) == 0 {
		return true
	}
	if len(r.denied) > 0 {
		if _, all := r.denied["*"]; all {
			return false
		}
		for k, v := range data {
			if list, ok := r.denied[strings.ToLower(k)]; ok && valueDenied(v, list) {
				return false
			}
		}
	}
	if len(r.allowed) == 0 {
		return true
	}
	_, allowedAll := r.allowed["*"]
	if allowedAll && len(r.allowed) == 1 {
		return true
	}
	for k, v := range data {
		list, ok := r.allowed[strings.ToLower(k)]
		if !ok {
			if !allowedAll {
				return false
			}
			continue
		}
		if !valueAllowed(v, list) {
			return false
		}
	}
	return true
}

// valueAllowed reports whether v passes an allowed_parameters value list:
// an empty list allows anything; otherwise v itself, or every element of
// a list value, or every comma-separated part of a string value, must
// match an entry.
func valueAllowed(v any, list []any) bool {
	if len(list) == 0 || inList(v, list) {
		return true
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !inList(e, list) {
				return false
			}
		}
		return true
	case []string:
		for _, e := range x {
			if !inList(e, list) {
				return false
			}
		}
		return true
	case string:
		ok := true
		eachCommaPart(x, func(part string) bool {
			ok = inList(part, list)
			return ok
		})
		return ok
	}
	return false
}

// valueDenied reports whether v hits a denied_parameters value list: an
// empty list denies any value; otherwise v itself, or any element of a
// list value, or any comma-separated part of a string value, matching an
// entry denies.
func valueDenied(v any, list []any) bool {
	if len(list) == 0 || inList(v, list) {
		return true
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if inList(e, list) {
				return true
			}
		}
	case []string:
		for _, e := range x {
			if inList(e, list) {
				return true
			}
		}
	case string:
		denied := false
		eachCommaPart(x, func(part string) bool {
			denied = inList(part, list)
			return !denied
		})
		return denied
	}
	return false
}

// eachCommaPart calls f with each comma-separated, space-trimmed part of s
// until f returns false; the empty string has no parts (Vault's
// comma-string-slice reading of a parameter).
func eachCommaPart(s string, f func(string) bool) {
	if s == "" {
		return
	}
	for {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			f(strings.TrimSpace(s))
			return
		}
		if !f(strings.TrimSpace(s[:i])) {
			return
		}
		s = s[i+1:]
	}
}

// inList reports whether v matches an entry: nil matches nil, a string
// entry matches a string by globMatch, numbers compare by value, anything
// else by deep equality.
func inList(v any, list []any) bool {
	for _, el := range list {
		if el == nil || v == nil {
			if el == nil && v == nil {
				return true
			}
			continue
		}
		if es, ok := el.(string); ok {
			if vs, ok := v.(string); ok && globMatch(es, vs) {
				return true
			}
			continue
		}
		if ef, ok := number(el); ok {
			if vf, ok := number(v); ok && ef == vf {
				return true
			}
			continue
		}
		if reflect.DeepEqual(el, v) {
			return true
		}
	}
	return false
}

// globMatch is Vault's value glob: "*x*" contains, "*x" suffix, "x*"
// prefix, anything else (including a lone "*") equality.
func globMatch(pattern, s string) bool {
	if len(pattern) < 2 {
		return s == pattern
	}
	pre, suf := pattern[0] == '*', pattern[len(pattern)-1] == '*'
	switch {
	case pre && suf:
		return strings.Contains(s, pattern[1:len(pattern)-1])
	case pre:
		return strings.HasSuffix(s, pattern[1:])
	case suf:
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return s == pattern
}

// number converts the numeric types HCL and JSON decoding produce.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// mergeValues merges two value lists for the same parameter key: an empty
// list (any value) absorbs the other, otherwise the entries are joined.
func mergeValues(a, b []any) []any {
	if len(a) == 0 || len(b) == 0 {
		return []any{}
	}
	out := make([]any, 0, len(a)+len(b))
	out = append(out, a...)
	return append(out, b...)
}

// mergeParams merges parameter maps of two rules with the same pattern, as
// Vault does: if only one side constrains, its constraints are kept (so a
// merge can only narrow an unconstrained rule); keys in both are merged by
// mergeValues.
func mergeParams(into, from map[string][]any) map[string][]any {
	if len(from) == 0 {
		return into
	}
	if into == nil {
		into = make(map[string][]any, len(from))
	}
	for k, v := range from {
		if prev, ok := into[k]; ok {
			into[k] = mergeValues(prev, v)
		} else {
			into[k] = append([]any{}, v...)
		}
	}
	return into
}
