package policy

import "strings"

// prio describes a non-exact rule for Vault's priority order.
type prio struct {
	first  int    // byte index of the first wildcard: "+" or the glob
	prefix bool   // ends in "*"
	plus   int    // number of "+" segments
	stem   string // pattern without its trailing "*"
}

// priorityLess reports whether rule a is less specific than rule b, by
// Vault's documented order: an earlier first wildcard is less specific;
// then ending in "*" is less specific than not; then more "+" segments are
// less specific; then a shorter pattern; then a lexicographically smaller
// one.
func priorityLess(a, b prio) bool {
	if a.first != b.first {
		return a.first < b.first
	}
	if a.prefix != b.prefix {
		return a.prefix
	}
	if a.plus != b.plus {
		return a.plus > b.plus
	}
	if len(a.stem) != len(b.stem) {
		return len(a.stem) < len(b.stem)
	}
	return a.stem < b.stem
}

// segRule is a compiled pattern with "+" segments.
type segRule struct {
	prio
	segs []string // stem split on "/"
	r    *rule
}

func newSegRule(pattern string, r *rule) segRule {
	s := segRule{r: r}
	s.stem = pattern
	if strings.HasSuffix(pattern, "*") {
		s.prefix = true
		s.stem = pattern[:len(pattern)-1]
	}
	// Vault takes the first "+" anywhere in the pattern, even inside a
	// literal segment such as "a+b"; so do we, for identical ordering.
	s.first = strings.IndexByte(pattern, '+')
	s.segs = strings.Split(s.stem, "/")
	for _, seg := range s.segs {
		if seg == "+" {
			s.plus++
		}
	}
	return s
}

// match reports whether path matches the rule: each "+" matches one whole
// segment (possibly empty), other segments must be equal, except that the
// last segment of a "*" rule need only be a prefix of its path segment,
// which then swallows the rest of the path. A rule without "*" needs the
// same number of segments as the path. It does not allocate.
func (s *segRule) match(path string) bool {
	pos := 0
	last := len(s.segs) - 1
	for i, seg := range s.segs {
		if pos > len(path) {
			return false // the path has fewer segments than the rule
		}
		end := strings.IndexByte(path[pos:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += pos
		}
		part := path[pos:end]
		switch {
		case seg == "+", seg == part:
		case s.prefix && i == last && strings.HasPrefix(part, seg):
		default:
			return false
		}
		pos = end + 1
	}
	// pos > len(path) means the last rule segment consumed the last path
	// segment: the counts are equal.
	return s.prefix || pos > len(path)
}

// nonExact returns the highest-priority glob or "+" rule matching path, or
// nil. Among plain prefix globs the longest prefix is the best (its glob
// comes latest), so the radix tree gives the only candidate; the "+" rules
// are sorted best first, so the first match is theirs.
func (a *ACL) nonExact(path string) *rule {
	var best *rule
	var bestPrio prio
	if a.hasGlob {
		if n, r := a.prefixes.longestPrefix(path); r != nil {
			best = r
			bestPrio = prio{first: n, prefix: true, stem: path[:n]}
		}
	}
	for i := range a.segs {
		s := &a.segs[i]
		if best != nil && priorityLess(s.prio, bestPrio) {
			break // every remaining rule ranks lower still
		}
		if s.match(path) {
			return s.r
		}
	}
	return best
}

// radixNode is a compressed trie of prefix-glob stems, for the longest
// stem that is a prefix of a path.
type radixNode struct {
	label    string // edge label from the parent
	rule     *rule
	index    []byte // first byte of each child's label
	children []*radixNode
}

func (n *radixNode) child(c byte) int {
	for i, b := range n.index {
		if b == c {
			return i
		}
	}
	return -1
}

// insert adds key; a key inserted twice keeps the last rule (NewACL never
// does that: stems are map keys).
func (n *radixNode) insert(key string, r *rule) {
	for {
		if key == "" {
			n.rule = r
			return
		}
		i := n.child(key[0])
		if i < 0 {
			n.index = append(n.index, key[0])
			n.children = append(n.children, &radixNode{label: key, rule: r})
			return
		}
		c := n.children[i]
		common := 0
		for common < len(key) && common < len(c.label) && key[common] == c.label[common] {
			common++
		}
		if common < len(c.label) {
			// Split the edge: n -> mid -> c.
			mid := &radixNode{label: c.label[:common]}
			c.label = c.label[common:]
			mid.index = []byte{c.label[0]}
			mid.children = []*radixNode{c}
			n.children[i] = mid
			c = mid
		}
		key = key[common:]
		n = c
	}
}

// longestPrefix returns the longest inserted key that is a prefix of s,
// as its length and rule; the rule is nil when none is.
func (n *radixNode) longestPrefix(s string) (int, *rule) {
	var best *rule
	bestLen, depth := 0, 0
	for {
		if n.rule != nil {
			best, bestLen = n.rule, depth
		}
		if depth == len(s) {
			break
		}
		i := n.child(s[depth])
		if i < 0 {
			break
		}
		c := n.children[i]
		if !strings.HasPrefix(s[depth:], c.label) {
			break
		}
		depth += len(c.label)
		n = c
	}
	return bestLen, best
}
