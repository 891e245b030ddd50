package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// rules renders a policy with one rule per pattern, all with caps.
func rules(caps string, patterns ...string) string {
	s := ""
	for _, p := range patterns {
		s += `path "` + p + `" { capabilities = ` + caps + " }\n"
	}
	return s
}

// TestPrecedence checks which rule governs a path when several match,
// with the examples of Vault's documentation and acl.go comments.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		path     string
		want     string // the winning pattern
	}{
		{"exact beats every glob", []string{"secret/*", "secret/+", "secret/foo", "+/*"}, "secret/foo", "secret/foo"},
		{"longest prefix", []string{"secret/*", "secret/data/*", "secret/d*"}, "secret/data/x", "secret/data/*"},
		{"later glob beats plus: foo/a* over foo/+", []string{"foo/+", "foo/a*"}, "foo/abc", "foo/a*"},
		{"later plus: foo/bar/+/baz over foo/+/bar/baz", []string{"foo/+/bar/baz", "foo/bar/+/baz"}, "foo/bar/bar/baz", "foo/bar/+/baz"},
		{"no glob beats glob: foo/+/bar over foo/+/ba*", []string{"foo/+/ba*", "foo/+/bar"}, "foo/x/bar", "foo/+/bar"},
		{"foo/+ over foo/*", []string{"foo/*", "foo/+"}, "foo/x", "foo/+"},
		{"fewer plus: foo/+/y/baz over foo/+/+/baz", []string{"foo/+/+/baz", "foo/+/y/baz"}, "foo/x/y/baz", "foo/+/y/baz"},
		{"longer: foo/+/bar/ba* over foo/+/bar/b*", []string{"foo/+/bar/b*", "foo/+/bar/ba*"}, "foo/x/bar/bazz", "foo/+/bar/ba*"},
		{"docs: secret/* over secret/+/+/foo/*", []string{"secret/+/+/foo/*", "secret/*"}, "secret/a/b/foo/x", "secret/*"},
		{"lexicographic: greater wins", []string{"+/+/b", "+/a/+"}, "x/a/b", "+/a/+"},
		{"plus matches only one segment", []string{"a/+", "a/*"}, "a/b/c", "a/*"},
		{"plus then glob", []string{"a/+/c*", "*"}, "a/b/cd/e", "a/+/c*"},
		{"plus glob needs the segments", []string{"a/+/c/*", "a*"}, "a/b/c", "a*"},
		{"plus glob with empty last segment", []string{"a/+/*", "a*"}, "a/b/", "a/+/*"},
		{"plus matches an empty segment", []string{"a/+/c"}, "a//c", "a/+/c"},
		{"star alone", []string{"*"}, "anything/at/all", "*"},
		{"plus alone", []string{"+"}, "one", "+"},
		{"plus alone is one segment", []string{"+"}, "one/two", ""},
		{"literal plus segment", []string{"a/+b"}, "a/+b", "a/+b"},
		{"literal plus segment is not a wildcard", []string{"a/+b"}, "a/xb", ""},
		{"plus before a slash is literal", []string{"ab*", "a+/b"}, "a+/b", "a+/b"},
		{"no match", []string{"secret/*"}, "other/x", ""},
		{"exact needs the whole path", []string{"secret/foo"}, "secret/foo/bar", ""},
		{"prefix is plain string prefix", []string{"secret/fo*"}, "secret/foo/bar", "secret/fo*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustACL(t, rules(`["read"]`, tt.patterns...))
			d := a.Allowed(tt.path, "read", nil)
			if d.Rule != tt.want {
				t.Errorf("rule = %q, want %q", d.Rule, tt.want)
			}
			if d.Allowed != (tt.want != "") {
				t.Errorf("Allowed = %v (%s)", d.Allowed, d.Reason)
			}
			// The order of the rules in the policy does not matter.
			rev := make([]string, len(tt.patterns))
			for i, p := range tt.patterns {
				rev[len(rev)-1-i] = p
			}
			if d2 := mustACL(t, rules(`["read"]`, rev...)).Allowed(tt.path, "read", nil); d2.Rule != d.Rule {
				t.Errorf("reversed rules pick %q", d2.Rule)
			}
		})
	}
}

