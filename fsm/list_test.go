package fsm

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// listBruteForce is the definition List must match: walk every key.
func listBruteForce(keys []string, prefix string) []string {
	seen := map[string]bool{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	var out []string
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func TestList(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	keys := []string{
		"a/b", "a/c/d", "a/c/e", "a/c/f/g", "a/", "a", "a-x", "a/b-x", "a/b0",
		"ab/c", "abc", "x/y/z", "x//double", "x/", "\xff/hi",
	}
	var ops []Op
	for _, k := range keys {
		ops = append(ops, put(k, "v"))
	}
	mustApply(t, f, cmdLog(1, ops...))

	tests := []struct {
		prefix string
		want   []string
	}{
		{"a/", []string{"b", "b-x", "b0", "c/"}},
		{"a/c/", []string{"d", "e", "f/"}},
		{"a/c/f/", []string{"g"}},
		{"", []string{"a", "a-x", "a/", "ab/", "abc", "x/", "\xff/"}},
		{"a", []string{"-x", "/", "b/", "bc"}},
		{"a/b", []string{"-x", "0"}},
		{"a/c", []string{"/"}},
		{"x/", []string{"/", "y/"}},
		{"x//", []string{"double"}},
		{"nothing/", nil},
		{"a/b-x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got, err := f.List(tt.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
			if want := listBruteForce(keys, tt.prefix); !slices.Equal(got, want) {
				t.Fatalf("List(%q) = %q, brute force %q", tt.prefix, got, want)
			}
		})
	}
}

func TestListMatchesBruteForceOnManyNestedKeys(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	rng := rand.New(rand.NewPCG(1, 2))
	// Short segments over a small alphabet that includes bytes just below
	// and above '/', so siblings interleave with directories in key order.
	alphabet := []string{"a", "b", "-", ".", "0", "/", "ab"}
	seen := map[string]bool{}
	var keys []string
	var ops []Op
	for len(keys) < 3000 {
		var sb strings.Builder
		for n := 1 + rng.IntN(8); n > 0; n-- {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		k := sb.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		ops = append(ops, put(k, "v"))
	}
	// A deep, wide subtree the seek must jump over.
	for i := 0; i < 2000; i++ {
		k := key("a/deep/x/", i)
		keys = append(keys, k)
		ops = append(ops, put(k, "v"))
	}
	mustApply(t, f, cmdLog(1, ops...))

	prefixes := []string{"", "a", "a/", "a/deep/", "a/deep/x/", "ab", "ab/", "/", "//", "-", "a-", "b/a"}
	for i := 0; i < 200; i++ {
		k := keys[rng.IntN(len(keys))]
		prefixes = append(prefixes, k[:rng.IntN(len(k)+1)])
	}
	for _, p := range prefixes {
		got, err := f.List(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := listBruteForce(keys, p); !slices.Equal(got, want) {
			t.Fatalf("List(%q) = %q, want %q", p, got, want)
		}
	}
}

func BenchmarkListWideDirectory(b *testing.B) {
	f := mustOpen(b, "")
	var ops []Op
	// 10 children, each a directory of 5,000 keys: List must cost ~10 seeks.
	for d := 0; d < 10; d++ {
		for i := 0; i < 5000; i++ {
			ops = append(ops, put(key(key("dir/", d)+"/", i), "v"))
		}
	}
	mustApply(b, f, cmdLog(1, ops...))
	b.ResetTimer()
	for b.Loop() {
		got, err := f.List("dir/")
		if err != nil || len(got) != 10 {
			b.Fatalf("List = %d, %v", len(got), err)
		}
	}
}
