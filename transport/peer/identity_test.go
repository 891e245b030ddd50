package peer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestNewIdentity(t *testing.T) {
	ca := mustCA(t)
	other := mustCA(t)
	key, _ := NewNodeKey()
	otherKey, _ := NewNodeKey()
	leaf, err := ca.Issue("node1", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreignLeaf, err := other.Issue("node1", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edLeaf, err := ca.Issue("node-ed", edPub, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(append([]byte(nil), other.certPEM...), ca.certPEM...)

	tests := []struct {
		name    string
		ca      []byte
		leaf    []byte
		key     crypto.Signer
		wantErr error
	}{
		{"ok", ca.certPEM, leaf, key, nil},
		{"ed25519", ca.certPEM, edLeaf, edKey, nil},
		{"ca bundle", bundle, leaf, key, nil},
		{"leaf from another CA", ca.certPEM, foreignLeaf, key, ErrUntrusted},
		{"mismatched key", ca.certPEM, leaf, otherKey, ErrKeyMismatch},
		{"nil key", ca.certPEM, leaf, nil, nil},
		{"CA as leaf", ca.certPEM, ca.certPEM, key, ErrInvalidNodeID},
		{"leaf as CA", leaf, leaf, key, ErrNotCA},
		{"garbage CA", []byte("x"), leaf, key, ErrBadPEM},
		{"garbage leaf", ca.certPEM, []byte("x"), key, ErrBadPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := NewIdentity(tt.ca, tt.leaf, tt.key)
			switch {
			case tt.key == nil:
				if err == nil {
					t.Fatal("nil key accepted")
				}
			case tt.wantErr == nil:
				if err != nil {
					t.Fatalf("NewIdentity: %v", err)
				}
				if id.NodeID() == "" || id.NotAfter().IsZero() {
					t.Errorf("NodeID %q NotAfter %v", id.NodeID(), id.NotAfter())
				}
			default:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewIdentity error = %v, want %v", err, tt.wantErr)
				}
			}
		})
	}
}

func TestNewIdentityRejectsExpiredLeaf(t *testing.T) {
	ca := mustCA(t)
	key, _ := NewNodeKey()
	// NotBefore is now-1m, so a 1ns TTL yields a leaf already expired.
	leaf, err := ca.Issue("node1", key.Public(), time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIdentity(ca.certPEM, leaf, key); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("NewIdentity error = %v, want ErrUntrusted", err)
	}
}
