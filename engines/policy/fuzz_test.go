package policy

import (
	"errors"
	"reflect"
	"testing"
)

var fuzzSeeds = []string{
	``,
	`path "secret/*" { capabilities = ["read", "list"] }`,
	`path "secret/+/x*" { capabilities = ["deny"] }
path "secret/a/x" { policy = "write" }`,
	`path "a" { capabilities = ["update"] allowed_parameters = { "*" = [] "k" = ["v*", 1] } denied_parameters = { "d" = [] } required_parameters = ["r"] }`,
	`path "w" { capabilities = ["read"] min_wrapping_ttl = "1m" max_wrapping_ttl = 3600 }`,
	`{"path": {"j/*": {"capabilities": ["read"]}}}`,
	"# comment\npath \"c\" {\n  capabilities = [\"read\"] // trailing\n}\n",
	`path "t/{{identity.entity.id}}" { capabilities = ["read"] }`,
	"path \"h\" { policy = <<EOT\nread\nEOT\n}\n",
	DefaultText,
}

// FuzzParse checks that Parse never panics, reports only ErrInvalidPolicy,
// and that what parses formats to text with the same rules.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse("f", text)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		if _, err := NewACL(p); err != nil {
			t.Fatalf("NewACL of a parsed policy: %v", err)
		}
		out, err := Format(text)
		if err != nil {
			t.Fatalf("Format of a parsed policy: %v", err)
		}
		q, err := Parse("f", out)
		if err != nil {
			t.Fatalf("formatted policy does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p.Paths, q.Paths) {
			t.Fatalf("formatting changed the rules:\n%+v\n%+v", p.Paths, q.Paths)
		}
	})
}

// FuzzAllowed checks that the evaluator never panics and agrees with the
// reference evaluator on any parsable policy and any request.
func FuzzAllowed(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, "secret/a/x", uint8(i), "k", "v1")
	}
	f.Add(`path "+/b/*" { capabilities = ["list"] }`, "a/b/", uint8(5), "", "")
	ops := []string{"create", "read", "update", "patch", "delete", "list"}
	f.Fuzz(func(t *testing.T, text, path string, op uint8, key, val string) {
		p, err := Parse("f", text)
		if err != nil {
			return
		}
		a, err := NewACL(p)
		if err != nil {
			t.Fatalf("NewACL of a parsed policy: %v", err)
		}
		var data map[string]any
		if key != "" {
			data = map[string]any{key: val}
		}
		ref := refCompile([]*Policy{p})
		checkAgainstReference(t, a, ref, path, ops[int(op)%len(ops)], data, 0, text)
		a.Capabilities(path)
	})
}
