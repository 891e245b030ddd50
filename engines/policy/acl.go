package policy

// Invariants of the compiled ACL, and the function enforcing each:
//
//   - Deny wins within the selected rule: a merged rule holding CapDeny
//     holds nothing else, so no operation, sudo or parameter check can pass
//     it. Enforced by mergeRule (a deny replaces or absorbs the other
//     rules of the same pattern) and by Parse/ParseCapabilities (a deny in
//     a capability list drops the rest).
//   - Same-path union: rules with the same pattern string, from any policy
//     in the set, are merged into one before matching; rules with
//     different patterns are never combined. Enforced by NewACL (one map
//     per pattern kind, keyed by pattern) and mergeRule.
//   - Only the most specific matching rule applies: an exact rule first,
//     then the highest-priority glob or "+" rule by Vault's order.
//     Enforced by ACL.lookup, ACL.nonExact and priorityLess.
//   - A templated rule ({{...}}) never matches: Coffer has no identity to
//     fill it in. Enforced by NewACL, which does not compile such rules.
//   - Root is all or nothing: an ACL holding the root policy allows
//     everything with sudo, and root cannot be combined with other
//     policies. Enforced by NewACL and the root fast path in
//     ACL.AllowedWrapped and ACL.Capabilities.
//   - An ACL is immutable after NewACL returns, so it is safe for
//     concurrent use without locks; Decision.Policies is shared and must
//     not be modified.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ACL is the compiled union of a set of policies. It is immutable and safe
// for concurrent use.
type ACL struct {
	root     bool
	names    []string
	exact    map[string]*rule
	prefixes radixNode
	hasGlob  bool
	segs     []segRule // highest priority first
}

// rule is the merged form of every path block with one pattern.
type rule struct {
	pattern  string
	caps     Capability
	allowed  map[string][]any
	denied   map[string][]any
	required []string // lower-cased
	minWrap  time.Duration
	maxWrap  time.Duration
	policies []string
}

// Decision is the outcome of one authorization check.
type Decision struct {
	// Allowed is true when the request may proceed.
	Allowed bool
	// Sudo is true when the matched rule grants sudo (or the ACL is root);
	// the caller requires it on sudo-protected paths.
	Sudo bool
	// Root is true for the root policy.
	Root bool
	// Capabilities are those of the matched rule.
	Capabilities Capability
	// Rule is the matched rule's pattern as written ("secret/*"); empty
	// when no rule matched. For debugging and operator logs.
	Rule string
	// Policies names the policies that contributed to the matched rule.
	// Shared with the ACL: do not modify.
	Policies []string
	// MinWrappingTTL and MaxWrappingTTL are the matched rule's wrapping
	// bounds, zero when unset.
	MinWrappingTTL time.Duration
	MaxWrappingTTL time.Duration
	// Reason says why the request was refused; empty when allowed.
	Reason string
}

// The reasons a Decision can carry.
const (
	ReasonNoRule     = "no policy grants access to the path"
	ReasonDenied     = "a deny rule matched"
	ReasonCapability = "the matched rule does not grant the operation"
	ReasonOperation  = "unknown operation"
	ReasonWrapping   = "the matched rule requires response wrapping within its TTL bounds"
	ReasonParameters = "the request parameters are not allowed by the matched rule"
)

// The operation names, as engines.Operation spells them.
const (
	listOperation   = "list"
	readOperation   = "read"
	createOperation = "create"
	updateOperation = "update"
	patchOperation  = "patch"
)

var rootPolicies = []string{rootPolicyName}