func TestDenyAndUnion(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		path, op string
		allowed  bool
		caps     Capability
	}{
		{"deny glob does not reach a more specific rule",
			[]string{`path "secret/*" { capabilities = ["deny"] }`, `path "secret/foo" { capabilities = ["read"] }`},
			"secret/foo", "read", true, CapRead},
		{"more specific deny wins",
			[]string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/super/*" { capabilities = ["deny"] }`},
			"secret/super/x", "read", false, CapDeny},
		{"less specific deny does not",
			[]string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/super/*" { capabilities = ["deny"] }`},
			"secret/other", "read", true, CapRead},
		{"same path across policies is a union",
			[]string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/*" { capabilities = ["update"] }`},
			"secret/x", "update", true, CapRead | CapUpdate},
		{"same path deny absorbs the union",
			[]string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/*" { capabilities = ["deny"] }`, `path "secret/*" { capabilities = ["list"] }`},
			"secret/x", "read", false, CapDeny},
		{"same path within one policy is a union",
			[]string{`path "a" { capabilities = ["read"] }
path "/a" { capabilities = ["delete"] }`},
			"a", "delete", true, CapRead | CapDelete},
		{"union does not cross patterns",
			[]string{`path "secret/*" { capabilities = ["read"] }`, `path "secret/foo" { capabilities = ["update"] }`},
			"secret/foo", "read", false, CapUpdate},
		{"glob and exact with the same stem are different rules",
			[]string{`path "a" { capabilities = ["read"] }`, `path "a*" { capabilities = ["update"] }`},
			"a", "update", false, CapRead},
		{"segment rules merge by pattern",
			[]string{`path "a/+" { capabilities = ["read"] }`, `path "a/+" { capabilities = ["sudo"] }`},
			"a/b", "read", true, CapRead | CapSudo},
		{"templated rules never match",
			[]string{`path "secret/{{identity.entity.id}}/*" { capabilities = ["read"] }`},
			"secret/{{identity.entity.id}}/x", "read", false, 0},
		{"templated rules do not shadow others",
			[]string{`path "secret/{{identity.entity.id}}/*" { capabilities = ["deny"] }`, `path "secret/*" { capabilities = ["read"] }`},
			"secret/{{identity.entity.id}}/x", "read", true, CapRead},
		{"leading slashes on the request path are ignored",
			[]string{`path "secret/foo" { capabilities = ["read"] }`},
			"//secret/foo", "read", true, CapRead},
		{"unknown operation", []string{`path "a" { capabilities = ["read"] }`}, "a", "help", false, CapRead},
		{"each operation needs its capability", []string{`path "a" { capabilities = ["create","read","update","delete","list"] }`}, "a", "patch", false,
			CapCreate | CapRead | CapUpdate | CapDelete | CapList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustACL(t, tt.policies...).Allowed(tt.path, tt.op, nil)
			if d.Allowed != tt.allowed || d.Capabilities != tt.caps {
				t.Errorf("Allowed, caps = %v, %v; want %v, %v (%s)", d.Allowed, d.Capabilities.Strings(), tt.allowed, tt.caps.Strings(), d.Reason)
			}
			if d.Allowed != (d.Reason == "") {
				t.Errorf("Reason %q with Allowed %v", d.Reason, d.Allowed)
			}
		})
	}
}

func TestListPaths(t *testing.T) {
	tests := []struct {
		name    string
		policy  string
		path    string
		op      string
		allowed bool
	}{
		{"exact rule without the slash", `path "secret/metadata/foo" { capabilities = ["list"] }`, "secret/metadata/foo/", "list", true},
		{"exact rule with the slash", `path "secret/metadata/foo/" { capabilities = ["list"] }`, "secret/metadata/foo/", "list", true},
		{"glob under the directory", `path "secret/metadata/foo/*" { capabilities = ["list"] }`, "secret/metadata/foo/", "list", true},
		{"a read is not trimmed", `path "secret/metadata/foo" { capabilities = ["read"] }`, "secret/metadata/foo/", "read", false},
		{"plus rule on the trimmed path", `path "secret/+/foo" { capabilities = ["list"] }`, "secret/metadata/foo/", "list", true},
		// Vault checks the trimmed path first, so a less specific glob that
		// matches it hides a more specific one that matches only with the
		// slash.
		{"trimmed match first", `path "secret/metadata/fo*" { capabilities = ["read"] }
path "secret/metadata/foo/*" { capabilities = ["list"] }`, "secret/metadata/foo/", "list", false},
		{"root of a mount", `path "secret/*" { capabilities = ["list"] }`, "secret/", "list", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustACL(t, tt.policy).Allowed(tt.path, tt.op, nil)
			if d.Allowed != tt.allowed {
				t.Errorf("Allowed = %v (%s, rule %q)", d.Allowed, d.Reason, d.Rule)
			}
		})
	}
}

func TestParameters(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		op       string
		data     map[string]any
		allowed  bool
	}{
		{"no constraints", []string{`path "p" { capabilities = ["create"] }`}, "create", map[string]any{"x": 1}, true},
		{"allowed any value", []string{`path "p" { capabilities = ["create"] allowed_parameters = { "foo" = [] } }`}, "create", map[string]any{"foo": "anything"}, true},
		{"not in allowed", []string{`path "p" { capabilities = ["create"] allowed_parameters = { "foo" = [] } }`}, "create", map[string]any{"bar": "x"}, false},
		{"allowed empty body", []string{`path "p" { capabilities = ["create"] allowed_parameters = { "foo" = ["x"] } }`}, "create", nil, true},
		{"allowed value", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["bar", "baz-*"] } }`}, "update", map[string]any{"foo": "bar"}, true},
		{"allowed prefix glob", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["bar", "baz-*"] } }`}, "update", map[string]any{"foo": "baz-1"}, true},
		{"allowed suffix glob", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["*-prod"] } }`}, "update", map[string]any{"foo": "db-prod"}, true},
		{"allowed contains glob", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["*mid*"] } }`}, "update", map[string]any{"foo": "amidb"}, true},
		{"lone star value is literal", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["*"] } }`}, "update", map[string]any{"foo": "x"}, false},
		{"value not allowed", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["bar", "baz-*"] } }`}, "update", map[string]any{"foo": "qux"}, false},
		{"comma string all allowed", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["bar", "baz-*"] } }`}, "update", map[string]any{"foo": "bar, baz-2"}, true},
		{"comma string one not allowed", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["bar"] } }`}, "update", map[string]any{"foo": "bar,zip"}, false},
		{"empty string passes a value list", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["bar"] } }`}, "update", map[string]any{"foo": ""}, true},
		{"list value all allowed", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["a", "b"] } }`}, "update", map[string]any{"foo": []any{"a", "b"}}, true},
		{"list value one not allowed", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["a"] } }`}, "update", map[string]any{"foo": []any{"a", "c"}}, false},
		{"numbers compare by value", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "ttl" = [60, 1.5] } }`}, "update", map[string]any{"ttl": float64(60)}, true},
		{"json number", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "ttl" = [60] } }`}, "update", map[string]any{"ttl": json.Number("60")}, true},
		{"number mismatch", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "ttl" = [60] } }`}, "update", map[string]any{"ttl": float64(61)}, false},
		{"bool", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "on" = [true] } }`}, "update", map[string]any{"on": true}, true},
		{"star key alone allows all", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "*" = [] } }`}, "update", map[string]any{"a": 1, "b": "x"}, true},
		{"star key with a constrained key", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "*" = [] "foo" = ["bar"] } }`}, "update", map[string]any{"foo": "zap"}, false},
		{"star key lets others through", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "*" = [] "foo" = ["bar"] } }`}, "update", map[string]any{"foo": "bar", "other": 1}, true},
		{"keys are case-insensitive", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "Foo" = [] } }`}, "update", map[string]any{"FOO": 1}, true},
		{"denied key", []string{`path "p" { capabilities = ["update"] denied_parameters = { "foo" = [] } }`}, "update", map[string]any{"foo": "x"}, false},
		{"denied key absent", []string{`path "p" { capabilities = ["update"] denied_parameters = { "foo" = [] } }`}, "update", map[string]any{"bar": "x"}, true},
		{"denied star", []string{`path "p" { capabilities = ["update"] denied_parameters = { "*" = [] } }`}, "update", map[string]any{"bar": "x"}, false},
		{"denied star empty body", []string{`path "p" { capabilities = ["update"] denied_parameters = { "*" = [] } }`}, "update", map[string]any{}, true},
		{"denied value glob", []string{`path "p" { capabilities = ["update"] denied_parameters = { "foo" = ["*-bad"] } }`}, "update", map[string]any{"foo": "x-bad"}, false},
		{"denied value other", []string{`path "p" { capabilities = ["update"] denied_parameters = { "foo" = ["*-bad"] } }`}, "update", map[string]any{"foo": "good"}, true},
		{"denied comma part", []string{`path "p" { capabilities = ["update"] denied_parameters = { "foo" = ["bad"] } }`}, "update", map[string]any{"foo": "ok,bad"}, false},
		{"denied list element", []string{`path "p" { capabilities = ["update"] denied_parameters = { "foo" = ["bad"] } }`}, "update", map[string]any{"foo": []any{"ok", "bad"}}, false},
		{"denied wins over allowed", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = [] } denied_parameters = { "foo" = ["bad"] } }`}, "update", map[string]any{"foo": "bad"}, false},
		{"required missing", []string{`path "p" { capabilities = ["create"] required_parameters = ["Name"] }`}, "create", map[string]any{"other": 1}, false},
		{"required present", []string{`path "p" { capabilities = ["create"] required_parameters = ["Name"] }`}, "create", map[string]any{"name": 1}, true},
		{"required on an empty body", []string{`path "p" { capabilities = ["create"] required_parameters = ["name"] }`}, "create", nil, false},
		{"read is checked", []string{`path "p" { capabilities = ["read"] required_parameters = ["name"] }`}, "read", nil, false},
		{"patch is checked", []string{`path "p" { capabilities = ["patch"] denied_parameters = { "x" = [] } }`}, "patch", map[string]any{"x": 1}, false},
		{"delete is not checked", []string{`path "p" { capabilities = ["delete"] required_parameters = ["name"] denied_parameters = { "*" = [] } }`}, "delete", map[string]any{"x": 1}, true},
		{"list is not checked", []string{`path "p/" { capabilities = ["list"] required_parameters = ["name"] }`}, "list", nil, true},
		{"merged value lists", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["a"] } }`, `path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["b"] } }`}, "update", map[string]any{"foo": "b"}, true},
		{"merge with any value", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["a"] } }`, `path "p" { capabilities = ["update"] allowed_parameters = { "foo" = [] } }`}, "update", map[string]any{"foo": "z"}, true},
		// Vault quirk, kept: merging an unconstrained rule with a
		// constrained one of the same pattern yields the constraints.
		{"merge narrows an unconstrained rule", []string{`path "p" { capabilities = ["update"] }`, `path "p" { capabilities = ["read"] allowed_parameters = { "foo" = [] } }`}, "update", map[string]any{"bar": 1}, false},
		{"merged required", []string{`path "p" { capabilities = ["update"] required_parameters = ["a"] }`, `path "p" { capabilities = ["update"] required_parameters = ["b"] }`}, "update", map[string]any{"a": 1}, false},
		{"deny merge drops parameters", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = [] } }`, `path "p" { capabilities = ["deny"] }`}, "update", map[string]any{"foo": 1}, false},
		{"nil matches nil", []string{`path "p" { capabilities = ["update"] allowed_parameters = { "foo" = ["a"] } }`}, "update", map[string]any{"foo": nil}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustACL(t, tt.policies...).Allowed("p", tt.op, tt.data)
			if tt.op == "list" {
				d = mustACL(t, tt.policies...).Allowed("p/", tt.op, tt.data)
			}
			if d.Allowed != tt.allowed {
				t.Errorf("Allowed = %v, want %v (%s)", d.Allowed, tt.allowed, d.Reason)
			}
		})
	}
}

func TestWrappingTTL(t *testing.T) {
	a := mustACL(t, `path "w" { capabilities = ["update"] min_wrapping_ttl = "1m" max_wrapping_ttl = "1h" }
path "max" { capabilities = ["update"] max_wrapping_ttl = "1h" }`,
		`path "w" { capabilities = ["read"] max_wrapping_ttl = "30m" }`)
	tests := []struct {
		path    string
		ttl     time.Duration
		allowed bool
	}{
		{"w", 0, false},
		{"w", 30 * time.Second, false},
		{"w", 10 * time.Minute, true},
		{"w", 45 * time.Minute, false}, // the merged maximum is the smaller, 30m
		{"max", 0, false},
		{"max", time.Second, true},
		{"max", 2 * time.Hour, false},
	}
	for _, tt := range tests {
		d := a.AllowedWrapped(tt.path, "update", nil, tt.ttl)
		if d.Allowed != tt.allowed {
			t.Errorf("%s with TTL %v: Allowed = %v (%s)", tt.path, tt.ttl, d.Allowed, d.Reason)
		}
	}
	if d := a.Allowed("w", "update", nil); d.MinWrappingTTL != time.Minute || d.MaxWrappingTTL != 30*time.Minute || d.Reason != ReasonWrapping {
		t.Errorf("Decision = %+v", d)
	}
}

func TestSudoAndDecision(t *testing.T) {
	a := mustACL(t, `path "sys/raw/*" { capabilities = ["read", "sudo"] }`, `path "sys/raw/*" { capabilities = ["list"] }
path "sys/mounts" { capabilities = ["read"] }`)
	d := a.Allowed("sys/raw/x", "read", nil)
	if !d.Allowed || !d.Sudo || d.Rule != "sys/raw/*" || !reflect.DeepEqual(d.Policies, []string{"p0", "p1"}) {
		t.Errorf("Decision = %+v", d)
	}
	if d := a.Allowed("sys/mounts", "read", nil); !d.Allowed || d.Sudo {
		t.Errorf("Decision = %+v", d)
	}
	if d := a.Allowed("sys/raw/x", "update", nil); d.Allowed || !d.Sudo || d.Reason != ReasonCapability {
		t.Errorf("sudo without the capability: %+v", d)
	}
	if got := a.Policies(); !reflect.DeepEqual(got, []string{"p0", "p1"}) {
		t.Errorf("Policies() = %q", got)
	}
}

func TestCapabilities(t *testing.T) {
	a := mustACL(t, `path "secret/*" { capabilities = ["update", "read", "list", "sudo"] }
path "secret/no" { capabilities = ["deny"] }
path "secret/dir" { capabilities = ["patch"] }`)
	tests := map[string][]string{
		"secret/x":    {"list", "read", "sudo", "update"},
		"/secret/x":   {"list", "read", "sudo", "update"},
		"secret/no":   {"deny"},
		"other":       {"deny"},
		"secret/dir/": {"patch"}, // list-style lookup trims the slash
	}
	for path, want := range tests {
		if got := a.Capabilities(path); !reflect.DeepEqual(got, want) {
			t.Errorf("Capabilities(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRoot(t *testing.T) {
	a, err := NewACL(Root())
	if err != nil {
		t.Fatal(err)
	}
	if !a.IsRoot() {
		t.Error("IsRoot() = false")
	}
	for _, op := range []string{"create", "read", "update", "patch", "delete", "list"} {
		d := a.Allowed("sys/raw/anything", op, map[string]any{"x": 1})
		if !d.Allowed || !d.Sudo || !d.Root {
			t.Errorf("%s: %+v", op, d)
		}
	}
	if got := a.Capabilities("any/path"); !reflect.DeepEqual(got, []string{"root"}) {
		t.Errorf("Capabilities = %q", got)
	}
	if _, err := NewACL(Root(), Default()); !errors.Is(err, ErrRootWithOther) {
		t.Errorf("root with default: %v", err)
	}
	if _, err := NewACL(nil, Root(), nil); err != nil {
		t.Errorf("root with nils: %v", err)
	}
	if mustACL(t, `path "a" { capabilities = ["read"] }`).IsRoot() {
		t.Error("non-root ACL reports root")
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	if p.Name != "default" || p.Raw != DefaultText || !p.Templated {
		t.Errorf("Default() = %q templated=%v", p.Name, p.Templated)
	}
	a, err := NewACL(p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, op string
		allowed  bool
	}{
		{"auth/token/lookup-self", "read", true},
		{"auth/token/renew-self", "update", true},
		{"auth/token/revoke-self", "update", true},
		{"auth/token/create", "update", false},
		{"sys/capabilities-self", "update", true},
		{"sys/internal/ui/resultant-acl", "read", true},
		{"sys/leases/lookup", "update", true},
		{"sys/leases/renew", "update", true},
		{"sys/renew", "update", true},
		{"cubbyhole/foo", "create", true},
		{"cubbyhole/foo/", "list", true},
		{"sys/wrapping/unwrap", "update", true},
		{"sys/tools/hash/sha2-256", "update", true},
		{"identity/oidc/provider/p/authorize", "read", true},
		{"identity/entity/id/abc", "read", false},
		{"secret/foo", "read", false},
		{"sys/policies/acl/default", "update", false},
	}
	for _, tt := range tests {
		if d := a.Allowed(tt.path, tt.op, nil); d.Allowed != tt.allowed {
			t.Errorf("%s %s: Allowed = %v (%s)", tt.op, tt.path, d.Allowed, d.Reason)
		}
	}
}

func TestNewACLRejectsBadRules(t *testing.T) {
	for _, path := range []string{"a/+*", "a/{{x"} {
		p := &Policy{Name: "manual", Paths: []PathRule{{Path: path, Capabilities: CapRead}}}
		if _, err := NewACL(p); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("NewACL with %q: %v", path, err)
		}
	}
	// Flags set by hand are recomputed from the path.
	p := &Policy{Name: "manual", Paths: []PathRule{{Path: "a/*", Capabilities: CapRead}}}
	if d := mustNewACL(t, p).Allowed("a/b", "read", nil); !d.Allowed {
		t.Errorf("hand-built glob: %+v", d)
	}
}

func mustNewACL(tb testing.TB, ps ...*Policy) *ACL {
	tb.Helper()
	a, err := NewACL(ps...)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}
