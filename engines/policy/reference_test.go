package policy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// The reference evaluator: a brute-force restatement of Vault's rules,
// written independently of acl.go and match.go. It scans every rule on
// every request.

type refRule struct {
	pattern  string
	kind     int // refExact, refPrefix, refSegments
	key      string
	caps     Capability
	allowed  map[string][]any
	denied   map[string][]any
	required []string
	minW     time.Duration
	maxW     time.Duration
}

const (
	refExact = iota
	refPrefix
	refSegments
)

type refACL struct {
	root  bool
	rules []*refRule
}

func refCompile(ps []*Policy) *refACL {
	a := &refACL{}
	byKey := map[string]*refRule{}
	for _, p := range ps {
		if p == nil {
			continue
		}
		if p.Name == "root" {
			return &refACL{root: true}
		}
		for _, pr := range p.Paths {
			pattern := strings.TrimPrefix(pr.Path, "/")
			if strings.Contains(pattern, "{{") {
				continue
			}
			r := &refRule{pattern: pattern, key: pattern}
			switch {
			case pattern == "+" || strings.HasPrefix(pattern, "+/") || strings.Contains(pattern, "/+"):
				r.kind = refSegments
			case strings.HasSuffix(pattern, "*"):
				r.kind = refPrefix
				r.key = strings.TrimSuffix(pattern, "*")
			}
			id := fmt.Sprint(r.kind, "|", r.key)
			old := byKey[id]
			if old == nil {
				r.caps = pr.Capabilities
				if r.caps&CapDeny == 0 {
					r.allowed = refCopy(pr.AllowedParameters)
					r.denied = refCopy(pr.DeniedParameters)
					for _, q := range pr.RequiredParameters {
						r.required = append(r.required, strings.ToLower(q))
					}
				} else {
					r.caps = CapDeny
				}
				r.minW, r.maxW = pr.MinWrappingTTL, pr.MaxWrappingTTL
				byKey[id] = r
				a.rules = append(a.rules, r)
				continue
			}
			if old.caps&CapDeny != 0 {
				continue
			}
			if pr.Capabilities&CapDeny != 0 {
				old.caps = CapDeny
				old.allowed, old.denied, old.required = nil, nil, nil
				continue
			}
			old.caps |= pr.Capabilities
			if pr.MaxWrappingTTL > 0 && (old.maxW == 0 || pr.MaxWrappingTTL < old.maxW) {
				old.maxW = pr.MaxWrappingTTL
			}
			if pr.MinWrappingTTL > 0 && (old.minW == 0 || pr.MinWrappingTTL < old.minW) {
				old.minW = pr.MinWrappingTTL
			}
			old.allowed = refMergeParams(old.allowed, pr.AllowedParameters)
			old.denied = refMergeParams(old.denied, pr.DeniedParameters)
			for _, q := range pr.RequiredParameters {
				q = strings.ToLower(q)
				found := false
				for _, e := range old.required {
					found = found || e == q
				}
				if !found {
					old.required = append(old.required, q)
				}
			}
		}
	}
	return a
}

func refCopy(m map[string][]any) map[string][]any {
	if m == nil {
		return nil
	}
	out := map[string][]any{}
	for k, v := range m {
		out[k] = append([]any{}, v...)
	}
	return out
}

func refMergeParams(old, add map[string][]any) map[string][]any {
	if len(add) == 0 {
		return old
	}
	if old == nil {
		return refCopy(add)
	}
	for k, v := range add {
		prev, ok := old[k]
		if len(v) == 0 || (ok && len(prev) == 0) {
			old[k] = []any{}
		} else {
			old[k] = append(append([]any{}, v...), prev...)
		}
	}
	return old
}

// refCandidate is a matching non-exact rule with its ranking attributes.
type refCandidate struct {
	r        *refRule
	firstWC  int
	isPrefix bool
	plusSegs int
	stem     string
}

