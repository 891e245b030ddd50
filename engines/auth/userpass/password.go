package userpass

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// kdfParams are argon2id's cost parameters; they are stored with each
// hash, so a change applies to passwords set from then on.
type kdfParams struct {
	time    uint32 // passes
	memory  uint32 // KiB
	threads uint8
	saltLen int
	keyLen  int
}

// defaultKDF costs about 20 ms and 19 MiB per hash on a 2-core machine
// (OWASP's m=19 MiB, t=2 recommendation).
var defaultKDF = kdfParams{time: 2, memory: 19 * 1024, threads: 2, saltLen: 16, keyLen: 32}

// Bounds on stored parameters, so a damaged entry cannot make a login
// allocate without limit.
const (
	maxKDFTime   = 64
	maxKDFMemory = 1 << 20 // KiB: 1 GiB
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
)

// hasher hashes and verifies passwords with argon2id. At most a few hashes
// run at once (each takes memory MiB), the rest wait their turn.
type hasher struct {
	params kdfParams
	sem    chan struct{}
	// dummy is a hash no password matches, verified against when a user
	// does not exist so that answer takes as long as a wrong password.
	dummy string
}

func newHasher(p kdfParams) (*hasher, error) {
	h := &hasher{params: p, sem: make(chan struct{}, max(2, 2*runtime.GOMAXPROCS(0)))}
	salt := make([]byte, p.saltLen)
	key := make([]byte, p.keyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("userpass: make dummy hash: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("userpass: make dummy hash: %w", err)
	}
	h.dummy = encodeHash(p, salt, key)
	return h, nil
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.sem }

// hash returns the encoded argon2id hash of password with a fresh salt.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("userpass: make salt: %w", err)
	}
	pw := []byte(password)
	defer clear(pw)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey(pw, salt, h.params.time, h.params.memory, h.params.threads, uint32(h.params.keyLen))
	h.release()
	defer clear(key)
	return encodeHash(h.params, salt, key), nil
}

// verify reports whether password matches encoded, comparing in constant
// time. A malformed encoded hash is checked against the dummy instead
// (so it costs the same) and never matches.
func (h *hasher) verify(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	valid := err == nil
	if !valid {
		if p, salt, want, err = decodeHash(h.dummy); err != nil {
			return false, err
		}
	}
	pw := []byte(password)
	defer clear(pw)
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey(pw, salt, p.time, p.memory, p.threads, uint32(len(want)))
	h.release()
	defer clear(got)
	return subtle.ConstantTimeCompare(got, want) == 1 && valid, nil
}

// encodeHash writes the PHC string form:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<key>.
func encodeHash(p kdfParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// decodeHash parses encodeHash's form, within the bounds above.
func decodeHash(s string) (p kdfParams, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return kdfParams{}, nil, nil, errBadHash
	}
	var m, t, th uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return kdfParams{}, nil, nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return kdfParams{}, nil, nil, errBadHash
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			th = n
		default:
			return kdfParams{}, nil, nil, errBadHash
		}
	}
	if t < 1 || t > maxKDFTime || th < 1 || th > 255 || m < 8*th || m > maxKDFMemory {
		return kdfParams{}, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen || len(key) < minKeyLen || len(key) > maxKeyLen {
		return kdfParams{}, nil, nil, errBadHash
	}
	return kdfParams{time: uint32(t), memory: uint32(m), threads: uint8(th), saltLen: len(salt), keyLen: len(key)}, salt, key, nil
}
