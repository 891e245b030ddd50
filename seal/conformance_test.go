package seal_test

import (
	"crypto/rand"
	"testing"

	"coffer/seal"
	"coffer/seal/sealtest"
)

func mustShamirWrapper(tb testing.TB) seal.Wrapper {
	tb.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	w, err := seal.NewShamirWrapper(key)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// TestShamirWrapperConformance runs the suite every seal passes (the
// PKCS#11 seal runs it in its own package) on the Shamir seal's wrapper.
func TestShamirWrapperConformance(t *testing.T) {
	sealtest.Run(t, mustShamirWrapper(t), mustShamirWrapper(t))
}
