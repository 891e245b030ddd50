package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/printer"
	"github.com/hashicorp/hcl/hcl/token"
)

// Policy is one parsed ACL policy.
type Policy struct {
	// Name is the policy's name; Parse sets it to the name it is given.
	Name string
	// Raw is the text the policy was parsed from.
	Raw string
	// Paths are the rules in the order they appear in Raw.
	Paths []PathRule
	// Templated is true when any rule's path holds a {{...}} template.
	Templated bool
}

// PathRule is one `path "..." { ... }` block.
type PathRule struct {
	// Path is the pattern as written, without a leading "/" and with its
	// trailing "*" if it has one.
	Path string
	// Glob is true for a plain prefix rule: a trailing "*" and no "+"
	// segment.
	Glob bool
	// Segments is true when the pattern has a "+" segment (it may also
	// end in "*").
	Segments bool
	// Templated is true when Path holds a {{...}} template; such a rule
	// never matches (see the package comment).
	Templated bool
	// Capabilities is the set granted; CapDeny alone for a deny rule.
	Capabilities Capability
	// AllowedParameters and DeniedParameters map lower-cased parameter
	// names (or "*") to value patterns; an empty list means any value.
	// Nil means no constraint was written.
	AllowedParameters map[string][]any
	DeniedParameters  map[string][]any
	// RequiredParameters must all be present in the request.
	RequiredParameters []string
	// MinWrappingTTL and MaxWrappingTTL, when non-zero, require the
	// response to be wrapped with a TTL in range.
	MinWrappingTTL time.Duration
	MaxWrappingTTL time.Duration
}

// pathBody is what a path block decodes into. Durations are decoded
// untyped because Vault accepts both numbers of seconds and strings.
type pathBody struct {
	Policy             string           `hcl:"policy"`
	Capabilities       []string         `hcl:"capabilities"`
	MinWrappingTTL     any              `hcl:"min_wrapping_ttl"`
	MaxWrappingTTL     any              `hcl:"max_wrapping_ttl"`
	AllowedParameters  map[string][]any `hcl:"allowed_parameters"`
	DeniedParameters   map[string][]any `hcl:"denied_parameters"`
	RequiredParameters []string         `hcl:"required_parameters"`
}

var (
	topLevelKeys = []string{"name", "path"}
	pathKeys     = []string{
		"comment", "policy", "capabilities",
		"allowed_parameters", "denied_parameters", "required_parameters",
		"min_wrapping_ttl", "max_wrapping_ttl",
	}
	// enterpriseKeys are valid in Vault Enterprise only; refusing them is
	// safer than ignoring an MFA or control-group requirement.
	enterpriseKeys = []string{"mfa_methods", "control_group"}
)

// legacyPolicies maps the pre-0.5 `policy = "..."` values to capabilities.
var legacyPolicies = map[string]Capability{
	"deny":  CapDeny,
	"read":  CapRead | CapList,
	"write": CapCreate | CapRead | CapUpdate | CapDelete | CapList,
	"sudo":  CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo,
}

// Parse parses one policy document, HCL or JSON. Every error wraps
// ErrInvalidPolicy and its message is safe to return to the client. Parse
// does not check name; the caller validates names.
func Parse(name, text string) (p *Policy, err error) {
	// The HCL library panics on some malformed tokens (Token.Value); a
	// policy is client input, so turn any panic there into an error.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: malformed HCL", ErrInvalidPolicy)
		}
	}()
	if nestingDepth(text) > maxNesting {
		return nil, fmt.Errorf("%w: nested more than %d levels deep", ErrInvalidPolicy, maxNesting)
	}
	if isJSON(text) && !json.Valid([]byte(text)) {
		return nil, fmt.Errorf("%w: invalid JSON", ErrInvalidPolicy)
	}
	root, err := hcl.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	list, ok := root.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("%w: does not contain a root object", ErrInvalidPolicy)
	}
	if err := checkKeys(list, topLevelKeys, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	p = &Policy{Name: name, Raw: text}
	for _, item := range list.Filter("path").Items {
		r, err := parsePath(item)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
		}
		p.Templated = p.Templated || r.Templated
		p.Paths = append(p.Paths, r)
	}
	return p, nil
}

// maxNesting bounds how deeply brackets and braces may nest. Real
// policies nest four or five levels; the HCL parser takes time
// superlinear in the depth (seconds at a few thousand), so deeper input is
// refused before it is parsed.
const maxNesting = 32

