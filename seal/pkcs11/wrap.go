package pkcs11

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"coffer/seal"
)

// Wrap seals plaintext for storage at path: a fresh random DEK encrypts
// it with AES-256-GCM (additional data: the blob header and path), and
// the HSM key encrypts the DEK (CKM_AES_GCM with a random IV and the path
// as additional data, or CKM_RSA_PKCS_OAEP). The DEK is zeroed before
// Wrap returns.
func (s *Seal) Wrap(ctx context.Context, path string, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("pkcs11: wrap: plaintext of %d bytes exceeds %d", len(plaintext), MaxPlaintext)
	}
	s.mu.RLock()
	r := s.active
	s.mu.RUnlock()
	dek := make([]byte, dekSize)
	rand.Read(dek)
	defer clear(dek)
	rec := &record{mech: r.mech, label: []byte(r.label), id: []byte(r.id)}
	err := s.do(ctx, func(sess session) error {
		k, err := s.keyFor(sess, r)
		if err != nil {
			return err
		}
		if k.encrypt == 0 {
			return fmt.Errorf("%w: no RSA public key with %s in token %s", ErrKeyNotFound, r, s.token)
		}
		rec.iv, rec.wrapped, err = s.encryptDEK(sess.h, r.mech, k.encrypt, dek, path)
		return err
	})
	if err != nil {
		return nil, classify(err, "wrap with key "+r.String())
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	hdr := rec.header()
	rec.nonce = make([]byte, gcmIVSize)
	rand.Read(rec.nonce)
	rec.ciphertext = aead.Seal(nil, rec.nonce, plaintext, additionalData(hdr, path))
	return rec.marshal(hdr), nil
}

// Unwrap opens a blob Wrap made for path, with the key the blob names
// (which need not be the configured key, so blobs survive a change of
// key_label while the old key stays in the token). A blob that is
// malformed, altered, made for another path, or whose key is not in the
// token, fails with an error wrapping seal.ErrDecrypt. The caller zeroes
// the plaintext.
func (s *Seal) Unwrap(ctx context.Context, path string, blob []byte) ([]byte, error) {
	rec, hdr, err := parseRecord(blob)
	if err != nil {
		return nil, err
	}
	r := keyRef{mech: rec.mech, label: string(rec.label), id: string(rec.id)}
	var dek []byte
	defer func() { clear(dek) }()
	err = s.do(ctx, func(sess session) error {
		k, err := s.keyFor(sess, r)
		if err != nil {
			return err
		}
		if r.mech.isRSA() && len(rec.wrapped) != k.modLen {
			return fmt.Errorf("%w: wrapped key is %d bytes, the RSA modulus %d", seal.ErrDecrypt, len(rec.wrapped), k.modLen)
		}
		dek, err = s.decryptDEK(sess.h, r.mech, k.decrypt, rec.iv, rec.wrapped, path)
		return err
	})
	switch {
	case err == nil:
	case errors.Is(err, seal.ErrDecrypt):
		return nil, err
	case errors.Is(err, ErrKeyNotFound), notDecryptable(err):
		return nil, fmt.Errorf("%w: %w", seal.ErrDecrypt, err)
	default:
		return nil, classify(err, "unwrap with key "+r.String())
	}
	if len(dek) != dekSize {
		return nil, fmt.Errorf("%w: unwrapped key has the wrong size", seal.ErrDecrypt)
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, rec.nonce, rec.ciphertext, additionalData(hdr, path))
	if err != nil {
		return nil, fmt.Errorf("%w: message authentication failed", seal.ErrDecrypt)
	}
	return plaintext, nil
}

// encryptDEK encrypts dek in the HSM with key under mech, returning the
// IV it used (AES-GCM only) and the wrapped DEK.
func (s *Seal) encryptDEK(h p11.SessionHandle, mech wrapMech, key p11.ObjectHandle, dek []byte, path string) (iv, wrapped []byte, err error) {
	if mech == mechAESGCM {
		// The IV comes from here: SoftHSM2 does not make one.
		iv = make([]byte, gcmIVSize)
		rand.Read(iv)
	}
	m, gcm := mechanism(mech, iv, path)
	defer gcm.Free()
	if err := s.mod.ctx.EncryptInit(h, []*p11.Mechanism{m}, key); err != nil {
		return nil, nil, fmt.Errorf("encrypt init: %w", err)
	}
	wrapped, err = s.mod.ctx.Encrypt(h, dek)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt: %w", err)
	}
	if used := gcm.IV(); len(used) == gcmIVSize {
		iv = used // a token that picks its own IV writes it back
	}
	return iv, wrapped, nil
}

// decryptDEK decrypts a wrapped DEK in the HSM with key under mech.
func (s *Seal) decryptDEK(h p11.SessionHandle, mech wrapMech, key p11.ObjectHandle, iv, wrapped []byte, path string) ([]byte, error) {
	m, gcm := mechanism(mech, iv, path)
	defer gcm.Free()
	if err := s.mod.ctx.DecryptInit(h, []*p11.Mechanism{m}, key); err != nil {
		if badKeyOrMechanism(err) || isCKR(err, p11.CKR_ARGUMENTS_BAD) {
			// The blob names a key or mechanism this token cannot use.
			return nil, fmt.Errorf("%w: %w: decrypt init: %w", seal.ErrDecrypt, ErrMechanism, err)
		}
		return nil, fmt.Errorf("decrypt init: %w", err)
	}
	dek, err := s.mod.ctx.Decrypt(h, wrapped)
	if err != nil {
		if sessionLost(err) || handleStale(err) {
			return nil, fmt.Errorf("decrypt: %w", err)
		}
		// The key took the mechanism, so the input is to blame. Tokens
		// differ in how they say so: CKR_ENCRYPTED_DATA_INVALID, or
		// CKR_GENERAL_ERROR for a GCM tag mismatch (SoftHSM2).
		return nil, fmt.Errorf("%w: the HSM refused the wrapped key: %w", seal.ErrDecrypt, err)
	}
	return dek, nil
}

// mechanism builds the PKCS#11 mechanism for mech. For AES-GCM it also
// returns the parameters, to be freed once the operation is over (Free
// and IV are no-ops on nil).
func mechanism(mech wrapMech, iv []byte, path string) (*p11.Mechanism, *p11.GCMParams) {
	switch mech {
	case mechRSAOAEPSHA256:
		return p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(p11.CKM_SHA256, p11.CKG_MGF1_SHA256, p11.CKZ_DATA_SPECIFIED, nil)), nil
	case mechRSAOAEPSHA1:
		return p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, p11.CKZ_DATA_SPECIFIED, nil)), nil
	}
	params := p11.NewGCMParams(iv, []byte(path), gcmTagSize*8)
	return p11.NewMechanism(p11.CKM_AES_GCM, params), params
}

// additionalData is what the Go AES-GCM authenticates besides the
// ciphertext: the blob header, then the path.
func additionalData(hdr []byte, path string) []byte {
	ad := make([]byte, 0, len(hdr)+len(path))
	return append(append(ad, hdr...), path...)
}

// newGCM returns AES-256-GCM under key; the caller zeroes key.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: aes: %w", ErrHSM, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: gcm: %w", ErrHSM, err)
	}
	return aead, nil
}
