package peer

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
)

func FuzzParsePublicKey(f *testing.F) {
	key, _ := NewNodeKey()
	s, _ := MarshalPublicKey(key.Public())
	f.Add(s)
	f.Add("")
	f.Add("MCowBQYDK2VwAyEA")
	f.Fuzz(func(t *testing.T, in string) {
		pub, err := ParsePublicKey(in)
		if err != nil {
			return
		}
		out, err := MarshalPublicKey(pub)
		if err != nil {
			t.Fatalf("accepted key does not marshal: %v", err)
		}
		again, err := ParsePublicKey(out)
		if err != nil || !publicKeysEqual(again, pub) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = writeFrame(&buf, []byte("hello"))
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 1, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			payload, err := readFrame(r)
			if err != nil {
				return
			}
			if len(payload) == 0 || len(payload) > maxFrameLen {
				t.Fatalf("accepted a %d-byte frame", len(payload))
			}
			var out bytes.Buffer
			if err := writeFrame(&out, payload); err != nil {
				t.Fatal(err)
			}
			back, err := readFrame(&out)
			if err != nil || !bytes.Equal(back, payload) {
				t.Fatalf("frame round trip failed: %v", err)
			}
		}
	})
}

func FuzzReadHello(f *testing.F) {
	f.Add(encodeHello(netip.MustParseAddrPort("127.0.0.1:8201"))[1:])
	f.Add(encodeHello(netip.MustParseAddrPort("[::1]:8201"))[1:])
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff, 'a'})
	f.Fuzz(func(t *testing.T, in []byte) {
		addr, err := readHello(bytes.NewReader(in))
		if err != nil {
			if addr != nil {
				t.Fatal("address with error")
			}
			return
		}
		if addr.Port == 0 {
			t.Fatal("accepted port 0")
		}
		hello := encodeHello(addr.AddrPort())
		again, err := readHello(bytes.NewReader(hello[1:]))
		if err != nil && !errors.Is(err, ErrBadFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatal(err)
		}
		if err == nil && again.String() != addr.String() {
			t.Fatalf("hello round trip: %s != %s", again, addr)
		}
	})
}

func FuzzParseCA(f *testing.F) {
	certPEM, keyPEM, _ := NewCA("fuzz")
	f.Add(certPEM, keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{})
	f.Fuzz(func(t *testing.T, cert, key []byte) {
		ca, err := ParseCA(cert, key)
		if err != nil {
			return
		}
		if _, err := parseCertPEM(ca.CertPEM()); err != nil {
			t.Fatalf("accepted CA does not re-parse: %v", err)
		}
	})
}

func FuzzNewIdentity(f *testing.F) {
	ca := mustCA(f)
	key, _ := NewNodeKey()
	leaf, _ := ca.Issue("node1", key.Public(), testTTL)
	f.Add(ca.certPEM, leaf)
	f.Add(leaf, ca.certPEM)
	f.Fuzz(func(t *testing.T, caPEM, leafPEM []byte) {
		id, err := NewIdentity(caPEM, leafPEM, key)
		if err != nil {
			return
		}
		if !ValidNodeID(id.NodeID()) {
			t.Fatalf("accepted node id %q", id.NodeID())
		}
	})
}