// nestingDepth returns the deepest nesting of [ and { in text, skipping
// quoted strings and comments. It is a cheap over-estimate used only to
// refuse pathological input.
func nestingDepth(text string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			for i++; i < len(text) && text[i] != '"' && text[i] != '\n'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case c == '#' || (c == '/' && i+1 < len(text) && text[i+1] == '/'):
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return deepest
			}
			i += end + 3
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case (c == ']' || c == '}') && depth > 0:
			depth--
		}
	}
	return deepest
}

// isJSON reports whether the HCL library will read text as JSON: its
// first non-space character is "{".
func isJSON(text string) bool {
	return strings.HasPrefix(strings.TrimLeftFunc(text, unicode.IsSpace), "{")
}

// checkKeys reports the first key of list not in valid, or in refused.
func checkKeys(list *ast.ObjectList, valid, refused []string) error {
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			return errors.New("item without a key")
		}
		key, ok := keyString(item.Keys[0])
		if !ok {
			return fmt.Errorf("invalid key on line %d", item.Keys[0].Pos().Line)
		}
		for _, r := range refused {
			if key == r {
				return fmt.Errorf("%q is not supported (line %d)", key, item.Keys[0].Pos().Line)
			}
		}
		found := false
		for _, v := range valid {
			if key == v {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("invalid key %q on line %d", key, item.Keys[0].Pos().Line)
		}
	}
	return nil
}

// keyString returns the text of an object key without panicking on odd
// token types.
func keyString(k *ast.ObjectKey) (string, bool) {
	switch k.Token.Type {
	case token.IDENT, token.STRING:
		s, ok := k.Token.Value().(string)
		return s, ok
	}
	return "", false
}

func parsePath(item *ast.ObjectItem) (PathRule, error) {
	var r PathRule
	if len(item.Keys) != 1 {
		return r, fmt.Errorf("path block on line %d needs exactly one path pattern", item.Val.Pos().Line)
	}
	path, ok := keyString(item.Keys[0])
	if !ok {
		return r, fmt.Errorf("invalid path pattern on line %d", item.Pos().Line)
	}
	body, ok := item.Val.(*ast.ObjectType)
	if !ok {
		return r, fmt.Errorf("path %q: expected a block", path)
	}
	if err := checkKeys(body.List, pathKeys, enterpriseKeys); err != nil {
		return r, fmt.Errorf("path %q: %v", path, err)
	}
	var b pathBody
	if err := hcl.DecodeObject(&b, body); err != nil {
		return r, fmt.Errorf("path %q: %v", path, err)
	}

	path = strings.TrimPrefix(path, "/")
	kind, err := classify(path)
	if err != nil {
		return r, err
	}
	templated, err := hasTemplate(path)
	if err != nil {
		return r, fmt.Errorf("path %q: %v", path, err)
	}
	r = PathRule{
		Path:      path,
		Glob:      kind.glob,
		Segments:  kind.segments,
		Templated: templated,
	}

	var caps Capability
	for _, name := range b.Capabilities {
		c, ok := capabilityByName(name)
		if !ok {
			return r, fmt.Errorf("path %q: invalid capability %q", path, name)
		}
		caps |= c
	}
	if b.Policy != "" {
		legacy, ok := legacyPolicies[b.Policy]
		if !ok {
			return r, fmt.Errorf("path %q: invalid policy %q", path, b.Policy)
		}
		caps |= legacy
	}
	if caps&CapDeny != 0 {
		caps = CapDeny
	}
	r.Capabilities = caps

	if r.AllowedParameters, err = parseParams(b.AllowedParameters); err != nil {
		return r, fmt.Errorf("path %q: allowed_parameters: %v", path, err)
	}
	if r.DeniedParameters, err = parseParams(b.DeniedParameters); err != nil {
		return r, fmt.Errorf("path %q: denied_parameters: %v", path, err)
	}
	for _, k := range b.RequiredParameters {
		if strings.Contains(k, "*") {
			return r, fmt.Errorf("path %q: required_parameters: parameter key %q: wildcard is not permitted here", path, k)
		}
	}
	if len(b.RequiredParameters) > 0 {
		r.RequiredParameters = b.RequiredParameters
	}
	if r.MinWrappingTTL, err = parseDuration(b.MinWrappingTTL); err != nil {
		return r, fmt.Errorf("path %q: min_wrapping_ttl: %v", path, err)
	}
	if r.MaxWrappingTTL, err = parseDuration(b.MaxWrappingTTL); err != nil {
		return r, fmt.Errorf("path %q: max_wrapping_ttl: %v", path, err)
	}
	if r.MinWrappingTTL != 0 && r.MaxWrappingTTL != 0 && r.MaxWrappingTTL < r.MinWrappingTTL {
		return r, fmt.Errorf("path %q: max_wrapping_ttl cannot be less than min_wrapping_ttl", path)
	}
	return r, nil
}

