package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"coffer/transport/peer"

	vault "github.com/hashicorp/vault/api"
)

// mustMountKV mounts KV v2 at secret/ through node i.
func mustMountKV(t testing.TB, c *Cluster, i int) {
	t.Helper()
	err := c.Client(i).Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}})
	if err != nil {
		t.Fatalf("mount kv v2 on %s: %v", c.Nodes[i].ID, err)
	}
}

// readPassword reads secret/<path>'s "password" through cl; "" and
// vault.ErrSecretNotFound when there is none.
func readPassword(ctx context.Context, cl *vault.Client, path string) (string, error) {
	s, err := cl.KVv2("secret").Get(ctx, path)
	if err != nil {
		return "", err
	}
	v, _ := s.Data["password"].(string)
	return v, nil
}

func writePassword(ctx context.Context, cl *vault.Client, path, value string) error {
	_, err := cl.KVv2("secret").Put(ctx, path, map[string]any{"password": value})
	return err
}

// mustRead reads path through node i, without retry, and fails unless it
// holds want.
func mustRead(t testing.TB, c *Cluster, i int, path, want string) {
	t.Helper()
	got, err := readPassword(context.Background(), c.Client(i), path)
	if err != nil {
		t.Fatalf("read %s via %s: %v", path, c.Nodes[i].ID, err)
	}
	if got != want {
		t.Fatalf("read %s via %s: got %q, want %q (stale or lost)", path, c.Nodes[i].ID, got, want)
	}
}

