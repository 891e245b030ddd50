package peer

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// Application protocols negotiated with ALPN on the one cluster port.
const (
	ProtoRaft   = "coffer-raft/1"
	ProtoRPC    = "coffer-rpc/1"
	ProtoGossip = "coffer-gossip/1"
)

var serverProtos = []string{ProtoRaft, ProtoRPC, ProtoGossip}

// Identity is a node's leaf certificate, its private key and the CA pool it
// trusts. It is immutable and safe for concurrent use.
type Identity struct {
	nodeID string
	leaf   *x509.Certificate
	cert   tls.Certificate
	pool   *x509.CertPool
	server *tls.Config
}

// NewIdentity builds an identity from the cluster CA certificate(s) (one or
// more PEM blocks), a leaf certificate and its private key. It verifies
// that the leaf chains to the CA, is valid now for both server and client
// authentication with ServerName, carries a valid node ID as its common
// name, and that key matches it.
func NewIdentity(caCertPEM, certPEM []byte, key crypto.Signer) (*Identity, error) {
	if key == nil {
		return nil, fmt.Errorf("peer: identity: nil key")
	}
	cas, err := parseCertsPEM(caCertPEM)
	if err != nil {
		return nil, fmt.Errorf("peer: identity: parse ca: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		if !c.IsCA {
			return nil, ErrNotCA
		}
		pool.AddCert(c)
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("peer: identity: parse leaf: %w", err)
	}
	if !ValidNodeID(leaf.Subject.CommonName) {
		return nil, ErrInvalidNodeID
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:     pool,
			DNSName:   ServerName,
			KeyUsages: []x509.ExtKeyUsage{usage},
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
	}
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		return nil, ErrKeyMismatch
	}
	id := &Identity{
		nodeID: leaf.Subject.CommonName,
		leaf:   leaf,
		cert:   tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf},
		pool:   pool,
	}
	id.server = &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{id.cert},
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              pool,
		NextProtos:             serverProtos,
		SessionTicketsDisabled: true,
		VerifyConnection:       verifyPeerNodeID,
	}
	return id, nil
}

// NodeID returns the node ID, the common name of the leaf.
func (id *Identity) NodeID() string { return id.nodeID }

// NotAfter returns when the leaf expires; renew it before then.
func (id *Identity) NotAfter() time.Time { return id.leaf.NotAfter }

// clientConfig returns a TLS client configuration offering only proto.
func (id *Identity) clientConfig(proto string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		RootCAs:          id.pool,
		ServerName:       ServerName,
		Certificates:     []tls.Certificate{id.cert},
		NextProtos:       []string{proto},
		VerifyConnection: verifyPeerNodeID,
	}
}

// verifyPeerNodeID runs after the standard chain verification on both
// sides and additionally requires a well-formed node ID.
func verifyPeerNodeID(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ErrUntrusted
	}
	if !ValidNodeID(cs.VerifiedChains[0][0].Subject.CommonName) {
		return ErrInvalidNodeID
	}
	return nil
}
