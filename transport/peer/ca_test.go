package peer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	certPEM, keyPEM, err := NewCA("cluster-ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("CA key is %T, want ECDSA P-256", cert.PublicKey)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"IsCA", cert.IsCA && cert.BasicConstraintsValid},
		{"MaxPathLenZero", cert.MaxPathLen == 0 && cert.MaxPathLenZero},
		{"KeyUsage", cert.KeyUsage == x509.KeyUsageCertSign|x509.KeyUsageCRLSign},
		{"CommonName", cert.Subject.CommonName == "cluster-ca"},
		{"ten years", cert.NotAfter.Sub(cert.NotBefore) > 9*365*24*time.Hour},
		{"serial", cert.SerialNumber.Sign() > 0 && cert.SerialNumber.BitLen() <= 128},
		{"self-signed", cert.CheckSignatureFrom(cert) == nil},
		{"key PEM", strings.Contains(string(keyPEM), "PRIVATE KEY")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s check failed", c.name)
		}
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if string(ca.CertPEM()) != string(certPEM) {
		t.Error("CertPEM does not round-trip")
	}
}

func TestParseCA(t *testing.T) {
	certPEM, keyPEM, err := NewCA("a")
	if err != nil {
		t.Fatal(err)
	}
	_, otherKeyPEM, err := NewCA("b")
	if err != nil {
		t.Fatal(err)
	}
	ca := mustCA(t)
	key, _ := NewNodeKey()
	leafPEM, _ := ca.Issue("node1", key.Public(), time.Hour)
	leafKeyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	leafKeyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: leafKeyDER})
	ecDER, _ := x509.MarshalECPrivateKey(key)
	ecKeyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})

	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		wantErr error
	}{
		{"ok", certPEM, keyPEM, nil},
		{"mismatched key", certPEM, otherKeyPEM, ErrKeyMismatch},
		{"leaf is not a CA", leafPEM, leafKeyPEM, ErrNotCA},
		{"leaf with SEC1 key is not a CA", leafPEM, ecKeyPEM, ErrNotCA},
		{"garbage cert", []byte("nope"), keyPEM, ErrBadPEM},
		{"garbage key", certPEM, []byte("nope"), ErrBadPEM},
		{"key in cert slot", keyPEM, keyPEM, ErrBadPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCA(tt.cert, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseCA error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestIssueNodeIDs(t *testing.T) {
	ca := mustCA(t)
	key, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id string
		ok bool
	}{
		{"node1", true},
		{"a", true},
		{"Node-1.dc_2", true},
		{strings.Repeat("n", 128), true},
		{"", false},
		{strings.Repeat("n", 129), false},
		{"node 1", false},
		{"node/1", false},
		{"node:1", false},
		{"nœud", false},
		{"node\x00", false},
		{"*", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			certPEM, err := ca.Issue(tt.id, key.Public(), time.Hour)
			if !tt.ok {
				if !errors.Is(err, ErrInvalidNodeID) {
					t.Fatalf("Issue(%q) error = %v, want ErrInvalidNodeID", tt.id, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue(%q): %v", tt.id, err)
			}
			leaf, err := parseCertPEM(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			if leaf.Subject.CommonName != tt.id {
				t.Errorf("CN = %q", leaf.Subject.CommonName)
			}
		})
	}
}

func TestIssueLeaf(t *testing.T) {
	ca := mustCA(t)
	key, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	certPEM, err := ca.Issue("node1", key.Public(), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"DNSNames", slices.Equal(leaf.DNSNames, []string{ServerName})},
		{"ExtKeyUsage", slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})},
		{"KeyUsage", leaf.KeyUsage == x509.KeyUsageDigitalSignature},
		{"not a CA", !leaf.IsCA},
		{"NotBefore", leaf.NotBefore.Before(before.Add(-50*time.Second)) && leaf.NotBefore.After(before.Add(-2*time.Minute))},
		{"NotAfter", leaf.NotAfter.Sub(before) > time.Hour+59*time.Minute && leaf.NotAfter.Sub(before) <= 2*time.Hour+time.Minute},
		{"signed by CA", leaf.CheckSignatureFrom(ca.cert) == nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s check failed", c.name)
		}
	}

	// A TTL beyond the CA's life is capped at it.
	longPEM, err := ca.Issue("node1", key.Public(), 100*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	long, _ := parseCertPEM(longPEM)
	if long.NotAfter.After(ca.cert.NotAfter) {
		t.Errorf("leaf outlives CA: %v > %v", long.NotAfter, ca.cert.NotAfter)
	}
}

func TestIssueRejectsKeys(t *testing.T) {
	ca := mustCA(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := NewNodeKey()
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		ttl     time.Duration
		wantErr error
	}{
		{"p256", p256.Public(), time.Hour, nil},
		{"ed25519", edPub, time.Hour, nil},
		{"p384", p384.Public(), time.Hour, ErrUnsupportedKey},
		{"rsa", rsaKey.Public(), time.Hour, ErrUnsupportedKey},
		{"nil", nil, time.Hour, ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.Issue("node1", tt.pub, tt.ttl)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Issue error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if _, err := ca.Issue("node1", p256.Public(), 0); err == nil {
		t.Error("Issue with zero TTL succeeded")
	}
}

func TestPublicKeyRoundTrip(t *testing.T) {
	p256, _ := NewNodeKey()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, pub := range []crypto.PublicKey{p256.Public(), edPub} {
		s, err := MarshalPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePublicKey(s)
		if err != nil {
			t.Fatal(err)
		}
		if !publicKeysEqual(got, pub) {
			t.Errorf("%T did not round-trip", pub)
		}
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(p384.Public())
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaDER, _ := x509.MarshalPKIXPublicKey(rsaKey.Public())
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"not base64", "!!!"},
		{"not DER", b64([]byte("hello"))},
		{"p384", b64(p384DER)},
		{"rsa", b64(rsaDER)},
		{"huge", strings.Repeat("A", 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePublicKey(tt.in); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := MarshalPublicKey(p384.Public()); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("MarshalPublicKey(p384) error = %v", err)
	}
}
