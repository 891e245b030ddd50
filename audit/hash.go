package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding"
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
// as the SHA-256 states reached after absorbing the two padded blocks of
// RFC 2104 (or, where the digest cannot save its state, the blocks
// themselves), so zero can wipe every copy of key material (crypto/hmac
// keeps its own copies, out of reach) and each HMAC costs two compressions
// fewer than hashing the pads again. Safe for concurrent use.
type hasher struct {
	mu     sync.RWMutex
	inner  []byte // state after the inner pad (or the pad itself when !states)
	outer  []byte // state after the outer pad (or the pad itself)
	states bool
	zeroed bool
	pool   sync.Pool // of *hmacState; never holds key material between uses
}

// hmacState is one pooled digest and its scratch space. Between uses the
// digest is reset and the scratch cleared.
type hmacState struct {
	d       hash.Hash
	load    encoding.BinaryUnmarshaler // d, when it can restore a state
	sum     [sha256.Size]byte
	scratch [256]byte // a string's bytes on their way into d, without an allocation
}

func newHmacState() any {
	d := sha256.New()
	u, _ := d.(encoding.BinaryUnmarshaler)
	return &hmacState{d: d, load: u}
}

func newHasher(key []byte) *hasher { return newHasherWith(key, true) }

// newHasherWith is newHasher; saveStates=false keeps the pad blocks
// instead of the states reached after them (as for a digest that cannot
// save its state), so tests can cover both.
func newHasherWith(key []byte, saveStates bool) *hasher {
	h := &hasher{pool: sync.Pool{New: newHmacState}}
	var ipad, opad [sha256.BlockSize]byte
	defer clear(ipad[:])
	defer clear(opad[:])
	k := key
	if len(k) > sha256.BlockSize {
		sum := sha256.Sum256(k)
		defer clear(sum[:])
		k = sum[:]
	}
	copy(ipad[:], k)
	copy(opad[:], k)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	d := sha256.New()
	_, canLoad := d.(encoding.BinaryUnmarshaler)
	save, canSave := d.(encoding.BinaryAppender)
	if saveStates && canLoad && canSave {
		// Room for the whole state up front: a buffer that grew would
		// leave partial copies behind.
		const room = 128
		d.Write(ipad[:])
		inner, errIn := save.AppendBinary(make([]byte, 0, room))
		d.Reset()
		d.Write(opad[:])
		outer, errOut := save.AppendBinary(make([]byte, 0, room))
		d.Reset()
		if errIn == nil && errOut == nil {
			h.inner, h.outer, h.states = inner, outer, true
			return h
		}
		clear(inner)
		clear(outer)
	}
	h.inner = append([]byte(nil), ipad[:]...)
	h.outer = append([]byte(nil), opad[:]...)
	return h
}

// start puts d in the state after absorbing pad (a saved state or the
// pad block itself).
func (h *hasher) start(st *hmacState, pad []byte) {
	if !h.states {
		st.d.Reset()
		st.d.Write(pad)
		return
	}
	// Cannot fail: the state came from a digest of the same constructor.
	if err := st.load.UnmarshalBinary(pad); err != nil {
		panic("audit: restore a sha256 state: " + err.Error())
	}
}

// finish completes the HMAC whose inner hash has absorbed its message,
// into st.sum, and resets the digest so it keeps nothing key-derived.
func (h *hasher) finish(st *hmacState) {
	st.d.Sum(st.sum[:0])
	h.start(st, h.outer)
	st.d.Write(st.sum[:])
	st.d.Sum(st.sum[:0])
	st.d.Reset()
}

// sum returns HMAC(key, data) into out, or false once the key is zeroed.
func (h *hasher) sum(out *[sha256.Size]byte, data ...[]byte) bool {
	s, ok := h.session()
	if !ok {
		return false
	}
	defer s.close()
	h.start(s.st, h.inner)
	for _, p := range data {
		s.st.d.Write(p)
	}
	h.finish(s.st)
	*out = s.st.sum
	clear(s.st.sum[:])
	return true
}

// hashString returns "hmac-sha256:<hex>" of s.
func (h *hasher) hashString(s string) string {
	hs, ok := h.session()
	if !ok {
		return redactedUnavailable
	}
	defer hs.close()
	return hs.hashString(s)
}

// zero wipes the key; later sums fail. It waits for the sessions in
// progress.
func (h *hasher) zero() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.inner)
	clear(h.outer)
	h.zeroed = true
}

// hmacSession hashes many values under one read lock of its hasher: one
// entry's worth. The zero session (the key is zeroed) hashes every value
// to redactedUnavailable. Not safe for concurrent use; close it when done,
// and never open a second session of the same hasher while one is open
// in the same goroutine (a waiting zero would deadlock them).
type hmacSession struct {
	h  *hasher
	st *hmacState
}

// session opens a session, or reports false once the key is zeroed.
func (h *hasher) session() (hmacSession, bool) {
	h.mu.RLock()
	if h.zeroed {
		h.mu.RUnlock()
		return hmacSession{}, false
	}
	return hmacSession{h: h, st: h.pool.Get().(*hmacState)}, true
}

// close returns the digest to the pool and releases the lock.
func (s *hmacSession) close() {
	if s.st == nil {
		return
	}
	s.h.pool.Put(s.st)
	s.st = nil
	s.h.mu.RUnlock()
}

// sumString computes HMAC(key, s) into s.st.sum.
func (s *hmacSession) sumString(v string) {
	s.h.start(s.st, s.h.inner)
	used := 0
	for len(v) > 0 {
		n := copy(s.st.scratch[:], v)
		s.st.d.Write(s.st.scratch[:n])
		v = v[n:]
		used = max(used, n)
	}
	clear(s.st.scratch[:used])
	s.h.finish(s.st)
}

// sumBytes computes HMAC(key, b) into s.st.sum.
func (s *hmacSession) sumBytes(b []byte) {
	s.h.start(s.st, s.h.inner)
	s.st.d.Write(b)
	s.h.finish(s.st)
}

// appendQuoted appends the JSON string "hmac-sha256:<hex of s.st.sum>".
func (s *hmacSession) appendQuoted(dst []byte) []byte {
	dst = append(dst, '"')
	dst = append(dst, hmacPrefix...)
	dst = hex.AppendEncode(dst, s.st.sum[:])
	clear(s.st.sum[:])
	return append(dst, '"')
}

// appendString appends HMAC(key, v) as a JSON string.
func (s *hmacSession) appendString(dst []byte, v string) []byte {
	if s.st == nil {
		return append(dst, `"`+redactedUnavailable+`"`...)
	}
	s.sumString(v)
	return s.appendQuoted(dst)
}

// appendBytes appends HMAC(key, b) as a JSON string.
func (s *hmacSession) appendBytes(dst []byte, b []byte) []byte {
	if s.st == nil {
		return append(dst, `"`+redactedUnavailable+`"`...)
	}
	s.sumBytes(b)
	return s.appendQuoted(dst)
}

// hashString returns "hmac-sha256:<hex>" of v.
func (s *hmacSession) hashString(v string) string {
	if s.st == nil {
		return redactedUnavailable
	}
	s.sumString(v)
	var buf [len(hmacPrefix) + 2*sha256.Size]byte
	copy(buf[:], hmacPrefix)
	hex.Encode(buf[len(hmacPrefix):], s.st.sum[:])
	clear(s.st.sum[:])
	return string(buf[:])
}

// hmacEqual compares two MACs in constant time.
func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