// NewACL compiles policies into an ACL. Nil policies are skipped. A policy
// named "root" makes a root ACL and must be the only one. A rule whose
// pattern is invalid (possible only for policies not built by Parse) is an
// error wrapping ErrInvalidPolicy.
func NewACL(policies ...*Policy) (*ACL, error) {
	a := &ACL{exact: make(map[string]*rule)}
	n := 0
	for _, p := range policies {
		if p != nil {
			n++
		}
	}
	prefix := make(map[string]*rule)
	segs := make(map[string]*rule)
	for _, p := range policies {
		if p == nil {
			continue
		}
		if p.Name == rootPolicyName {
			if n != 1 {
				return nil, ErrRootWithOther
			}
			a.root = true
			a.names = rootPolicies
			return a, nil
		}
		if !slices.Contains(a.names, p.Name) {
			a.names = append(a.names, p.Name)
		}
		for i := range p.Paths {
			pr := &p.Paths[i]
			pattern := strings.TrimPrefix(pr.Path, "/")
			templated, err := hasTemplate(pattern)
			if err != nil {
				return nil, fmt.Errorf("%w: path %q: %v", ErrInvalidPolicy, pattern, err)
			}
			if templated || pr.Templated {
				continue
			}
			kind, err := classify(pattern)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
			}
			switch {
			case kind.segments:
				segs[pattern] = mergeRule(segs[pattern], pattern, pr, p.Name)
			case kind.glob:
				stem := pattern[:len(pattern)-1]
				prefix[stem] = mergeRule(prefix[stem], pattern, pr, p.Name)
			default:
				a.exact[pattern] = mergeRule(a.exact[pattern], pattern, pr, p.Name)
			}
		}
	}
	for stem, r := range prefix {
		a.prefixes.insert(stem, r)
		a.hasGlob = true
	}
	for pattern, r := range segs {
		a.segs = append(a.segs, newSegRule(pattern, r))
	}
	slices.SortFunc(a.segs, func(x, y segRule) int {
		switch {
		case priorityLess(y.prio, x.prio):
			return -1
		case priorityLess(x.prio, y.prio):
			return 1
		}
		return 0
	})
	slices.Sort(a.names)
	return a, nil
}

// mergeRule folds one path block into the merged rule for its pattern,
// with Vault's rules: a deny on either side leaves a deny-only rule;
// otherwise capabilities are unioned, the smaller non-zero wrapping TTLs
// kept, parameter constraints merged and required parameters unioned.
func mergeRule(into *rule, pattern string, pr *PathRule, policy string) *rule {
	if into == nil {
		r := &rule{
			pattern:  pattern,
			caps:     pr.Capabilities,
			minWrap:  pr.MinWrappingTTL,
			maxWrap:  pr.MaxWrappingTTL,
			policies: []string{policy},
		}
		if pr.Capabilities&CapDeny != 0 {
			r.caps = CapDeny
			return r
		}
		r.allowed = cloneParams(pr.AllowedParameters)
		r.denied = cloneParams(pr.DeniedParameters)
		for _, p := range pr.RequiredParameters {
			r.required = appendUnique(r.required, strings.ToLower(p))
		}
		return r
	}
	if !slices.Contains(into.policies, policy) {
		into.policies = append(into.policies, policy)
	}
	switch {
	case into.caps&CapDeny != 0:
		return into
	case pr.Capabilities&CapDeny != 0:
		into.caps = CapDeny
		into.allowed, into.denied, into.required = nil, nil, nil
		return into
	}
	into.caps |= pr.Capabilities
	if pr.MaxWrappingTTL > 0 && (into.maxWrap == 0 || pr.MaxWrappingTTL < into.maxWrap) {
		into.maxWrap = pr.MaxWrappingTTL
	}
	if pr.MinWrappingTTL > 0 && (into.minWrap == 0 || pr.MinWrappingTTL < into.minWrap) {
		into.minWrap = pr.MinWrappingTTL
	}
	into.allowed = mergeParams(into.allowed, pr.AllowedParameters)
	into.denied = mergeParams(into.denied, pr.DeniedParameters)
	for _, p := range pr.RequiredParameters {
		into.required = appendUnique(into.required, strings.ToLower(p))
	}
	return into
}

