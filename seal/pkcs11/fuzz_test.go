package pkcs11

import (
	"bytes"
	"errors"
	"testing"

	"coffer/seal"
)

// FuzzParseRecord checks the blob decoder never panics, fails only with
// seal.ErrDecrypt, and accepts only canonical encodings within bounds.
func FuzzParseRecord(f *testing.F) {
	for _, mech := range []wrapMech{mechAESGCM, mechRSAOAEPSHA256, mechRSAOAEPSHA1} {
		r := sampleRecord(mech)
		f.Add(r.marshal(r.header()))
	}
	f.Add([]byte{})
	f.Add([]byte{blobVersion, byte(mechAESGCM), 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, blob []byte) {
		r, hdr, err := parseRecord(blob)
		if err != nil {
			if !errors.Is(err, seal.ErrDecrypt) {
				t.Fatalf("error %v does not wrap seal.ErrDecrypt", err)
			}
			return
		}
		if !bytes.Equal(r.marshal(r.header()), blob) || !bytes.Equal(hdr, r.header()) {
			t.Fatal("accepted a non-canonical encoding")
		}
		if len(r.ciphertext) > MaxPlaintext+gcmTagSize || len(r.label) > maxField || len(r.id) > maxField {
			t.Fatal("accepted an out-of-bounds field")
		}
	})
}
