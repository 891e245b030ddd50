package pkcs11

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"coffer/seal"
)

// sampleRecord is a well-formed record for mech.
func sampleRecord(mech wrapMech) *record {
	r := &record{
		mech: mech, label: []byte("coffer-root"), id: []byte{1, 2, 3},
		nonce: bytes.Repeat([]byte{9}, gcmIVSize), ciphertext: bytes.Repeat([]byte{5}, 48),
	}
	if mech == mechAESGCM {
		r.iv, r.wrapped = bytes.Repeat([]byte{7}, gcmIVSize), bytes.Repeat([]byte{8}, dekSize+gcmTagSize)
	} else {
		r.iv, r.wrapped = []byte{}, bytes.Repeat([]byte{8}, 384)
	}
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	for _, mech := range []wrapMech{mechAESGCM, mechRSAOAEPSHA256, mechRSAOAEPSHA1} {
		t.Run(mech.String(), func(t *testing.T) {
			r := sampleRecord(mech)
			hdr := r.header()
			blob := r.marshal(hdr)
			got, gotHdr, err := parseRecord(blob)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotHdr, hdr) {
				t.Fatalf("header = %x, want %x", gotHdr, hdr)
			}
			if !bytes.Equal(got.marshal(got.header()), blob) {
				t.Fatal("re-marshalled record differs")
			}
			if got.mech != mech || string(got.label) != "coffer-root" || !bytes.Equal(got.id, r.id) {
				t.Fatalf("parsed %+v", got)
			}
		})
	}
}

func TestParseRecordRejects(t *testing.T) {
	good := func() *record { return sampleRecord(mechAESGCM) }
	encode := func(r *record) []byte { return r.marshal(r.header()) }
	tests := []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"version only", []byte{blobVersion}},
		{"unknown version", append([]byte{2}, encode(good())[1:]...)},
		{"unknown mechanism", func() []byte { r := good(); r.mech = 9; return encode(r) }()},
		{"no label or id", func() []byte { r := good(); r.label, r.id = nil, nil; return encode(r) }()},
		{"AES IV too short", func() []byte { r := good(); r.iv = r.iv[:11]; return encode(r) }()},
		{"AES wrapped key too long", func() []byte { r := good(); r.wrapped = append(r.wrapped, 0); return encode(r) }()},
		{"RSA with an IV", func() []byte { r := sampleRecord(mechRSAOAEPSHA256); r.iv = make([]byte, 12); return encode(r) }()},
		{"RSA wrapped key too short", func() []byte { r := sampleRecord(mechRSAOAEPSHA1); r.wrapped = r.wrapped[:63]; return encode(r) }()},
		{"nonce too short", func() []byte { r := good(); r.nonce = r.nonce[:8]; return encode(r) }()},
		{"ciphertext shorter than a tag", func() []byte { r := good(); r.ciphertext = r.ciphertext[:15]; return encode(r) }()},
		{"trailing byte", append(encode(good()), 0)},
		{"truncated", encode(good())[:40]},
		{"label length past the end", func() []byte { b := encode(good()); binary.BigEndian.PutUint16(b[2:], 0xffff); return b }()},
		{"ciphertext length huge", func() []byte {
			b := encode(good())
			binary.BigEndian.PutUint32(b[len(b)-48-4:], 0xffffffff)
			return b
		}()},
		{"label too long", func() []byte { r := good(); r.label = make([]byte, maxField+1); return encode(r) }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := parseRecord(tt.blob); !errors.Is(err, seal.ErrDecrypt) {
				t.Fatalf("parseRecord: %v, want seal.ErrDecrypt", err)
			}
		})
	}
}
