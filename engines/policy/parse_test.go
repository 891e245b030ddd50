package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseGood(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []PathRule
	}{
		{"empty", ``, nil},
		{"capabilities", `path "secret/foo" { capabilities = ["read", "list"] }`,
			[]PathRule{{Path: "secret/foo", Capabilities: CapRead | CapList}}},
		{"every capability", `path "a" { capabilities = ["create","read","update","patch","delete","list","sudo"] }`,
			[]PathRule{{Path: "a", Capabilities: capGrants}}},
		{"deny drops the rest", `path "a" { capabilities = ["read", "deny", "sudo"] }`,
			[]PathRule{{Path: "a", Capabilities: CapDeny}}},
		{"legacy read", `path "a" { policy = "read" }`,
			[]PathRule{{Path: "a", Capabilities: CapRead | CapList}}},
		{"legacy write", `path "a" { policy = "write" }`,
			[]PathRule{{Path: "a", Capabilities: CapCreate | CapRead | CapUpdate | CapDelete | CapList}}},
		{"legacy sudo", `path "a" { policy = "sudo" }`,
			[]PathRule{{Path: "a", Capabilities: CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo}}},
		{"legacy deny", `path "a" { policy = "deny" capabilities = ["read"] }`,
			[]PathRule{{Path: "a", Capabilities: CapDeny}}},
		{"legacy plus capabilities", `path "a" { policy = "read" capabilities = ["patch"] }`,
			[]PathRule{{Path: "a", Capabilities: CapRead | CapList | CapPatch}}},
		{"leading slash", `path "/secret/x" { capabilities = ["read"] }`,
			[]PathRule{{Path: "secret/x", Capabilities: CapRead}}},
		{"glob", `path "secret/*" { capabilities = ["read"] }`,
			[]PathRule{{Path: "secret/*", Glob: true, Capabilities: CapRead}}},
		{"segment", `path "secret/+/x" { capabilities = ["read"] }`,
			[]PathRule{{Path: "secret/+/x", Segments: true, Capabilities: CapRead}}},
		{"segment and glob", `path "+/x/*" { capabilities = ["read"] }`,
			[]PathRule{{Path: "+/x/*", Segments: true, Capabilities: CapRead}}},
		{"lone plus", `path "+" { capabilities = ["read"] }`,
			[]PathRule{{Path: "+", Segments: true, Capabilities: CapRead}}},
		{"plus inside a segment is literal", `path "a+b/c*" { capabilities = ["read"] }`,
			[]PathRule{{Path: "a+b/c*", Glob: true, Capabilities: CapRead}}},
		{"star inside is literal", `path "a*/b" { capabilities = ["read"] }`,
			[]PathRule{{Path: "a*/b", Capabilities: CapRead}}},
		{"no capabilities", `path "a" {}`, []PathRule{{Path: "a"}}},
		{"comment key and top-level name", `name = "x"
path "a" { comment = "why"
 capabilities = ["read"] }`, []PathRule{{Path: "a", Capabilities: CapRead}}},
		{"parameters", `path "a" {
  capabilities = ["create"]
  allowed_parameters = { "Foo" = [] "bar" = ["x", "y-*", 3] "*" = [] }
  denied_parameters = { "secret" = [] }
  required_parameters = ["Foo"]
}`, []PathRule{{Path: "a", Capabilities: CapCreate,
			AllowedParameters:  map[string][]any{"foo": {}, "bar": {"x", "y-*", 3}, "*": {}},
			DeniedParameters:   map[string][]any{"secret": {}},
			RequiredParameters: []string{"Foo"}}}},
		{"pointer parameter key", `path "a" { allowed_parameters = { "/x/*" = [] } }`,
			[]PathRule{{Path: "a", AllowedParameters: map[string][]any{"/x/*": {}}}}},
		{"keys differing in case merge", `path "a" { allowed_parameters = { "A" = ["1"] "a" = ["2"] } }`,
			[]PathRule{{Path: "a", AllowedParameters: map[string][]any{"a": {"1", "2"}}}}},
		{"durations", `path "a" {
  min_wrapping_ttl = 90
  max_wrapping_ttl = "2h"
}`, []PathRule{{Path: "a", MinWrappingTTL: 90 * time.Second, MaxWrappingTTL: 2 * time.Hour}}},
		{"duration seconds string and days", `path "a" { min_wrapping_ttl = "300"
 max_wrapping_ttl = "2d" }`, []PathRule{{Path: "a", MinWrappingTTL: 5 * time.Minute, MaxWrappingTTL: 48 * time.Hour}}},
		{"templated", `path "secret/{{identity.entity.id}}/*" { capabilities = ["read"] }`,
			[]PathRule{{Path: "secret/{{identity.entity.id}}/*", Glob: true, Templated: true, Capabilities: CapRead}}},
		{"repeated path kept in order", `path "a" { capabilities = ["read"] }
path "a" { capabilities = ["list"] }`, []PathRule{{Path: "a", Capabilities: CapRead}, {Path: "a", Capabilities: CapList}}},
		{"json", `{"path": {"secret/*": {"capabilities": ["read"]}, "b": {"policy": "write"}}}`,
			[]PathRule{{Path: "secret/*", Glob: true, Capabilities: CapRead},
				{Path: "b", Capabilities: CapCreate | CapRead | CapUpdate | CapDelete | CapList}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, "n", tt.text)
			if p.Name != "n" || p.Raw != tt.text {
				t.Errorf("Name, Raw = %q, %q", p.Name, p.Raw)
			}
			if !reflect.DeepEqual(p.Paths, tt.want) {
				t.Errorf("Paths =\n%+v\nwant\n%+v", p.Paths, tt.want)
			}
			templated := false
			for _, r := range tt.want {
				templated = templated || r.Templated
			}
			if p.Templated != templated {
				t.Errorf("Templated = %v", p.Templated)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"syntax", `path "a" {`, "invalid policy"},
		{"not a block", `path "a" = "read"`, "invalid policy"},
		{"unknown top-level key", `paths "a" { capabilities = ["read"] }`, `invalid key "paths"`},
		{"unknown path key", `path "a" { capability = ["read"] }`, `invalid key "capability"`},
		{"unknown capability", `path "a" { capabilities = ["read", "write"] }`, `invalid capability "write"`},
		{"root is not a capability", `path "a" { capabilities = ["root"] }`, `invalid capability "root"`},
		{"unknown capability after deny", `path "a" { capabilities = ["deny", "bogus"] }`, `invalid capability "bogus"`},
		{"capabilities not a list", `path "a" { capabilities = "read" }`, `path "a"`},
		{"unknown legacy policy", `path "a" { policy = "admin" }`, `invalid policy "admin"`},
		{"plus star", `path "a/+*" { capabilities = ["read"] }`, `'+*' is forbidden`},
		{"plus star inside", `path "a+*" { capabilities = ["read"] }`, `'+*' is forbidden`},
		{"no pattern", `path { capabilities = ["read"] }`, "exactly one path pattern"},
		{"two patterns", `path "a" "b" { capabilities = ["read"] }`, "exactly one path pattern"},
		{"bad duration", `path "a" { max_wrapping_ttl = "soon" }`, "max_wrapping_ttl"},
		{"negative duration", `path "a" { min_wrapping_ttl = "-5s" }`, "negative"},
		{"duration overflow", `path "a" { min_wrapping_ttl = "9999999999999999d" }`, "min_wrapping_ttl"},
		{"duration wrong type", `path "a" { min_wrapping_ttl = true }`, "min_wrapping_ttl"},
		{"max below min", `path "a" { min_wrapping_ttl = "1h" max_wrapping_ttl = "1m" }`, "cannot be less"},
		{"wildcard required parameter", `path "a" { required_parameters = ["*"] }`, "wildcard is not permitted"},
		{"non-tail wildcard key", `path "a" { allowed_parameters = { "a*b" = [] } }`, "non-tail wildcards"},
		{"denied non-tail wildcard key", `path "a" { denied_parameters = { "*a" = [] } }`, "denied_parameters"},
		{"parameter values not a list", `path "a" { allowed_parameters = { "a" = "b" } }`, `path "a"`},
		{"unbalanced template", `path "a/{{identity.entity.id" { capabilities = ["read"] }`, "unbalanced"},
		{"unbalanced template close", `path "a/}}x" { capabilities = ["read"] }`, "unbalanced"},
		{"mfa methods", `path "a" { mfa_methods = ["x"] }`, `"mfa_methods" is not supported`},
		{"control group", `path "a" { control_group = { ttl = "1h" } }`, `"control_group" is not supported`},
		{"repeated key", `path "a" { capabilities = ["read"] capabilities = ["list"] }`, "already set"},
		{"json root not object", `["path"]`, "invalid policy"},
		{"invalid json", `{"path""${":{`, "invalid JSON"},
		{"nested too deep", `path "a" { allowed_parameters = { "x" = ` + strings.Repeat("[", 100000) + ` } }`, "levels deep"},
		{"json nested too deep", `{"path": ` + strings.Repeat(`{"a": `, 100000), "levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("n", tt.text)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not wrap ErrInvalidPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"canonical", "path \"a\"   {\ncapabilities=[\"read\"]   # why\n}", "path \"a\" {\n  capabilities = [\"read\"] # why\n}\n"},
		{"two blocks", `path "a" { capabilities = ["read"] } path "b" { policy = "write" }`,
			"path \"a\" {\n  capabilities = [\"read\"]\n}\n\npath \"b\" {\n  policy = \"write\"\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Format(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Format =\n%s\nwant\n%s", got, tt.want)
			}
			again, err := Format(got)
			if err != nil || again != got {
				t.Errorf("Format is not idempotent: %q, %v", again, err)
			}
		})
	}
	if _, err := Format(`path "a" { capabilities = ["nope"] }`); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("Format of an invalid policy: %v", err)
	}
	// JSON policies stay JSON, indented.
	js := ` {"path": {"secret/*": {"capabilities": ["read"]}}}`
	out, err := Format(js)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"path\": {\n    \"secret/*\": {\n      \"capabilities\": [\n        \"read\"\n      ]\n    }\n  }\n}\n"
	if out != want {
		t.Errorf("Format(JSON) =\n%s", out)
	}
}

