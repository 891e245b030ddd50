package peer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

const testTTL = time.Hour

// testCA is a cluster CA for tests.
type testCA struct {
	*CA
	certPEM []byte
	pool    *x509.CertPool
}

func mustCA(tb testing.TB) *testCA {
	tb.Helper()
	certPEM, keyPEM, err := NewCA("coffer test ca")
	if err != nil {
		tb.Fatalf("NewCA: %v", err)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		tb.Fatalf("ParseCA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &testCA{CA: ca, certPEM: certPEM, pool: pool}
}

func mustIdentity(tb testing.TB, ca *testCA, nodeID string) *Identity {
	tb.Helper()
	key, err := NewNodeKey()
	if err != nil {
		tb.Fatalf("NewNodeKey: %v", err)
	}
	leaf, err := ca.Issue(nodeID, key.Public(), testTTL)
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	id, err := NewIdentity(ca.certPEM, leaf, key)
	if err != nil {
		tb.Fatalf("NewIdentity: %v", err)
	}
	return id
}

// mustTransport listens on loopback and installs id if it is not nil.
func mustTransport(tb testing.TB, id *Identity) *Transport {
	tb.Helper()
	t, err := Listen(Config{BindAddr: "127.0.0.1:0", HandshakeTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	tb.Cleanup(func() { _ = t.Close() })
	if id != nil {
		t.SetIdentity(id)
	}
	return t
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func (t *Transport) numConns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// rawTLS dials addr with a caller-built TLS config, completes the client
// handshake and then reads, so a TLS 1.3 rejection of the client
// certificate (sent after the client's Finished) surfaces. It returns the
// first error.
func rawTLS(tb testing.TB, addr string, cfg *tls.Config) error {
	tb.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return err
	}
	var b [1]byte
	_, err = c.Read(b[:])
	return err
}

// mustTLSRefusal asserts err is a TLS-level refusal mentioning want, not a
// timeout.
func mustTLSRefusal(tb testing.TB, err error, want string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("connection accepted, want TLS refusal %q", want)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("timed out, want TLS refusal %q: %v", want, err)
	}
	if !strings.Contains(err.Error(), want) {
		tb.Fatalf("error %q, want it to mention %q", err, want)
	}
}

// mustHangUp asserts that the other end closed c: a read fails with EOF
// or a reset, not with a timeout.
func mustHangUp(tb testing.TB, c net.Conn) {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		tb.Fatal("read succeeded, want the connection closed")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("read timed out, want the connection closed: %v", err)
	}
}
