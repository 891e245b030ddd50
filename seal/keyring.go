package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// term is one keyring key: the data key for blobs labelled with its number.
type term struct {
	number    uint32
	key       []byte // kept to persist the keyring; zeroed on seal
	installed time.Time
	// aead is built once from key; the hot path never redoes the key
	// schedule.
	aead cipher.AEAD
	// encryptions counts blobs sealed with this term since unseal on this
	// node (not persisted).
	encryptions atomic.Uint64
}

func newTerm(number uint32, key []byte, installed time.Time) (*term, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &term{number: number, key: key, installed: installed, aead: aead}, nil
}

// randomTerm returns a term with a fresh key from crypto/rand.
func randomTerm(number uint32) (*term, error) {
	key := make([]byte, keySize)
	rand.Read(key)
	t, err := newTerm(number, key, time.Now().UTC())
	if err != nil {
		clear(key)
	}
	return t, err
}

// zero wipes the key and drops the AEAD (whose internal key schedule Go
// gives no way to wipe; see DESIGN.md).
func (t *term) zero() {
	clear(t.key)
	t.key = nil
	t.aead = nil
}

// keyring is every term this node knows; the active one (always the
// highest) seals new writes, all of them open old ones.
type keyring struct {
	terms  map[uint32]*term
	active *term
}

func newKeyring(terms ...*term) *keyring {
	k := &keyring{terms: make(map[uint32]*term, len(terms))}
	for _, t := range terms {
		k.add(t)
	}
	return k
}

func (k *keyring) add(t *term) {
	k.terms[t.number] = t
	if k.active == nil || t.number > k.active.number {
		k.active = t
	}
}

func (k *keyring) zero() {
	for _, t := range k.terms {
		t.zero()
	}
	clear(k.terms)
	k.active = nil
}

// merge adds the terms of other this keyring lacks and zeroes the rest of
// other. It reports the numbers of terms whose keys differ between the two
// (which means two nodes rotated from the same stale keyring); ours win.
func (k *keyring) merge(other *keyring) (conflicts []uint32) {
	for n, t := range other.terms {
		mine, ok := k.terms[n]
		if !ok {
			k.add(t)
			continue
		}
		if subtle.ConstantTimeCompare(mine.key, t.key) != 1 {
			conflicts = append(conflicts, n)
		}
		t.zero()
	}
	return conflicts
}

// The keyring's plaintext encoding, sealed under the root key at
// keyringPath. Fixed-size binary rather than JSON so every copy of the
// keys is a buffer this package owns and zeroes (encoding/json keeps
// base64 text in pooled buffers):
//
//	version (1) | active term (4) | count (4) | count x [term (4) | install time, Unix ns (8) | key (32)]
const (
	keyringVersion    = 1
	keyringHeaderSize = 1 + 4 + 4
	keyringEntrySize  = 4 + 8 + keySize
)

// encode returns the keyring's plaintext, terms in ascending order. The
// caller zeroes it.
func (k *keyring) encode() []byte {
	numbers := make([]uint32, 0, len(k.terms))
	for n := range k.terms {
		numbers = append(numbers, n)
	}
	sort.Slice(numbers, func(i, j int) bool { return numbers[i] < numbers[j] })
	out := make([]byte, keyringHeaderSize, keyringHeaderSize+len(numbers)*keyringEntrySize)
	out[0] = keyringVersion
	binary.BigEndian.PutUint32(out[1:], k.active.number)
	binary.BigEndian.PutUint32(out[5:], uint32(len(numbers)))
	for _, n := range numbers {
		t := k.terms[n]
		out = binary.BigEndian.AppendUint32(out, n)
		out = binary.BigEndian.AppendUint64(out, uint64(t.installed.UnixNano()))
		out = append(out, t.key...)
	}
	return out
}

// decodeKeyring parses encode's output and builds each term's AEAD. The
// keys are copied; the caller zeroes data.
func decodeKeyring(data []byte) (*keyring, error) {
	if len(data) < keyringHeaderSize || data[0] != keyringVersion {
		return nil, fmt.Errorf("seal: keyring: bad header")
	}
	active := binary.BigEndian.Uint32(data[1:])
	count := binary.BigEndian.Uint32(data[5:])
	body := data[keyringHeaderSize:]
	if count == 0 || uint64(len(body)) != uint64(count)*keyringEntrySize {
		return nil, fmt.Errorf("seal: keyring: bad length")
	}
	k := newKeyring()
	for off := 0; off < len(body); off += keyringEntrySize {
		entry := body[off : off+keyringEntrySize]
		n := binary.BigEndian.Uint32(entry)
		if n == recordTerm || k.terms[n] != nil {
			k.zero()
			return nil, fmt.Errorf("seal: keyring: bad or repeated term %d", n)
		}
		installed := time.Unix(0, int64(binary.BigEndian.Uint64(entry[4:]))).UTC()
		key := make([]byte, keySize)
		copy(key, entry[12:])
		t, err := newTerm(n, key, installed)
		if err != nil {
			clear(key)
			k.zero()
			return nil, err
		}
		k.add(t)
	}
	if k.active.number != active {
		k.zero()
		return nil, fmt.Errorf("seal: keyring: active term %d is not the newest", active)
	}
	return k, nil
}

// sealKeyring encodes k and encrypts it under the root key.
func sealKeyring(root cipher.AEAD, k *keyring) []byte {
	plain := k.encode()
	defer clear(plain)
	return sealBlob(root, recordTerm, keyringPath, plain)
}

// openKeyring decrypts and decodes a keyring record.
func openKeyring(root cipher.AEAD, blob []byte) (*keyring, error) {
	plain, err := openRecord(root, recordTerm, keyringPath, blob)
	if err != nil {
		return nil, fmt.Errorf("seal: keyring: %w", err)
	}
	defer clear(plain)
	return decodeKeyring(plain)
}
