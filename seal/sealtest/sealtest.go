// Package sealtest is the conformance suite every seal.Wrapper passes.
package sealtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"

	"coffer/seal"
)

// The paths the suite wraps at.
const (
	path      = "core/seal/root-key"
	otherPath = "core/seal/recovery-key"
)

// maxPositions bounds how many byte positions the flip and truncation
// tests try on one blob; longer blobs are sampled (both ends in full, the
// middle evenly), keeping the suite fast against slow HSMs.
const maxPositions = 256

// Concurrency of the concurrent-use test.
const (
	goroutines = 16
	roundTrips = 20
)

// Run checks w against the Wrapper contract; other must be a Wrapper of
// the same kind holding a different key. Subtests: round trips of 1, 32
// and 64 bytes; a fresh blob for every Wrap; Unwrap at another path,
// after any one byte is changed, after truncation or extension, and by
// other, all failing with an error wrapping seal.ErrDecrypt (never a
// panic, never success); and 16 goroutines each doing 20 round trips at
// once (run it under -race).
func Run(t *testing.T, w seal.Wrapper, other seal.Wrapper) {
	t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, w) })
	t.Run("FreshBlobs", func(t *testing.T) { freshBlobs(t, w) })
	t.Run("WrongPath", func(t *testing.T) { wrongPath(t, w) })
	t.Run("ByteFlips", func(t *testing.T) { byteFlips(t, w) })
	t.Run("Truncations", func(t *testing.T) { truncations(t, w) })
	t.Run("Garbage", func(t *testing.T) { garbage(t, w) })
	t.Run("WrongKey", func(t *testing.T) { wrongKey(t, w, other) })
	t.Run("Concurrent", func(t *testing.T) { concurrent(t, w) })
}

func roundTrip(t *testing.T, w seal.Wrapper) {
	for _, size := range []int{1, 32, 64} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			want := random(size)
			blob := mustWrap(t, w, path, want)
			if bytes.Contains(blob, want) && size >= 8 {
				t.Errorf("blob contains the plaintext")
			}
			got, err := w.Unwrap(t.Context(), path, blob)
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Unwrap = %x, want %x", got, want)
			}
		})
	}
}

func freshBlobs(t *testing.T, w seal.Wrapper) {
	key := random(32)
	a, b := mustWrap(t, w, path, key), mustWrap(t, w, path, key)
	if bytes.Equal(a, b) {
		t.Fatal("two Wraps of the same plaintext gave the same blob")
	}
	for _, blob := range [][]byte{a, b} {
		got, err := w.Unwrap(t.Context(), path, blob)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("Unwrap = %x, %v; want %x", got, err, key)
		}
	}
}

func wrongPath(t *testing.T, w seal.Wrapper) {
	blob := mustWrap(t, w, path, random(32))
	for _, p := range []string{otherPath, "", path + "/", path[:len(path)-1]} {
		mustFail(t, w, p, blob, fmt.Sprintf("at path %q", p))
	}
}

func byteFlips(t *testing.T, w seal.Wrapper) {
	blob := mustWrap(t, w, path, random(32))
	for _, i := range positions(len(blob)) {
		for _, mask := range []byte{0x01, 0xff} {
			bad := bytes.Clone(blob)
			bad[i] ^= mask
			mustFail(t, w, path, bad, fmt.Sprintf("with byte %d of %d xor %#x", i, len(blob), mask))
		}
	}
}

func truncations(t *testing.T, w seal.Wrapper) {
	blob := mustWrap(t, w, path, random(32))
	for _, n := range positions(len(blob)) {
		mustFail(t, w, path, bytes.Clone(blob[:n]), fmt.Sprintf("truncated to %d of %d bytes", n, len(blob)))
	}
	mustFail(t, w, path, append(bytes.Clone(blob), 0), "with a byte appended")
	mustFail(t, w, path, append(bytes.Clone(blob), blob...), "doubled")
}

func garbage(t *testing.T, w seal.Wrapper) {
	mustFail(t, w, path, nil, "nil")
	for _, n := range []int{1, 16, 64, 1024} {
		mustFail(t, w, path, random(n), fmt.Sprintf("of %d random bytes", n))
	}
}

func wrongKey(t *testing.T, w, other seal.Wrapper) {
	mustFail(t, other, path, mustWrap(t, w, path, random(32)), "by the other wrapper")
	mustFail(t, w, path, mustWrap(t, other, path, random(32)), "of the other wrapper's blob")
}

func concurrent(t *testing.T, w seal.Wrapper) {
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range roundTrips {
				if err := oneRoundTrip(ctx, w, fmt.Sprintf("%s/%d/%d", path, g, i)); err != nil {
					errs <- fmt.Errorf("goroutine %d, round trip %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// oneRoundTrip wraps and unwraps a random key at p.
func oneRoundTrip(ctx context.Context, w seal.Wrapper, p string) error {
	want := random(32)
	blob, err := w.Wrap(ctx, p, want)
	if err != nil {
		return fmt.Errorf("wrap: %w", err)
	}
	got, err := w.Unwrap(ctx, p, blob)
	if err != nil {
		return fmt.Errorf("unwrap: %w", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("unwrap returned another key")
	}
	return nil
}

// mustWrap wraps plaintext at p, failing tb on error.
func mustWrap(tb testing.TB, w seal.Wrapper, p string, plaintext []byte) []byte {
	tb.Helper()
	blob, err := w.Wrap(tb.Context(), p, plaintext)
	if err != nil {
		tb.Fatalf("Wrap: %v", err)
	}
	return blob
}

// mustFail checks that unwrapping blob at p fails with seal.ErrDecrypt,
// without panicking.
func mustFail(tb testing.TB, w seal.Wrapper, p string, blob []byte, what string) {
	tb.Helper()
	got, err := unwrapNoPanic(tb.Context(), w, p, blob)
	switch {
	case err == nil:
		tb.Errorf("Unwrap %s succeeded (%d bytes), want seal.ErrDecrypt", what, len(got))
	case !errors.Is(err, seal.ErrDecrypt):
		tb.Errorf("Unwrap %s: %v, want seal.ErrDecrypt", what, err)
	}
}

// unwrapNoPanic unwraps, turning a panic into an error that is not
// seal.ErrDecrypt.
func unwrapNoPanic(ctx context.Context, w seal.Wrapper, p string, blob []byte) (got []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			got, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return w.Unwrap(ctx, p, blob)
}

// positions returns the indexes 0..n-1, or a sample of maxPositions of
// them: both ends in full, the middle evenly spaced.
func positions(n int) []int {
	if n <= maxPositions {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	const edge = maxPositions / 4
	out := make([]int, 0, maxPositions)
	for i := range edge {
		out = append(out, i)
	}
	mid := maxPositions - 2*edge
	for k := range mid {
		out = append(out, edge+k*(n-2*edge)/mid)
	}
	for i := n - edge; i < n; i++ {
		out = append(out, i)
	}
	return out
}

// random returns n random bytes.
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
