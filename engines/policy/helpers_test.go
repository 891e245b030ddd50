package policy

import "testing"

// mustParse parses a policy or fails the test.
func mustParse(tb testing.TB, name, text string) *Policy {
	tb.Helper()
	p, err := Parse(name, text)
	if err != nil {
		tb.Fatalf("Parse(%s): %v", name, err)
	}
	return p
}

// mustACL compiles one policy per text, named p0, p1, ...
func mustACL(tb testing.TB, texts ...string) *ACL {
	tb.Helper()
	ps := make([]*Policy, len(texts))
	for i, t := range texts {
		ps[i] = mustParse(tb, "p"+string(rune('0'+i)), t)
	}
	a, err := NewACL(ps...)
	if err != nil {
		tb.Fatalf("NewACL: %v", err)
	}
	return a
}
