package seal

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzDecrypt: arbitrary blobs and paths never panic, and nothing decrypts
// unless it is exactly a blob Encrypt produced, at its own path.
func FuzzDecrypt(f *testing.F) {
	b, _, _ := mustBarrier(f)
	type sealed struct {
		path string
		blob []byte
	}
	var valid []sealed
	for _, path := range []string{"logical/m/a", "sys/token/id/x", ""} {
		for _, pt := range [][]byte{nil, []byte("v"), bytes.Repeat([]byte("x"), 100)} {
			blob := mustEncrypt(f, b, path, pt)
			valid = append(valid, sealed{path, blob})
			f.Add(path, blob)
		}
	}
	f.Add("logical/m/a", []byte{})
	f.Add("logical/m/a", make([]byte, minBlobSize))
	f.Fuzz(func(t *testing.T, path string, blob []byte) {
		_, err := b.Decrypt(path, blob)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("error does not wrap ErrDecrypt: %v", err)
			}
			return
		}
		for _, v := range valid {
			if v.path == path && bytes.Equal(v.blob, blob) {
				return
			}
		}
		t.Fatalf("a blob not made by Encrypt decrypted at %q", path)
	})
}

// FuzzDecodeKeyring: the keyring decoder never panics, and what it accepts
// re-encodes to something it accepts with the same terms.
func FuzzDecodeKeyring(f *testing.F) {
	t1, err := randomTerm(1)
	if err != nil {
		f.Fatal(err)
	}
	t2, err := randomTerm(2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(newKeyring(t1).encode())
	f.Add(newKeyring(t1, t2).encode())
	f.Add([]byte{keyringVersion, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := decodeKeyring(data)
		if err != nil {
			return
		}
		defer k.zero()
		again, err := decodeKeyring(k.encode())
		if err != nil {
			t.Fatalf("re-encoded keyring rejected: %v", err)
		}
		defer again.zero()
		if len(again.terms) != len(k.terms) || again.active.number != k.active.number {
			t.Fatal("re-encoded keyring differs")
		}
		for n, term := range k.terms {
			o := again.terms[n]
			if o == nil || !bytes.Equal(o.key, term.key) || !o.installed.Equal(term.installed) {
				t.Fatalf("term %d differs after re-encoding", n)
			}
		}
	})
}

// FuzzSealConfig: the seal config decoder never panics and only accepts
// valid configurations.
func FuzzSealConfig(f *testing.F) {
	f.Add([]byte(`{"type":"shamir","secret_shares":5,"secret_threshold":3}`))
	f.Add([]byte(`{"type":"shamir","secret_shares":1,"secret_threshold":1}`))
	f.Add([]byte(`{"type":"pkcs11"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := decodeSealConfig(raw)
		if err != nil {
			return
		}
		if cfg.validate() != nil || cfg.Type != SealTypeShamir {
			t.Fatalf("accepted an invalid config: %+v", cfg)
		}
	})
}

func TestKeyringEncodingRoundTrip(t *testing.T) {
	var terms []*term
	for n := uint32(1); n <= 3; n++ {
		term, err := randomTerm(n)
		if err != nil {
			t.Fatal(err)
		}
		term.installed = time.Unix(1700000000, int64(n)).UTC()
		terms = append(terms, term)
	}
	k := newKeyring(terms...)
	got, err := decodeKeyring(k.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.active.number != 3 || len(got.terms) != 3 {
		t.Fatalf("decoded active %d, %d terms", got.active.number, len(got.terms))
	}
	for n, term := range k.terms {
		if !bytes.Equal(got.terms[n].key, term.key) || !got.terms[n].installed.Equal(term.installed) {
			t.Fatalf("term %d differs", n)
		}
	}
	// The active term must be the newest.
	bad := k.encode()
	bad[4] = 2
	if _, err := decodeKeyring(bad); err == nil {
		t.Fatal("accepted an active term that is not the newest")
	}
}