// refRank orders candidates from least to most specific, stating Vault's
// documented priority list as a tuple comparison.
func refRank(c []refCandidate) {
	sort.Slice(c, func(i, j int) bool {
		a, b := c[i], c[j]
		ka := []int{a.firstWC, boolInt(!a.isPrefix), -a.plusSegs, len(a.stem)}
		kb := []int{b.firstWC, boolInt(!b.isPrefix), -b.plusSegs, len(b.stem)}
		for n := range ka {
			if ka[n] != kb[n] {
				return ka[n] < kb[n]
			}
		}
		return a.stem < b.stem
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *refACL) best(path string) *refRule {
	var cands []refCandidate
	parts := strings.Split(path, "/")
	for _, r := range a.rules {
		switch r.kind {
		case refPrefix:
			if strings.HasPrefix(path, r.key) {
				cands = append(cands, refCandidate{r: r, firstWC: len(r.key), isPrefix: true, stem: r.key})
			}
		case refSegments:
			c := refCandidate{r: r, firstWC: strings.Index(r.pattern, "+"), stem: r.pattern}
			if strings.HasSuffix(r.pattern, "*") {
				c.isPrefix = true
				c.stem = strings.TrimSuffix(r.pattern, "*")
			}
			segs := strings.Split(c.stem, "/")
			if len(parts) < len(segs) || (!c.isPrefix && len(parts) != len(segs)) {
				continue
			}
			ok := true
			for i, s := range segs {
				switch {
				case s == "+":
					c.plusSegs++
				case s == parts[i]:
				case c.isPrefix && i == len(segs)-1 && strings.HasPrefix(parts[i], s):
				default:
					ok = false
				}
			}
			if ok {
				cands = append(cands, c)
			}
		}
	}
	if len(cands) == 0 {
		return nil
	}
	refRank(cands)
	return cands[len(cands)-1].r
}

func (a *refACL) exact(path string) *refRule {
	for _, r := range a.rules {
		if r.kind == refExact && r.key == path {
			return r
		}
	}
	return nil
}

func (a *refACL) lookup(path string, list bool) *refRule {
	path = strings.TrimLeft(path, "/")
	if r := a.exact(path); r != nil {
		return r
	}
	if list {
		if r := a.exact(strings.TrimSuffix(path, "/")); r != nil {
			return r
		}
		if strings.HasSuffix(path, "/") {
			if r := a.best(strings.TrimSuffix(path, "/")); r != nil {
				return r
			}
		}
	}
	return a.best(path)
}

func (a *refACL) allowed(path, op string, data map[string]any, wrapTTL time.Duration) (bool, *refRule) {
	if a.root {
		return true, nil
	}
	r := a.lookup(path, op == "list")
	if r == nil {
		return false, nil
	}
	need := map[string]Capability{"create": CapCreate, "read": CapRead, "update": CapUpdate,
		"patch": CapPatch, "delete": CapDelete, "list": CapList}[op]
	if need == 0 || r.caps&CapDeny != 0 || r.caps&need == 0 {
		return false, r
	}
	if r.maxW > 0 && (wrapTTL == 0 || wrapTTL > r.maxW) {
		return false, r
	}
	if r.minW > 0 && (wrapTTL == 0 || wrapTTL < r.minW) {
		return false, r
	}
	if r.minW > 0 && r.maxW > 0 && r.maxW < r.minW {
		return false, r
	}
	if op == "list" || op == "delete" {
		return true, r
	}
	return refParams(r, data), r
}

func refParams(r *refRule, data map[string]any) bool {
	for _, q := range r.required {
		if _, ok := data[q]; !ok {
			return false
		}
	}
	if len(data) == 0 {
		return true
	}
	if _, ok := r.denied["*"]; ok && len(r.denied) > 0 {
		return false
	}
	for k, v := range data {
		if list, ok := r.denied[strings.ToLower(k)]; ok {
			if len(list) == 0 || refIn(v, list) {
				return false
			}
			for _, e := range refElems(v) {
				if refIn(e, list) {
					return false
				}
			}
		}
	}
	if len(r.allowed) == 0 {
		return true
	}
	_, star := r.allowed["*"]
	if star && len(r.allowed) == 1 {
		return true
	}
	for k, v := range data {
		list, ok := r.allowed[strings.ToLower(k)]
		if !ok {
			if star {
				continue
			}
			return false
		}
		if len(list) == 0 || refIn(v, list) {
			continue
		}
		elems := refElems(v)
		if elems == nil {
			return false
		}
		for _, e := range elems {
			if !refIn(e, list) {
				return false
			}
		}
	}
	return true
}

// refElems splits a value the way Vault retries a failed match: list
// elements, or comma-separated parts of a string; nil for anything else.
func refElems(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case string:
		out := []any{}
		if x == "" {
			return out
		}
		for _, p := range strings.Split(x, ",") {
			out = append(out, strings.TrimSpace(p))
		}
		return out
	}
	return nil
}

func refIn(v any, list []any) bool {
	for _, el := range list {
		switch e := el.(type) {
		case nil:
			if v == nil {
				return true
			}
		case string:
			s, ok := v.(string)
			if !ok {
				continue
			}
			switch {
			case len(e) >= 2 && e[0] == '*' && e[len(e)-1] == '*':
				if strings.Contains(s, e[1:len(e)-1]) {
					return true
				}
			case len(e) >= 2 && e[0] == '*':
				if strings.HasSuffix(s, e[1:]) {
					return true
				}
			case len(e) >= 2 && e[len(e)-1] == '*':
				if strings.HasPrefix(s, e[:len(e)-1]) {
					return true
				}
			case s == e:
				return true
			}
		case int:
			if f, ok := v.(float64); ok && f == float64(e) {
				return true
			}
			if i, ok := v.(int); ok && i == e {
				return true
			}
		default:
			if v != nil && reflect.DeepEqual(el, v) {
				return true
			}
		}
	}
	return false
}

// gen produces random policies and requests over a small alphabet, so
// that rules overlap often.
type gen struct {
	r *rand.Rand
	// dense narrows the alphabet to "a", "b" and "+", so that many rules
	// match the same path and the finer tie-breaks get exercised.
	dense bool
}

func (g gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g gen) pattern() string {
	switch g.r.IntN(20) {
	case 0:
		return "*"
	case 1:
		return "+"
	case 2:
		return "a/{{identity.entity.id}}/*"
	}
	n := 1 + g.r.IntN(4)
	segs := make([]string, n)
	for i := range segs {
		if g.dense {
			segs[i] = g.pick("a", "b", "+")
		} else {
			segs[i] = g.pick("a", "b", "ab", "+", "a", "b")
		}
	}
	p := strings.Join(segs, "/")
	switch g.r.IntN(4) {
	case 0:
		if strings.HasSuffix(p, "+") {
			p += "/*"
		} else {
			p += "*"
		}
	case 1:
		p += "/*"
	case 2:
		if !strings.HasSuffix(p, "+") {
			p = p[:len(p)-1] + "*" // a partial last segment: "a/a*" from "a/ab"
		}
	}
	if g.r.IntN(10) == 0 {
		p = "/" + p
	}
	return p
}

func (g gen) values() string {
	return g.pick(`[]`, `["x"]`, `["x*"]`, `["*y"]`, `["x", "y"]`, `[1]`, `["*x*"]`)
}

func (g gen) rule() string {
	var b strings.Builder
	fmt.Fprintf(&b, "path %q {\n", g.pattern())
	if g.r.IntN(8) == 0 {
		b.WriteString("  capabilities = [\"deny\"]\n")
	} else {
		var caps []string
		for _, c := range []string{"create", "read", "update", "patch", "delete", "list", "sudo"} {
			if g.r.IntN(2) == 0 {
				caps = append(caps, `"`+c+`"`)
			}
		}
		fmt.Fprintf(&b, "  capabilities = [%s]\n", strings.Join(caps, ", "))
	}
	if g.r.IntN(4) == 0 {
		fmt.Fprintf(&b, "  allowed_parameters = { %q = %s }\n", g.pick("a", "b", "*", "A"), g.values())
	}
	if g.r.IntN(6) == 0 {
		fmt.Fprintf(&b, "  denied_parameters = { %q = %s }\n", g.pick("a", "b", "*"), g.values())
	}
	if g.r.IntN(8) == 0 {
		fmt.Fprintf(&b, "  required_parameters = [%q]\n", g.pick("a", "b", "C"))
	}
	// Each rule is valid on its own; merged rules may still end up with
	// max < min, which must then deny.
	maxW := ""
	if g.r.IntN(12) == 0 {
		maxW = g.pick("1m", "1h")
		fmt.Fprintf(&b, "  max_wrapping_ttl = %q\n", maxW)
	}
	if g.r.IntN(12) == 0 {
		minW := g.pick("30s", "2m")
		if maxW != "1m" || minW != "2m" {
			fmt.Fprintf(&b, "  min_wrapping_ttl = %q\n", minW)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (g gen) policy() string {
	var b strings.Builder
	for range 1 + g.r.IntN(8) {
		b.WriteString(g.rule())
	}
	return b.String()
}

func (g gen) path(op string) string {
	n := 1 + g.r.IntN(5)
	segs := make([]string, n)
	for i := range segs {
		if g.dense {
			segs[i] = g.pick("a", "b")
		} else {
			segs[i] = g.pick("a", "b", "ab", "ba", "a", "b", "abc", "+", "")
		}
	}
	p := strings.Join(segs, "/")
	if op == "list" || g.r.IntN(8) == 0 {
		p += "/"
	}
	return p
}

func (g gen) data() map[string]any {
	if g.r.IntN(3) == 0 {
		return nil
	}
	m := map[string]any{}
	for range g.r.IntN(3) {
		m[g.pick("a", "b", "A", "c")] = []any{"x", "y", "x,y", "", 1.0, []any{"x", "z"}, nil, "xyz", "zy"}[g.r.IntN(9)]
	}
	return m
}

// checkAgainstReference compares one request on a and ref.
func checkAgainstReference(t testing.TB, a *ACL, ref *refACL, path, op string, data map[string]any, wrap time.Duration, context string) {
	t.Helper()
	d := a.AllowedWrapped(path, op, data, wrap)
	ok, r := ref.allowed(path, op, data, wrap)
	if d.Allowed != ok {
		t.Fatalf("%s\n%s %q data=%v wrap=%v: Allowed = %v (%s, rule %q), reference %v", context, op, path, data, wrap, d.Allowed, d.Reason, d.Rule, ok)
	}
	if ref.root {
		return
	}
	wantRule, wantCaps := "", Capability(0)
	if r != nil {
		wantRule, wantCaps = r.pattern, r.caps
	}
	if strings.TrimPrefix(d.Rule, "/") != strings.TrimPrefix(wantRule, "/") || d.Capabilities != wantCaps || d.Sudo != (wantCaps&CapSudo != 0) {
		t.Fatalf("%s\n%s %q: rule %q caps %v, reference rule %q caps %v", context, op, path, d.Rule, d.Capabilities.Strings(), wantRule, wantCaps.Strings())
	}
}

func TestDifferential(t *testing.T) {
	const sets, requests = 400, 40
	g := gen{r: rand.New(rand.NewPCG(1, 2))}
	ops := []string{"create", "read", "update", "patch", "delete", "list"}
	var allowed, total int
	for s := range sets {
		g.dense = s%2 == 1
		var texts []string
		var ps []*Policy
		for i := range 1 + g.r.IntN(4) {
			text := g.policy()
			texts = append(texts, text)
			ps = append(ps, mustParse(t, fmt.Sprint("p", i), text))
		}
		a, err := NewACL(ps...)
		if err != nil {
			t.Fatalf("NewACL: %v\n%s", err, strings.Join(texts, "\n---\n"))
		}
		ref := refCompile(ps)
		context := fmt.Sprintf("set %d:\n%s", s, strings.Join(texts, "---\n"))
		for range requests {
			op := ops[g.r.IntN(len(ops))]
			path := g.path(op)
			var wrap time.Duration
			if g.r.IntN(6) == 0 {
				wrap = []time.Duration{10 * time.Second, 90 * time.Second, 10 * time.Minute, 2 * time.Hour}[g.r.IntN(4)]
			}
			checkAgainstReference(t, a, ref, path, op, g.data(), wrap, context)
			total++
			if a.AllowedWrapped(path, op, nil, wrap).Allowed {
				allowed++
			}
			want := "deny"
			if r := ref.lookup(path, true); r != nil {
				want = strings.Join(r.caps.Strings(), ",")
			}
			if got := strings.Join(a.Capabilities(path), ","); got != want {
				t.Fatalf("%s\nCapabilities(%q) = %s, reference %s", context, path, got, want)
			}
		}
	}
	t.Logf("%d requests, %d allowed without a body", total, allowed)
	if allowed < total/20 || allowed > total*19/20 {
		t.Errorf("generator is lopsided: %d of %d allowed", allowed, total)
	}
}
