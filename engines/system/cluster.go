package system

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"coffer/cluster"
	"coffer/engines"
	"coffer/transport/peer"
)

// Cluster is the Raft node as the system backend drives it
// (*cluster.Node).
type Cluster interface {
	IsLeader() bool
	Leader() (addr, id string)
	NodeID() string
	AppliedIndex() uint64
	Started() bool
	Bootstrap(ctx context.Context) error
	Join() error
	ReadBarrier(ctx context.Context) (context.Context, error)
	WriteBarrier(ctx context.Context) (context.Context, func(context.Context) error, error)
	GetLocal(key string) ([]byte, error)
	Observe(prefixes []string, fn func(key string))
	Configuration(ctx context.Context) ([]cluster.Server, error)
	AddNonvoter(ctx context.Context, id, addr string) error
	AddVoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	StepDown(ctx context.Context) error
	SaveArchive(ctx context.Context, w io.Writer, meta cluster.ArchiveMeta, seal func([]byte) ([]byte, error)) error
	RestoreArchive(ctx context.Context, meta *cluster.ArchiveMeta, body io.Reader) error
	RunWhileLeader(name string, svc cluster.LeaderService) (stop func())
	PeerStatus(ctx context.Context, addr string) (cluster.Status, error)
	Status() cluster.Status
	LastIndex() uint64
	Term() uint64
	RaftAddr() string
}

// Peer is the node-to-node transport (*peer.Transport): the system
// backend installs the node's identity at unseal and drops it at seal.
type Peer interface {
	SetIdentity(id *peer.Identity)
	ClearIdentity()
	HTTPClient() *http.Client
}

// Records of the cluster's identity, behind the barrier.
const (
	// caKey holds the cluster CA (certificate and key, PEM), created at init.
	caKey = "core/cluster/ca"
	// gossipKeyKey holds the 32-byte gossip encryption key.
	gossipKeyKey = "core/cluster/gossip-key"
	// challengeAAD is the path a join challenge is sealed for.
	challengeAAD = "core/raft/challenge"
	// identityTTL is how long a node's certificate is valid; a node
	// renews its own while unsealed (identityRenew).
	identityTTL   = 30 * 24 * time.Hour
	identityRenew = 24 * time.Hour
)

type caRecord struct {
	CertPEM []byte `json:"cert_pem"`
	KeyPEM  []byte `json:"key_pem"`
}

// createClusterSecrets makes the cluster CA and the gossip key, once, at
// init (and on the first unseal of a cluster made before they existed).
func (s *System) createClusterSecrets(ctx context.Context) error {
	raw, err := s.barrier.Get(ctx, caKey)
	if err != nil {
		return fmt.Errorf("system: read cluster CA: %w", err)
	}
	if raw == nil {
		certPEM, keyPEM, err := peer.NewCA("coffer-cluster-ca")
		if err != nil {
			return fmt.Errorf("system: create cluster CA: %w", err)
		}
		rec, err := json.Marshal(caRecord{CertPEM: certPEM, KeyPEM: keyPEM})
		clear(keyPEM)
		if err != nil {
			return fmt.Errorf("system: encode cluster CA: %w", err)
		}
		err = s.barrier.Put(ctx, caKey, rec)
		clear(rec)
		if err != nil {
			return fmt.Errorf("system: store cluster CA: %w", err)
		}
	} else {
		clear(raw)
	}
	key, err := s.barrier.Get(ctx, gossipKeyKey)
	if err != nil {
		return fmt.Errorf("system: read gossip key: %w", err)
	}
	if key == nil {
		key = make([]byte, 32)
		if _, err := randRead(key); err != nil {
			return err
		}
		if err := s.barrier.Put(ctx, gossipKeyKey, key); err != nil {
			clear(key)
			return fmt.Errorf("system: store gossip key: %w", err)
		}
	}
	clear(key)
	return nil
}

// loadCA reads the cluster CA from this node's own copy of the data (no
// leader needed: a restarted node must get its identity before it can
// reach anyone).
func (s *System) loadCA() (*peer.CA, error) {
	blob, err := s.cluster.GetLocal(caKey)
	if err != nil {
		return nil, fmt.Errorf("system: read cluster CA: %w", err)
	}
	if blob == nil {
		return nil, errNoCA
	}
	raw, err := s.barrier.Decrypt(caKey, blob)
	if err != nil {
		return nil, fmt.Errorf("system: decrypt cluster CA: %w", err)
	}
	defer clear(raw)
	var rec caRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("system: decode cluster CA: %w", err)
	}
	defer clear(rec.KeyPEM)
	return peer.ParseCA(rec.CertPEM, rec.KeyPEM)
}

var errNoCA = errors.New("system: this node holds no cluster CA yet")

// installIdentity issues this node a fresh certificate from the cluster CA
// and installs it on the node-to-node transport. The key exists only in
// memory.
func (s *System) installIdentity() error {
	if s.peer == nil {
		return nil
	}
	ca, err := s.loadCA()
	if err != nil {
		return err
	}
	key, err := peer.NewNodeKey()
	if err != nil {
		return err
	}
	return s.installIssued(ca.CertPEM(), key, func() ([]byte, error) {
		return ca.Issue(s.cluster.NodeID(), &key.PublicKey, identityTTL)
	})
}

func (s *System) installIssued(caPEM []byte, key *ecdsa.PrivateKey, issue func() ([]byte, error)) error {
	certPEM, err := issue()
	if err != nil {
		return fmt.Errorf("system: issue node certificate: %w", err)
	}
	id, err := peer.NewIdentity(caPEM, certPEM, key)
	if err != nil {
		return fmt.Errorf("system: node identity: %w", err)
	}
	s.peer.SetIdentity(id)
	return nil
}

// renewIdentity re-issues the node's certificate daily while unsealed.
func (s *System) renewIdentity(ctx context.Context) {
	t := time.NewTicker(identityRenew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.installIdentity(); err != nil {
				s.logger.Warn("renewing the node certificate failed", "error", err)
			}
		}
	}
}

// MustForward reports whether a request must run on the active node: this
// node is an unsealed standby, and the request writes, needs the leader
// (snapshots, autopilot), or arrives before the standby has loaded.
func (s *System) MustForward(path string, op engines.Operation) bool {
	if s.barrier.Sealed() || !s.cluster.Started() || s.cluster.IsLeader() {
		return false
	}
	switch path {
	case "sys/seal", "sys/storage/raft/join", "sys/ha-status", "sys/storage/raft/configuration":
		// this node's own business, or answered from its own state
		return op != engines.ReadOperation && path == "sys/storage/raft/configuration"
	case "sys/storage/raft/snapshot", "sys/storage/raft/autopilot/state", "sys/storage/raft/autopilot/configuration":
		return true
	}
	if !s.active.Load() {
		return true
	}
	if op.Writes() {
		return true
	}
	// Engines that issue leased secrets (database creds) do so on reads:
	// those run on the active node, where their lease is recorded.
	if r, ok := s.router.Resolve(path); ok {
		if _, issues := r.Backend.(engines.SecretBackend); issues {
			return true
		}
	}
	return false
}

// joinTimeout bounds one call to the leader during a join.
const joinTimeout = 30 * time.Second
