package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// hmacPrefix marks an HMAC'd value, as in Vault's audit logs.
const hmacPrefix = "hmac-sha256:"

// redactedUnavailable replaces a value when the device's key is already
// zeroed (a late entry racing with Disable or Close); it reveals nothing.
const redactedUnavailable = hmacPrefix + "unavailable"

// hasher computes HMAC-SHA256 with one device's salt. It keeps the key only
// as the two padded blocks of RFC 2104, so zero can wipe every copy of key
// material (crypto/hmac keeps its own copies, out of reach). Safe for
// concurrent use.
type hasher struct {
	mu     sync.RWMutex
	ipad   [sha256.BlockSize]byte
	opad   [sha256.BlockSize]byte
	zeroed bool
	pool   sync.Pool // of reset hash.Hash; never holds key material
}

func newHasher(key []byte) *hasher {
	h := &hasher{pool: sync.Pool{New: func() any { return sha256.New() }}}
	k := key
	if len(k) > sha256.BlockSize {
		sum := sha256.Sum256(k)
		k = sum[:]
		defer clear(sum[:])
	}
	copy(h.ipad[:], k)
	copy(h.opad[:], k)
	for i := range h.ipad {
		h.ipad[i] ^= 0x36
		h.opad[i] ^= 0x5c
	}
	return h
}

// sum returns HMAC(key, data) into out, or false once the key is zeroed.
func (h *hasher) sum(out *[sha256.Size]byte, data ...[]byte) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.zeroed {
		return false
	}
	d := h.pool.Get().(hash.Hash)
	d.Write(h.ipad[:])
	for _, p := range data {
		d.Write(p)
	}
	d.Sum(out[:0])
	d.Reset()
	d.Write(h.opad[:])
	d.Write(out[:])
	d.Sum(out[:0])
	d.Reset()
	h.pool.Put(d)
	return true
}

// hashString returns "hmac-sha256:<hex>" of s.
func (h *hasher) hashString(s string) string {
	var out [sha256.Size]byte
	if !h.sum(&out, []byte(s)) {
		return redactedUnavailable
	}
	buf := make([]byte, len(hmacPrefix)+hex.EncodedLen(sha256.Size))
	copy(buf, hmacPrefix)
	hex.Encode(buf[len(hmacPrefix):], out[:])
	return string(buf)
}

// zero wipes the key; later sums fail.
func (h *hasher) zero() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.ipad[:])
	clear(h.opad[:])
	h.zeroed = true
}

// hmacEqual compares two MACs in constant time.
func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