// eventuallyRead retries reads of path through node i that fail with an
// error (node catching up, no leader yet) until the deadline, but fails at
// once if a read succeeds with another value: a stale read is a bug.
// want "" means the secret must not exist.
func eventuallyRead(t testing.TB, c *Cluster, i int, path, want string) {
	t.Helper()
	ctx := context.Background()
	cl := c.Client(i)
	deadline := time.Now().Add(clusterWait)
	for {
		got, err := readPassword(ctx, cl, path)
		if want == "" && errors.Is(err, vault.ErrSecretNotFound) {
			return
		}
		if err == nil {
			if got != want {
				t.Fatalf("read %s via %s: got %q, want %q", path, c.Nodes[i].ID, got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s via %s: still failing after %s: %v", path, c.Nodes[i].ID, clusterWait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterForwardingReadsFailoverSnapshot walks a three-node cluster
// through what the issue promises: forwarding from standbys with
// linearizable reads, failover after SIGKILL of the leader, a restarted
// node catching up, snapshot save and restore, and no plaintext on disk.
func TestClusterForwardingReadsFailoverSnapshot(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()

	// Three voters, one leader, the IDs we configured.
	leader := c.WaitLeader()
	servers := c.RaftServers(leader)
	if len(servers) != 3 {
		t.Fatalf("raft configuration has %d servers, want 3: %+v", len(servers), servers)
	}
	leaders := 0
	for _, s := range servers {
		if !s.Voter {
			t.Errorf("server %s is not a voter: %+v", s.NodeID, s)
		}
		if s.Leader {
			leaders++
			if s.NodeID != c.Nodes[leader].ID {
				t.Errorf("configuration says %s leads, sys/health says %s", s.NodeID, c.Nodes[leader].ID)
			}
		}
	}
	if leaders != 1 {
		t.Errorf("configuration lists %d leaders: %+v", leaders, servers)
	}
	standbys := c.Standbys(leader)
	a, b := standbys[0], standbys[1]
	for _, i := range standbys {
		if code, err := healthCode(c.Nodes[i].Addr, ""); err != nil || code != http.StatusTooManyRequests {
			t.Errorf("sys/health on standby %s: %d %v, want 429", c.Nodes[i].ID, code, err)
		}
	}
	if lr, err := c.Client(a).Sys().Leader(); err != nil || lr.LeaderAddress != "http://"+c.Nodes[leader].Addr {
		t.Errorf("sys/leader on %s: %+v %v, want leader_address http://%s", c.Nodes[a].ID, lr, err, c.Nodes[leader].Addr)
	}

	// Immediately after the mount on the leader: a write through standby A
	// is forwarded, and standby B reads it, with no retry.
	canaryFwd := "CANARY-cluster-forwarded-5e1d"
	mustMountKV(t, c, leader)
	if err := writePassword(ctx, c.Client(a), "app/forwarded", canaryFwd); err != nil {
		t.Fatalf("write through standby %s right after mounting on the leader: %v", c.Nodes[a].ID, err)
	}
	mustRead(t, c, b, "app/forwarded", canaryFwd)
	mustRead(t, c, leader, "app/forwarded", canaryFwd)
	// Read-your-writes across nodes, in every direction.
	for round := 0; round < 2; round++ {
		for w := range c.Nodes {
			for r := range c.Nodes {
				if r == w {
					continue
				}
				v := fmt.Sprintf("ryw-%d-%d-%d", round, w, r)
				if err := writePassword(ctx, c.Client(w), "app/ryw", v); err != nil {
					t.Fatalf("write through %s: %v", c.Nodes[w].ID, err)
				}
				mustRead(t, c, r, "app/ryw", v)
			}
		}
	}

	// A token every node has served is refused by every node as soon as
	// its revocation (through a standby) is acknowledged: no node answers
	// from a stale copy of its record.
	child, err := c.Client(leader).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"root"}, TTL: "1h"})
	if err != nil {
		t.Fatalf("create a child token: %v", err)
	}
	childClients := make([]*vault.Client, len(c.Nodes))
	for i := range c.Nodes {
		if childClients[i], err = newVaultClient(c.Nodes[i].Addr, child.Auth.ClientToken, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := readPassword(ctx, childClients[i], "app/forwarded"); err != nil {
			t.Fatalf("read with the child token via %s: %v", c.Nodes[i].ID, err)
		}
	}
	if err := c.Client(a).Auth().Token().RevokeTree(child.Auth.ClientToken); err != nil {
		t.Fatalf("revoke the child token through standby %s: %v", c.Nodes[a].ID, err)
	}
	for i := range c.Nodes {
		_, err := readPassword(ctx, childClients[i], "app/forwarded")
		var re *vault.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Fatalf("read with the revoked token via %s: %v, want 403", c.Nodes[i].ID, err)
		}
	}

	// SIGKILL the leader; measure until a survivor acknowledges a write.
	canaryDown := "CANARY-cluster-while-down-91ab"
	old := leader
	start := time.Now()
	c.Kill(old)
	var lastErr error
	for k := 0; ; k++ {
		cl, err := newVaultClient(c.Nodes[standbys[k%2]].Addr, c.Token, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = writePassword(ctx, cl, "app/while-down", canaryDown); lastErr == nil {
			break
		}
		if time.Since(start) > clusterWait {
			t.Fatalf("no write acknowledged within %s of killing the leader: %v", clusterWait, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	failover := time.Since(start)
	newLeader := c.WaitLeader(old)
	t.Logf("failover: %v from SIGKILL of the leader (%s) to the first write acknowledged through a survivor; new leader %s",
		failover.Round(time.Millisecond), c.Nodes[old].ID, c.Nodes[newLeader].ID)

	// Writes continue on the majority, through either survivor.
	for k, i := range standbys {
		v := fmt.Sprintf("majority-%d", k)
		if err := writePassword(ctx, c.Client(i), "app/majority", v); err != nil {
			t.Fatalf("write through %s with one node down: %v", c.Nodes[i].ID, err)
		}
		mustRead(t, c, standbys[1-k], "app/majority", v)
	}

	// The old leader restarts, is unsealed, rejoins and serves the write
	// it missed.
	c.Restart(old)
	c.WaitHealthy()
	eventuallyRead(t, c, old, "app/while-down", canaryDown)
	mustRead(t, c, old, "app/majority", "majority-1")
	c.WaitVoters(3)

	// Snapshot, later writes, restore: back to the snapshot everywhere.
	canaryBefore := "CANARY-cluster-in-snapshot-c4f0"
	canaryOverwrite := "CANARY-cluster-overwritten-after-snapshot-7d22"
	canaryAfter := "CANARY-cluster-after-snapshot-3b9e"
	leader = c.WaitLeader()
	if err := writePassword(ctx, c.Client(leader), "app/snap", canaryBefore); err != nil {
		t.Fatalf("write before snapshot: %v", err)
	}
	var snap bytes.Buffer
	// The stock client checks Vault's gzip/tar layout and its sealed sums.
	if err := c.Client(leader).Sys().RaftSnapshot(&snap); err != nil {
		t.Fatalf("snapshot save: %v", err)
	}
	if snap.Len() == 0 {
		t.Fatal("snapshot save streamed nothing")
	}
	for _, s := range []string{canaryFwd, canaryDown, canaryBefore} {
		if bytes.Contains(snap.Bytes(), []byte(s)) {
			t.Errorf("the snapshot stream holds the plaintext %q", s)
		}
	}
	if err := writePassword(ctx, c.Client(a), "app/snap", canaryOverwrite); err != nil {
		t.Fatalf("overwrite after snapshot: %v", err)
	}
	if err := writePassword(ctx, c.Client(b), "app/after-snap", canaryAfter); err != nil {
		t.Fatalf("write after snapshot: %v", err)
	}
	mustRead(t, c, leader, "app/snap", canaryOverwrite)
	if err := c.Client(leader).Sys().RaftSnapshotRestore(bytes.NewReader(snap.Bytes()), false); err != nil {
		t.Fatalf("snapshot restore: %v", err)
	}
	c.WaitHealthy()
	for i := range c.Nodes {
		eventuallyRead(t, c, i, "app/snap", canaryBefore)
		eventuallyRead(t, c, i, "app/after-snap", "")
		eventuallyRead(t, c, i, "app/while-down", canaryDown)
	}
	// The cluster still takes writes after the restore.
	leader = c.WaitLeader()
	if err := writePassword(ctx, c.Client(c.Standbys(leader)[0]), "app/after-restore", "ok"); err != nil {
		t.Fatalf("write after restore: %v", err)
	}

	// No node's data directory holds a canary, the root token or a share.
	c.StopAll()
	secrets := [][]byte{[]byte(canaryFwd), []byte(canaryDown), []byte(canaryBefore), []byte(canaryOverwrite), []byte(canaryAfter), []byte(c.Token)}
	for _, k := range c.Keys {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			t.Fatalf("decode share: %v", err)
		}
		secrets = append(secrets, raw)
	}
	var dirs []string
	for _, n := range c.Nodes {
		dirs = append(dirs, n.Dir)
	}
	scanned := scanForPlaintext(t, dirs, secrets)
	if scanned == 0 {
		t.Fatal("scanned nothing: the data directories are empty")
	}
	t.Logf("scanned %d bytes in %d data directories", scanned, len(dirs))
}

// TestClusterRogueNodeRefused checks that a process that knows the
// cluster addresses and protocol names but holds no cluster certificate is
// refused at the TLS layer on every node's cluster port.
func TestClusterRogueNodeRefused(t *testing.T) {
	c := startCluster(t, 3)
	selfSigned := mustSelfSignedCert(t, nil, nil)
	foreignCA := mustSelfSignedCert(t, nil, nil)
	signedByForeignCA := mustSelfSignedCert(t, foreignCA.Leaf, foreignCA.PrivateKey.(*ecdsa.PrivateKey))
	certs := []struct {
		name  string
		certs []tls.Certificate
	}{
		{"no client certificate", nil},
		{"self-signed client certificate", []tls.Certificate{selfSigned}},
		{"client certificate from another CA", []tls.Certificate{signedByForeignCA}},
	}
	// With a protocol the node speaks, the handshake must get as far as
	// the server's certificate (the port speaks TLS and the refusal is
	// about the client's certificate); with none, any TLS refusal does.
	protos := []struct {
		name        string
		alpn        []string
		wantServerC bool
	}{
		{"raft", []string{peer.ProtoRaft}, true},
		{"rpc", []string{peer.ProtoRPC}, true},
		{"gossip", []string{peer.ProtoGossip}, true},
		{"no ALPN", nil, false},
	}
	for _, cc := range certs {
		for _, p := range protos {
			for _, n := range c.Nodes {
				t.Run(cc.name+"/"+p.name+"/"+n.ID, func(t *testing.T) {
					how, err := rogueHandshake(n.ClusterAddr, cc.certs, p.alpn, p.wantServerC)
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("refused: %s", how)
				})
			}
		}
	}
	// The cluster is unharmed.
	leader := c.WaitLeader()
	mustMountKV(t, c, leader)
	if err := writePassword(context.Background(), c.Client(c.Standbys(leader)[0]), "after-rogue", "ok"); err != nil {
		t.Fatalf("write through a standby after the rogue attempts: %v", err)
	}
}

// rogueHandshake connects to addr as a TLS client offering alpn and
// presenting certs, and returns nil when the server refuses it at the TLS
// layer: a TLS alert during the handshake, or the connection closed before
// any application data. It returns an error when the port does not speak
// TLS, when wantServerCert and the server showed no certificate, or when
// the server accepts the connection.
func rogueHandshake(addr string, certs []tls.Certificate, alpn []string, wantServerCert bool) (string, error) {
	var sawServerCert bool
	cfg := &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         peer.ServerName,
		NextProtos:         alpn,
		MinVersion:         tls.VersionTLS12,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			sawServerCert = len(raw) > 0
			return nil
		},
	}
	if len(certs) > 0 {
		// Present the certificate whatever CAs the server asks for: left
		// to itself, crypto/tls would send none from an unlisted CA.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("dial cluster port %s: %v (nothing listening?)", addr, err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn := tls.Client(raw, cfg)
	err = conn.Handshake()
	var op *net.OpError
	alert := errors.As(err, &op) && op.Op == "remote error"
	switch {
	case wantServerCert && !sawServerCert:
		return "", fmt.Errorf("cluster port %s refused before showing its certificate, so the client certificate check went untested: %v", addr, err)
	case err != nil && (alert || sawServerCert):
		return fmt.Sprintf("handshake: %v (server certificate shown: %v)", err, sawServerCert), nil
	case err != nil:
		return "", fmt.Errorf("cluster port %s: handshake failed without a TLS alert (does it speak TLS?): %v", addr, err)
	}
	// TLS 1.3: the client finishes before the server has checked the
	// client's certificate; the refusal arrives as an alert on first read.
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = conn.Write([]byte{0})
	var buf [1]byte
	_, err = conn.Read(buf[:])
	if err == nil {
		return "", fmt.Errorf("cluster port %s accepted a client without a cluster certificate and sent data", addr)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "", fmt.Errorf("cluster port %s kept a connection without a cluster certificate open (%s, version %x, alpn %q)",
			addr, err, conn.ConnectionState().Version, conn.ConnectionState().NegotiatedProtocol)
	}
	return fmt.Sprintf("after the client's handshake: %v", err), nil // alert or closed
}

// mustSelfSignedCert makes an ECDSA certificate for a TLS client; signed
// by parent when given (then it is a leaf), else self-signed and a CA.
func mustSelfSignedCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "rogue-node"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestClusterJoinNeedsTheSeal checks that a fresh node that asks to join
// but is unsealed with another cluster's shares is never added.
func TestClusterJoinNeedsTheSeal(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()

	// Another, separately initialised node provides wrong shares of the
	// same shape (3 shares, threshold 2).
	other := &Cluster{t: t, Nodes: []*clusterNode{newClusterNode(t, "other1", "")}}
	if err := other.launch(other.Nodes[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			other.dumpLogs()
		}
	})
	init, err := other.anon(0).Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: clusterShares, SecretThreshold: clusterThreshold})
	if err != nil {
		t.Fatalf("init the other node: %v", err)
	}
	wrongKeys := init.KeysB64[:clusterThreshold]

	// A fresh fourth node joins node1 and is given the wrong shares.
	c.Nodes = append(c.Nodes, newClusterNode(t, "node4", ""))
	x := len(c.Nodes) - 1
	if err := c.launch(c.Nodes[x]); err != nil {
		t.Fatal(err)
	}
	c.mustJoin(x, 0)
	anon := c.anon(x)
	var unsealErr error
	var st *vault.SealStatusResponse
	for _, k := range wrongKeys {
		if st, unsealErr = anon.Sys().UnsealWithContext(ctx, k); unsealErr != nil {
			break
		}
	}
	if unsealErr == nil && st != nil && !st.Sealed {
		t.Errorf("node4 reports unsealed with another cluster's shares: %+v", st)
	}
	t.Logf("unseal with wrong shares: err=%v status=%+v", unsealErr, st)

	// For a few seconds, node4 never appears in the configuration and
	// never serves.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		leader, err := c.waitLeader(ctx, clusterWait, x)
		if err != nil {
			t.Fatal(err)
		}
		servers, err := c.raftServers(ctx, leader)
		if err != nil {
			t.Fatalf("raft configuration: %v", err)
		}
		if len(servers) != 3 {
			t.Fatalf("raft configuration has %d servers after a join with the wrong seal: %+v", len(servers), servers)
		}
		for _, s := range servers {
			if s.NodeID == "node4" || s.Address == c.Nodes[x].ClusterAddr {
				t.Fatalf("node4 was added with the wrong seal: %+v", s)
			}
		}
		if code, err := healthCode(c.Nodes[x].Addr, "standbyok=true"); err == nil && code == http.StatusOK {
			t.Fatalf("node4 reports healthy (200) with the wrong seal")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sys/step-down through the stock client: the leader answers success (it
// gives up leadership, so it must not owe a leadership proof afterwards)
// and another node takes over.
func TestClusterStepDown(t *testing.T) {
	c := startCluster(t, 3)
	old := c.WaitLeader()
	if err := c.Client(old).Sys().StepDown(); err != nil {
		t.Fatalf("step-down on the leader: %v", err)
	}
	c.waitFor(30*time.Second, "another node active", func() bool {
		l := c.Leader()
		return l >= 0 && l != old
	})
}