// patternKind is how a path pattern matches.
type patternKind struct {
	glob     bool // trailing "*", no "+" segment: a prefix rule
	segments bool // has a "+" segment (may also end in "*")
}

// classify decides how a pattern matches, with Vault's exact tests: a "+"
// counts as a segment wildcard when the whole pattern is "+", it starts
// with "+/", or "/+" appears anywhere.
func classify(path string) (patternKind, error) {
	var k patternKind
	if strings.Contains(path, "+*") {
		return k, fmt.Errorf("path %q: invalid use of wildcards ('+*' is forbidden)", path)
	}
	k.segments = path == "+" || strings.HasPrefix(path, "+/") || strings.Contains(path, "/+")
	k.glob = !k.segments && strings.HasSuffix(path, "*")
	return k, nil
}

// hasTemplate reports whether s holds {{...}} templates, and whether the
// braces are balanced (the same validity check Vault makes).
func hasTemplate(s string) (bool, error) {
	pieces := strings.Split(s, "{{")
	if strings.Contains(pieces[0], "}}") {
		return false, errors.New("unbalanced templating characters")
	}
	for _, p := range pieces[1:] {
		if strings.Count(p, "}}") != 1 {
			return false, errors.New("unbalanced templating characters")
		}
	}
	return len(pieces) > 1, nil
}

// parseParams validates and lower-cases a parameter constraint map.
func parseParams(in map[string][]any) (map[string][]any, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string][]any, len(in))
	// Deterministic order, so that keys differing only in case merge the
	// same way every time.
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validateParamKey(k); err != nil {
			return nil, err
		}
		v := in[k]
		if v == nil {
			v = []any{}
		}
		lk := strings.ToLower(k)
		if prev, ok := out[lk]; ok {
			v = mergeValues(prev, v)
		}
		out[lk] = v
	}
	return out, nil
}

// validateParamKey allows "*" and JSON-pointer keys ending in "/*" as the
// only wildcard keys, as Vault does.
func validateParamKey(k string) error {
	if !strings.Contains(k, "*") {
		return nil
	}
	if k == "*" {
		return nil
	}
	if strings.HasPrefix(k, "/") && strings.HasSuffix(k, "/*") && !strings.Contains(k[:len(k)-2], "*") {
		return nil
	}
	return fmt.Errorf("parameter key %q cannot contain non-tail wildcards", k)
}

// parseDuration accepts what Vault accepts for a TTL: a number of seconds
// (number or digit string), a Go duration ("90s", "1h30m") or whole days
// ("7d").
func parseDuration(v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		d = time.Duration(x) * time.Second
		if x != 0 && d/time.Second != time.Duration(x) {
			return 0, errors.New("duration out of range")
		}
	case float64:
		d = time.Duration(x * float64(time.Second))
	case string:
		if x == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			d = time.Duration(n) * time.Second
			if n != 0 && d/time.Second != time.Duration(n) {
				return 0, errors.New("duration out of range")
			}
			break
		}
		if days, ok := strings.CutSuffix(x, "d"); ok {
			n, err := strconv.ParseInt(days, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q", x)
			}
			d = time.Duration(n) * 24 * time.Hour
			if n != 0 && d/(24*time.Hour) != time.Duration(n) {
				return 0, errors.New("duration out of range")
			}
			break
		}
		var err error
		if d, err = time.ParseDuration(x); err != nil {
			return 0, fmt.Errorf("invalid duration %q", x)
		}
	default:
		return 0, fmt.Errorf("invalid duration of type %T", v)
	}
	if d < 0 {
		return 0, errors.New("duration cannot be negative")
	}
	return d, nil
}

// Format returns the canonical text of a policy, as `policy fmt` prints it:
// HCL through the HCL printer, JSON indented by two spaces. The text must
// parse; the result is checked to parse to the same rules, so Format never
// changes what a policy means.
func Format(text string) (string, error) {
	p, err := Parse("", text)
	if err != nil {
		return "", err
	}
	var out []byte
	if isJSON(text) {
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte(strings.TrimSpace(text)), "", "  "); err != nil {
			return "", fmt.Errorf("%w: invalid JSON", ErrInvalidPolicy)
		}
		buf.WriteByte('\n')
		out = buf.Bytes()
	} else if out, err = printer.Format([]byte(text)); err != nil {
		return "", fmt.Errorf("%w: cannot format: %v", ErrInvalidPolicy, err)
	}
	q, err := Parse("", string(out))
	if err != nil || !reflect.DeepEqual(p.Paths, q.Paths) {
		return "", fmt.Errorf("%w: cannot be formatted without changing its meaning", ErrInvalidPolicy)
	}
	return string(out), nil
}
