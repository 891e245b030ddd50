package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// A blob is what the barrier stores for a value (OpenBao's layout):
//
//	term (4 bytes, big-endian) | version (1 byte) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The GCM additional data is the full storage path, so a blob copied to
// another path does not decrypt. Keyring terms start at 1; term 0 marks the
// two records sealed by something other than the keyring (the root key
// under the seal, the keyring under the root key).
const (
	termSize = 4
	// blobVersion is OpenBao's AESGCMVersion2: AES-256-GCM with the path
	// as additional data.
	blobVersion = 2
	nonceSize   = 12
	tagSize     = 16
	headerSize  = termSize + 1 + nonceSize
	minBlobSize = headerSize + tagSize

	keySize = 32 // AES-256

	// recordTerm is the term of records not sealed by the keyring.
	recordTerm = 0
)

// newAEAD returns AES-256-GCM under key. The cipher expands and keeps its
// own copy of the key schedule; the caller still owns (and zeroes) key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), keySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: gcm: %w", err)
	}
	return aead, nil
}

// sealBlob encrypts plaintext for path under aead, labelled with term.
func sealBlob(aead cipher.AEAD, term uint32, path string, plaintext []byte) []byte {
	out := make([]byte, headerSize, headerSize+len(plaintext)+aead.Overhead())
	binary.BigEndian.PutUint32(out, term)
	out[termSize] = blobVersion
	nonce := out[termSize+1 : headerSize]
	rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	return aead.Seal(out, nonce, plaintext, []byte(path))
}

// parseBlob splits blob into its term, nonce and sealed payload, checking
// only the framing; authenticity is openPayload's job.
func parseBlob(blob []byte) (term uint32, nonce, payload []byte, err error) {
	if len(blob) < minBlobSize {
		return 0, nil, nil, fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	if blob[termSize] != blobVersion {
		return 0, nil, nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, blob[termSize])
	}
	return binary.BigEndian.Uint32(blob), blob[termSize+1 : headerSize], blob[headerSize:], nil
}

// openPayload authenticates and decrypts a payload for path.
func openPayload(aead cipher.AEAD, nonce, payload []byte, path string) ([]byte, error) {
	plaintext, err := aead.Open(nil, nonce, payload, []byte(path))
	if err != nil {
		return nil, fmt.Errorf("%w: message authentication failed", ErrDecrypt)
	}
	return plaintext, nil
}

// openRecord decrypts a blob that must carry term want.
func openRecord(aead cipher.AEAD, want uint32, path string, blob []byte) ([]byte, error) {
	term, nonce, payload, err := parseBlob(blob)
	if err != nil {
		return nil, err
	}
	if term != want {
		return nil, fmt.Errorf("%w: record has term %d, want %d", ErrDecrypt, term, want)
	}
	return openPayload(aead, nonce, payload, path)
}
