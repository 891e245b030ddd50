package lease

import (
	"crypto/rand"
	"strings"
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewLeaseID returns mountPath+path+"/"+a random 24-character base62 id,
// as Vault does ("database/creds/ro/2f6c..."). Empty segments are dropped.
func NewLeaseID(mountPath, path string) string {
	var b strings.Builder
	for _, p := range []string{mountPath, path} {
		for seg := range strings.SplitSeq(p, "/") {
			if seg != "" {
				b.WriteString(seg)
				b.WriteByte('/')
			}
		}
	}
	b.WriteString(randomID(24))
	return b.String()
}

// randomID returns n base62 characters from crypto/rand, unbiased.
func randomID(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		rand.Read(buf) // never fails (crypto/rand panics rather)
		for _, c := range buf {
			// 248 = 4*62: rejecting the rest keeps every character equally likely.
			if c < 248 && len(out) < n {
				out = append(out, idAlphabet[c%62])
			}
		}
	}
	return string(out)
}
