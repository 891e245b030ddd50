package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

func mustSecret(tb testing.TB, size int) []byte {
	tb.Helper()
	s := make([]byte, size)
	if _, err := rand.Read(s); err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustSplit(tb testing.TB, secret []byte, n, t int) [][]byte {
	tb.Helper()
	shares, err := Split(secret, n, t)
	if err != nil {
		tb.Fatalf("Split(n=%d, t=%d): %v", n, t, err)
	}
	return shares
}

// pick returns k of shares chosen at random, in random order.
func pick(r *mrand.Rand, shares [][]byte, k int) [][]byte {
	out := make([][]byte, 0, k)
	for _, i := range r.Perm(len(shares))[:k] {
		out = append(out, shares[i])
	}
	return out
}

func TestSplitCombineAllParams(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for n := 1; n <= 10; n++ {
		for th := 1; th <= n; th++ {
			if th == 1 && n > 1 {
				continue // not a valid configuration
			}
			secret := mustSecret(t, 32)
			shares := mustSplit(t, secret, n, th)
			if len(shares) != n {
				t.Fatalf("n=%d t=%d: %d shares", n, th, len(shares))
			}
			xs := map[byte]bool{}
			for _, s := range shares {
				if n == 1 {
					break
				}
				if len(s) != len(secret)+1 {
					t.Fatalf("n=%d t=%d: share length %d", n, th, len(s))
				}
				x := s[len(s)-1]
				if x == 0 || xs[x] {
					t.Fatalf("n=%d t=%d: bad or repeated x %d", n, th, x)
				}
				xs[x] = true
			}
			// Several random subsets of every size from t to n.
			for k := th; k <= n; k++ {
				for range 5 {
					got, err := Combine(pick(r, shares, k))
					if err != nil {
						t.Fatalf("n=%d t=%d k=%d: %v", n, th, k, err)
					}
					if !bytes.Equal(got, secret) {
						t.Fatalf("n=%d t=%d k=%d: recombined secret differs", n, th, k)
					}
				}
			}
		}
	}
}

func TestSplitSingleShare(t *testing.T) {
	secret := mustSecret(t, 32)
	shares := mustSplit(t, secret, 1, 1)
	if len(shares) != 1 || !bytes.Equal(shares[0], secret) {
		t.Fatal("1-of-1 split is not the secret itself")
	}
	shares[0][0] ^= 1
	if shares[0][0] == secret[0] {
		t.Fatal("1-of-1 share aliases the secret")
	}
}

func TestSplitMaxShares(t *testing.T) {
	secret := mustSecret(t, 16)
	shares := mustSplit(t, secret, 255, 3)
	got, err := Combine(shares[100:103])
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("255 shares: %v", err)
	}
	got, err = Combine(shares) // all 255
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("combine all 255: %v", err)
	}
}

func TestFewerThanThreshold(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	for _, p := range []struct{ n, t int }{{3, 2}, {3, 3}, {5, 3}, {5, 5}, {10, 7}} {
		for range 200 {
			secret := mustSecret(t, 32)
			shares := mustSplit(t, secret, p.n, p.t)
			for k := 1; k < p.t; k++ {
				got, err := Combine(pick(r, shares, k))
				if err != nil {
					t.Fatalf("n=%d t=%d k=%d: %v", p.n, p.t, k, err)
				}
				if bytes.Equal(got, secret) {
					t.Fatalf("n=%d t=%d: %d shares recombined the secret", p.n, p.t, k)
				}
			}
		}
	}
}

func TestSplitInvalid(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		n, t   int
	}{
		{"empty secret", nil, 3, 2},
		{"threshold one of many", []byte("s"), 3, 1},
		{"threshold zero", []byte("s"), 1, 0},
		{"threshold above shares", []byte("s"), 2, 3},
		{"too many shares", []byte("s"), 256, 2},
		{"negative", []byte("s"), -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Split(tt.secret, tt.n, tt.t); !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("err = %v, want ErrInvalidParams", err)
			}
		})
	}
}

func TestCombineInvalid(t *testing.T) {
	shares := mustSplit(t, mustSecret(t, 8), 3, 2)
	zeroX := bytes.Clone(shares[1])
	zeroX[len(zeroX)-1] = 0
	tests := []struct {
		name   string
		shares [][]byte
	}{
		{"none", nil},
		{"one empty", [][]byte{{}}},
		{"lengths differ", [][]byte{shares[0], shares[1][:5]}},
		{"duplicate x", [][]byte{shares[0], shares[0]}},
		{"zero x", [][]byte{shares[0], zeroX}},
		{"too short", [][]byte{{1}, {2}}},
		{"too many", make([][]byte, 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Combine(tt.shares); !errors.Is(err, ErrInvalidShares) {
				t.Fatalf("err = %v, want ErrInvalidShares", err)
			}
		})
	}
}

func TestCombineDoesNotModifyShares(t *testing.T) {
	shares := mustSplit(t, mustSecret(t, 32), 5, 3)
	before := make([][]byte, len(shares))
	for i, s := range shares {
		before[i] = bytes.Clone(s)
	}
	if _, err := Combine(shares); err != nil {
		t.Fatal(err)
	}
	for i := range shares {
		if !bytes.Equal(shares[i], before[i]) {
			t.Fatalf("share %d modified", i)
		}
	}
}

func FuzzCombine(f *testing.F) {
	shares := mustSplit(f, []byte("seed secret"), 4, 3)
	f.Add(bytes.Join(shares, nil), uint8(len(shares[0])))
	f.Add([]byte{1, 2, 3, 4}, uint8(2))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		var parts [][]byte
		if size == 0 {
			parts = [][]byte{data}
		} else {
			for len(data) > 0 {
				k := min(int(size), len(data))
				parts = append(parts, data[:k])
				data = data[k:]
			}
		}
		got, err := Combine(parts)
		if err != nil {
			if !errors.Is(err, ErrInvalidShares) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(parts) > 1 && len(got) != len(parts[0])-1 {
			t.Fatalf("secret length %d from shares of %d", len(got), len(parts[0]))
		}
	})
}

func FuzzSplitCombine(f *testing.F) {
	f.Add([]byte("a secret"), uint8(5), uint8(3), uint64(1))
	f.Add([]byte{0}, uint8(1), uint8(1), uint64(2))
	f.Fuzz(func(t *testing.T, secret []byte, n, th uint8, seed uint64) {
		shares, err := Split(secret, int(n), int(th))
		if err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		subset := pick(mrand.New(mrand.NewPCG(seed, 0)), shares, int(th))
		got, err := Combine(subset)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("round trip n=%d t=%d failed: %v", n, th, err)
		}
	})
}

func BenchmarkSplit32(b *testing.B) {
	secret := mustSecret(b, 32)
	for b.Loop() {
		if _, err := Split(secret, 5, 3); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombine32(b *testing.B) {
	shares := mustSplit(b, mustSecret(b, 32), 5, 3)
	for b.Loop() {
		if _, err := Combine(shares[:3]); err != nil {
			b.Fatal(err)
		}
	}
}
