package seal

import (
	"context"
	"crypto/cipher"
)

// Wrapper protects the root key at rest: Initialize wraps the new root key
// with it and Unseal unwraps the stored one. Shamir: the wrapping key is an
// unseal key recombined from shares (keyWrapper). PKCS#11 (to come): a
// non-exportable AES key inside the HSM, so Wrap and Unwrap are HSM calls
// and need no operator.
//
// Implementations bind path as additional data, return an error wrapping
// ErrDecrypt when the blob does not authenticate (wrong key, or tampered
// with), and are safe for concurrent use (seal/sealtest checks all of it).
type Wrapper interface {
	// Wrap encrypts rootKey for storage at path.
	Wrap(ctx context.Context, path string, rootKey []byte) ([]byte, error)
	// Unwrap returns the root key sealed in blob; the caller zeroes it.
	Unwrap(ctx context.Context, path string, blob []byte) ([]byte, error)
}

var _ Wrapper = (*keyWrapper)(nil)

// keyWrapper is the Shamir seal's Wrapper: AES-256-GCM under the unseal
// key, in the barrier's blob format with term 0.
type keyWrapper struct{ aead cipher.AEAD }

// newKeyWrapper builds the AEAD from unsealKey; the caller zeroes unsealKey.
func newKeyWrapper(unsealKey []byte) (*keyWrapper, error) {
	aead, err := newAEAD(unsealKey)
	if err != nil {
		return nil, err
	}
	return &keyWrapper{aead: aead}, nil
}

func (w *keyWrapper) Wrap(_ context.Context, path string, rootKey []byte) ([]byte, error) {
	return sealBlob(w.aead, recordTerm, path, rootKey), nil
}

func (w *keyWrapper) Unwrap(_ context.Context, path string, blob []byte) ([]byte, error) {
	return openRecord(w.aead, recordTerm, path, blob)
}
