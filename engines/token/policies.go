package token

import (
	"slices"
	"strings"
)

// sanitizePolicies is Vault's policy-list normal form: trimmed, lower
// case, no empties or duplicates, sorted; "root" alone if present;
// "default" added when addDefault and the list has neither.
func sanitizePolicies(policies []string, addDefault bool) []string {
	out := make([]string, 0, len(policies)+1)
	for _, p := range policies {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if p == "root" {
			return []string{"root"}
		}
		out = append(out, p)
	}
	if addDefault && !slices.Contains(out, "default") {
		out = append(out, "default")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// dedupe lower-cases, trims, sorts and de-duplicates without Vault's root
// and default rules (role disallowed lists).
func dedupe(list []string) []string {
	out := make([]string, 0, len(list))
	for _, p := range list {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func remove(list []string, s string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(p string) bool { return p == s })
}

// subset reports whether every element of sub is in set.
func subset(set, sub []string) bool {
	for _, p := range sub {
		if !slices.Contains(set, p) {
			return false
		}
	}
	return true
}

// nonAssignable are Vault's internal policies no token may carry.
var nonAssignable = []string{"response-wrapping", "control-group"}