func cloneParams(m map[string][]any) map[string][]any {
	if m == nil {
		return nil
	}
	out := make(map[string][]any, len(m))
	for k, v := range m {
		out[k] = append([]any{}, v...)
	}
	return out
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// IsRoot reports whether the ACL is the root policy's.
func (a *ACL) IsRoot() bool { return a.root }

// Policies returns the sorted names of the policies compiled into the ACL.
func (a *ACL) Policies() []string { return slices.Clone(a.names) }

// Allowed decides one unwrapped request: AllowedWrapped with no wrapping.
func (a *ACL) Allowed(path, op string, data map[string]any) Decision {
	return a.AllowedWrapped(path, op, data, 0)
}

// AllowedWrapped decides one request. path is the full request path
// without "/v1/" (leading slashes are ignored); for op "list" it must end
// in "/" as Vault's router makes it. op is an engines.Operation value:
// "create", "read", "update", "patch", "delete" or "list"; anything else is
// refused. data is the request body (query parameters merged in for reads),
// checked against the rule's parameter constraints for create, update,
// patch and read. wrapTTL is the requested response-wrapping TTL, zero when
// the response is not to be wrapped. AllowedWrapped does not allocate.
func (a *ACL) AllowedWrapped(path, op string, data map[string]any, wrapTTL time.Duration) Decision {
	if a.root {
		return Decision{Allowed: true, Sudo: true, Root: true, Capabilities: capGrants, Policies: rootPolicies}
	}
	for len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	r := a.lookup(path, op == listOperation)
	if r == nil {
		return Decision{Reason: ReasonNoRule}
	}
	d := Decision{
		Sudo:           r.caps&CapSudo != 0,
		Capabilities:   r.caps,
		Rule:           r.pattern,
		Policies:       r.policies,
		MinWrappingTTL: r.minWrap,
		MaxWrappingTTL: r.maxWrap,
	}
	need, ok := opCapability(op)
	switch {
	case !ok:
		d.Reason = ReasonOperation
		return d
	case r.caps&CapDeny != 0:
		d.Reason = ReasonDenied
		return d
	case r.caps&need == 0:
		d.Reason = ReasonCapability
		return d
	}
	if (r.maxWrap > 0 && (wrapTTL <= 0 || wrapTTL > r.maxWrap)) ||
		(r.minWrap > 0 && (wrapTTL <= 0 || wrapTTL < r.minWrap)) ||
		(r.minWrap != 0 && r.maxWrap != 0 && r.maxWrap < r.minWrap) {
		d.Reason = ReasonWrapping
		return d
	}
	switch op {
	case readOperation, createOperation, updateOperation, patchOperation:
		if !r.paramsAllowed(data) {
			d.Reason = ReasonParameters
			return d
		}
	}
	d.Allowed = true
	return d
}

// Capabilities returns the sorted capability names the ACL grants on path,
// as sys/capabilities reports them: ["root"] for the root policy, ["deny"]
// when no rule matches or the matching rule denies. path is used as given
// (no trailing slash is added), with list-style lookup as Vault does.
func (a *ACL) Capabilities(path string) []string {
	if a.root {
		return []string{rootCapability}
	}
	for len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	r := a.lookup(path, true)
	if r == nil {
		return []string{denyCapability}
	}
	return r.caps.Strings()
}

// lookup finds the one rule that governs path, in Vault's order: the exact
// rule for path; for list, the exact rule without the trailing slash, then
// the best glob rule without it; then the best glob rule for path.
func (a *ACL) lookup(path string, list bool) *rule {
	if r, ok := a.exact[path]; ok {
		return r
	}
	if list {
		trimmed := strings.TrimSuffix(path, "/")
		if r, ok := a.exact[trimmed]; ok {
			return r
		}
		if len(trimmed) != len(path) {
			if r := a.nonExact(trimmed); r != nil {
				return r
			}
		}
	}
	return a.nonExact(path)
}
