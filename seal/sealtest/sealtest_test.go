package sealtest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"slices"
	"testing"

	"coffer/seal"
)

// gcmWrapper is a reference Wrapper: AES-256-GCM, AAD = path.
type gcmWrapper struct{ aead cipher.AEAD }

func mustGCMWrapper(tb testing.TB) *gcmWrapper {
	tb.Helper()
	block, err := aes.NewCipher(random(32))
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return &gcmWrapper{aead: aead}
}

func (w *gcmWrapper) Wrap(_ context.Context, path string, pt []byte) ([]byte, error) {
	nonce := random(w.aead.NonceSize())
	return w.aead.Seal(nonce, nonce, pt, []byte(path)), nil
}

func (w *gcmWrapper) Unwrap(_ context.Context, path string, blob []byte) ([]byte, error) {
	n := w.aead.NonceSize()
	if len(blob) < n {
		return nil, fmt.Errorf("%w: short", seal.ErrDecrypt)
	}
	pt, err := w.aead.Open(nil, blob[:n], blob[n:], []byte(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", seal.ErrDecrypt, err)
	}
	return pt, nil
}

func TestRunReference(t *testing.T) {
	Run(t, mustGCMWrapper(t), mustGCMWrapper(t))
}

func TestPositions(t *testing.T) {
	tests := []struct {
		n       int
		wantLen int
	}{
		{0, 0}, {1, 1}, {maxPositions, maxPositions}, {maxPositions + 1, maxPositions}, {5000, maxPositions},
	}
	for _, tt := range tests {
		got := positions(tt.n)
		if len(got) != tt.wantLen {
			t.Errorf("positions(%d) has %d entries, want %d", tt.n, len(got), tt.wantLen)
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("positions(%d) not strictly increasing: %v", tt.n, got)
		}
		if tt.n > 0 && (got[0] != 0 || got[len(got)-1] != tt.n-1) {
			t.Errorf("positions(%d) misses an end: first %d, last %d", tt.n, got[0], got[len(got)-1])
		}
	}
}