func TestNestingDepth(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{``, 0},
		{`path "a" { capabilities = ["read"] }`, 2},
		{`path "a[[[[{{{" { x = "]]]\"[[[" }`, 1},
		{"# [[[[\n// {{{{\n/* [[[[ */ path \"a\" {}", 1},
		{`{"path": {"a": {"capabilities": ["read"]}}}`, 4},
		{`]]]]][`, 1},
		{`/* [[[`, 0},
	}
	for _, tt := range tests {
		if got := nestingDepth(tt.text); got != tt.want {
			t.Errorf("nestingDepth(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

func TestCapabilityNames(t *testing.T) {
	tests := []struct {
		in      []string
		want    Capability
		strings []string
		bad     bool
	}{
		{in: nil, want: 0, strings: []string{"deny"}},
		{in: []string{"read"}, want: CapRead, strings: []string{"read"}},
		{in: []string{"update", "read", "sudo", "list", "create", "patch", "delete"}, want: capGrants,
			strings: []string{"create", "delete", "list", "patch", "read", "sudo", "update"}},
		{in: []string{"read", "deny"}, want: CapDeny, strings: []string{"deny"}},
		{in: []string{"Read"}, bad: true},
		{in: []string{"root"}, bad: true},
	}
	for _, tt := range tests {
		got, err := ParseCapabilities(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("ParseCapabilities(%q) error = %v", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseCapabilities(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if s := got.Strings(); !reflect.DeepEqual(s, tt.strings) {
			t.Errorf("Strings() = %q, want %q", s, tt.strings)
		}
	}
}

func TestReservedNames(t *testing.T) {
	for name, want := range map[string]bool{"root": true, "default": true, " Default ": true, "ROOT": true, "admin": false, "": false} {
		if got := IsReservedName(name); got != want {
			t.Errorf("IsReservedName(%q) = %v", name, got)
		}
	}
}
