// Package shamir splits a secret into shares any threshold of which
// recombine it (Shamir's secret sharing over GF(2^8), Vault's share layout).
package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
)

// The errors Split and Combine return, wrapped with detail.
var (
	ErrInvalidParams = errors.New("shamir: invalid parameters")
	ErrInvalidShares = errors.New("shamir: invalid shares")
)

// maxShares is the number of distinct non-zero x coordinates in GF(2^8).
const maxShares = 255

// Split splits secret into n shares, any t of which recombine it: 2 <= t <=
// n <= 255, or t == n == 1, in which case the single share is a copy of the
// secret (as Vault does). Each share is len(secret)+1 bytes: one y value
// per secret byte, then the share's x coordinate. The x coordinates are
// distinct, non-zero and random; the polynomial coefficients come from
// crypto/rand and are zeroed before Split returns.
func Split(secret []byte, n, t int) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, fmt.Errorf("%w: empty secret", ErrInvalidParams)
	case n == 1 && t == 1:
		return [][]byte{bytes.Clone(secret)}, nil
	case t < 2:
		return nil, fmt.Errorf("%w: threshold must be at least 2", ErrInvalidParams)
	case n < t:
		return nil, fmt.Errorf("%w: shares must be at least the threshold", ErrInvalidParams)
	case n > maxShares:
		return nil, fmt.Errorf("%w: at most %d shares", ErrInvalidParams, maxShares)
	}

	xs, err := randomXs(n)
	if err != nil {
		return nil, err
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = xs[i]
	}
	// coeffs[k] is the coefficient of x^(k+1); the constant term is the
	// secret byte. A fresh random polynomial per secret byte.
	coeffs := make([]byte, t-1)
	defer clear(coeffs)
	for idx, s := range secret {
		if _, err := rand.Read(coeffs); err != nil {
			return nil, fmt.Errorf("shamir: random coefficients: %w", err)
		}
		for i, x := range xs {
			shares[i][idx] = evaluate(s, coeffs, x)
		}
	}
	return shares, nil
}

// evaluate returns s + coeffs[0]*x + coeffs[1]*x^2 + ... by Horner's rule.
func evaluate(s byte, coeffs []byte, x byte) byte {
	var y byte
	for k := len(coeffs) - 1; k >= 0; k-- {
		y = mul(y, x) ^ coeffs[k]
	}
	return mul(y, x) ^ s
}

// randomXs returns n distinct x coordinates in 1..255 in random order: a
// prefix of a permutation drawn from a ChaCha8 stream keyed by crypto/rand.
func randomXs(n int) ([]byte, error) {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("shamir: random x coordinates: %w", err)
	}
	perm := mrand.New(mrand.NewChaCha8(seed)).Perm(maxShares)
	clear(seed[:])
	xs := make([]byte, n)
	for i := range xs {
		xs[i] = byte(perm[i] + 1)
	}
	return xs, nil
}

// Combine recombines a secret from at least threshold shares made by Split
// by Lagrange interpolation at x = 0. It rejects an empty list, shares of
// different or too short lengths, an x coordinate of zero and duplicate x
// coordinates. A single share is returned as a copy (the t == n == 1 case);
// with fewer shares than the threshold, Combine returns a value unrelated
// to the secret rather than an error, since the threshold is not recorded
// in the shares.
//
// The y values are processed in constant time; the x coordinates are
// public and are checked with ordinary comparisons.
func Combine(shares [][]byte) ([]byte, error) {
	switch {
	case len(shares) == 0:
		return nil, fmt.Errorf("%w: no shares", ErrInvalidShares)
	case len(shares) == 1:
		if len(shares[0]) == 0 {
			return nil, fmt.Errorf("%w: empty share", ErrInvalidShares)
		}
		return bytes.Clone(shares[0]), nil
	case len(shares) > maxShares:
		return nil, fmt.Errorf("%w: more than %d shares", ErrInvalidShares, maxShares)
	}
	size := len(shares[0])
	if size < 2 {
		return nil, fmt.Errorf("%w: share too short", ErrInvalidShares)
	}
	xs := make([]byte, len(shares))
	var seen [256]bool
	for i, s := range shares {
		if len(s) != size {
			return nil, fmt.Errorf("%w: shares differ in length", ErrInvalidShares)
		}
		x := s[size-1]
		if x == 0 {
			return nil, fmt.Errorf("%w: share with x coordinate 0", ErrInvalidShares)
		}
		if seen[x] {
			return nil, fmt.Errorf("%w: duplicate share", ErrInvalidShares)
		}
		seen[x] = true
		xs[i] = x
	}

	// basis[i] = l_i(0) = prod_{j != i} x_j / (x_i - x_j); it depends on
	// the x coordinates only, so it is computed once, not per byte.
	basis := make([]byte, len(xs))
	for i, xi := range xs {
		num, den := byte(1), byte(1)
		for j, xj := range xs {
			if j == i {
				continue
			}
			num = mul(num, xj)
			den = mul(den, xi^xj)
		}
		basis[i] = mul(num, inv(den))
	}
	secret := make([]byte, size-1)
	for i, s := range shares {
		for k := range secret {
			secret[k] ^= mul(basis[i], s[k])
		}
	}
	return secret, nil
}
