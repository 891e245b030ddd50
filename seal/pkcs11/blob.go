package pkcs11

import (
	"encoding/binary"
	"fmt"

	"coffer/seal"
)

// A blob is what Wrap returns, a versioned binary record:
//
//	version     1 byte (blobVersion)
//	mechanism   1 byte (wrapMech)
//	key label   uint16 length | bytes   the key that wrapped the DEK,
//	key id      uint16 length | bytes   as found in the token
//	HSM IV      uint16 length | bytes   12 bytes for AES-GCM, none for RSA
//	wrapped DEK uint16 length | bytes   the DEK encrypted in the HSM
//	nonce       uint16 length | bytes   12 bytes, for the Go AES-GCM
//	ciphertext  uint32 length | bytes   plaintext under the DEK, with tag
//
// Integers are big-endian. Everything before the nonce is the header; the
// Go AES-GCM authenticates header||path as additional data, so no byte of
// the record can change unnoticed.
const (
	blobVersion = 1

	gcmIVSize    = 12 // the HSM's AES-GCM IV, and the Go nonce
	gcmTagSize   = 16
	dekSize      = 32 // AES-256 data encryption key
	maxField     = 1024
	minRSAOutput = 64   // RSA-512, the smallest modulus any token offers
	maxRSAOutput = 2048 // RSA-16384

	// MaxPlaintext bounds what Wrap accepts (a root key is 32 bytes).
	MaxPlaintext = 64 << 10
)

// wrapMech is how the DEK was wrapped in the HSM.
type wrapMech byte

const (
	mechAESGCM        wrapMech = 1 // CKM_AES_GCM, 128-bit tag, AAD = path
	mechRSAOAEPSHA256 wrapMech = 2 // CKM_RSA_PKCS_OAEP, SHA-256, MGF1-SHA-256
	mechRSAOAEPSHA1   wrapMech = 3 // CKM_RSA_PKCS_OAEP, SHA-1, MGF1-SHA-1 (tokens without SHA-2 OAEP)
)

// isRSA reports whether m wraps with an RSA key pair.
func (m wrapMech) isRSA() bool { return m == mechRSAOAEPSHA256 || m == mechRSAOAEPSHA1 }

// record is a blob's fields.
type record struct {
	mech       wrapMech
	label, id  []byte
	iv         []byte
	wrapped    []byte
	nonce      []byte
	ciphertext []byte
}

// header encodes the fields up to the wrapped DEK.
func (r *record) header() []byte {
	n := 2 + 2*4 + len(r.label) + len(r.id) + len(r.iv) + len(r.wrapped)
	b := make([]byte, 0, n)
	b = append(b, blobVersion, byte(r.mech))
	for _, f := range [][]byte{r.label, r.id, r.iv, r.wrapped} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// marshal encodes the record whose header is hdr.
func (r *record) marshal(hdr []byte) []byte {
	b := make([]byte, 0, len(hdr)+2+len(r.nonce)+4+len(r.ciphertext))
	b = append(b, hdr...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.nonce)))
	b = append(b, r.nonce...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.ciphertext)))
	return append(b, r.ciphertext...)
}

// parseRecord decodes blob and returns its header bytes too. It checks
// the framing and every length against the mechanism; authenticity is
// checked later, by the HSM and the Go AES-GCM. Every failure wraps
// seal.ErrDecrypt. The record's slices alias blob.
func parseRecord(blob []byte) (*record, []byte, error) {
	d := decoder{b: blob}
	if v := d.byte(); v != blobVersion {
		if d.err != nil {
			return nil, nil, d.err
		}
		return nil, nil, fmt.Errorf("%w: unknown blob version %d", seal.ErrDecrypt, v)
	}
	r := &record{mech: wrapMech(d.byte())}
	r.label = d.field16(maxField)
	r.id = d.field16(maxField)
	r.iv = d.field16(gcmIVSize)
	r.wrapped = d.field16(maxRSAOutput)
	hdrLen := d.off
	r.nonce = d.field16(gcmIVSize)
	r.ciphertext = d.field32(MaxPlaintext + gcmTagSize)
	if d.err != nil {
		return nil, nil, d.err
	}
	if d.off != len(blob) {
		return nil, nil, fmt.Errorf("%w: trailing bytes after the blob", seal.ErrDecrypt)
	}
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	return r, blob[:hdrLen], nil
}

// check validates the decoded lengths for the record's mechanism.
func (r *record) check() error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", seal.ErrDecrypt, what) }
	switch r.mech {
	case mechAESGCM:
		if len(r.iv) != gcmIVSize || len(r.wrapped) != dekSize+gcmTagSize {
			return bad("malformed AES-GCM wrapped key")
		}
	case mechRSAOAEPSHA256, mechRSAOAEPSHA1:
		if len(r.iv) != 0 || len(r.wrapped) < minRSAOutput {
			return bad("malformed RSA-OAEP wrapped key")
		}
	default:
		return bad(fmt.Sprintf("unknown mechanism %d", r.mech))
	}
	switch {
	case len(r.label) == 0 && len(r.id) == 0:
		return bad("no key label or id")
	case len(r.nonce) != gcmIVSize:
		return bad("malformed nonce")
	case len(r.ciphertext) < gcmTagSize:
		return bad("ciphertext too short")
	}
	return nil
}

// decoder reads length-prefixed fields; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.off {
		d.err = fmt.Errorf("%w: blob truncated", seal.ErrDecrypt)
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

func (d *decoder) byte() byte {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) field16(limit int) []byte {
	p := d.take(2)
	if p == nil {
		return nil
	}
	return d.field(int(binary.BigEndian.Uint16(p)), limit)
}

func (d *decoder) field32(limit int) []byte {
	p := d.take(4)
	if p == nil {
		return nil
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(limit) {
		d.err = fmt.Errorf("%w: field too long", seal.ErrDecrypt)
		return nil
	}
	return d.field(int(n), limit)
}

func (d *decoder) field(n, limit int) []byte {
	if n > limit {
		d.err = fmt.Errorf("%w: field too long", seal.ErrDecrypt)
		return nil
	}
	return d.take(n)
}

// String names m for logs.
func (m wrapMech) String() string {
	switch m {
	case mechAESGCM:
		return "AES-256-GCM"
	case mechRSAOAEPSHA256:
		return "RSA-OAEP-SHA256"
	case mechRSAOAEPSHA1:
		return "RSA-OAEP-SHA1"
	}
	return fmt.Sprintf("mechanism(%d)", byte(m))
}

// configName is m's mechanism as configured.
func (m wrapMech) configName() string {
	if m.isRSA() {
		return MechanismRSAOAEP
	}
	return MechanismAESGCM
}

// keyKind is the kind of key m needs, for messages.
func (m wrapMech) keyKind() string {
	if m.isRSA() {
		return "an RSA key pair"
	}
	return "an AES secret key"
}
