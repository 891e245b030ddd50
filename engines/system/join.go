package system

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"coffer/engines"
	"coffer/seal"
	"coffer/transport/peer"
)

func randRead(b []byte) (int, error) {
	n, err := rand.Read(b)
	if err != nil {
		return n, fmt.Errorf("system: random: %w", err)
	}
	return n, nil
}

// JoinRequest is the body of PUT sys/storage/raft/join.
type JoinRequest struct {
	LeaderAPIAddr       string
	Retry               bool
	NonVoter            bool
	LeaderCACert        string
	LeaderClientCert    string
	LeaderClientKey     string
	LeaderTLSServerName string
}

// pendingJoin is a join between the leader's challenge and the unseal that
// answers it.
type pendingJoin struct {
	req       JoinRequest
	client    *http.Client
	id        string // the leader's challenge ID
	challenge []byte
}

// joinState guards the joiner side.
type joinState struct {
	mu      sync.Mutex
	pending *pendingJoin
	// retrying is set while a retry loop asks for a challenge.
	retrying bool
}

// Join asks the leader at req.LeaderAPIAddr for a join challenge. The node
// then waits, sealed, for its unseal keys: only the same seal opens the
// challenge, and the answer gets the node its certificate and a place in
// the Raft configuration (see completeJoin). With Retry the request is
// repeated in the background until a leader answers.
func (s *System) Join(ctx context.Context, req JoinRequest) error {
	if s.cluster.Started() {
		return engines.BadRequest("this node is already a member of a cluster")
	}
	if req.LeaderAPIAddr == "" {
		return engines.BadRequest("leader_api_addr is required")
	}
	client, err := joinClient(req)
	if err != nil {
		return err
	}
	if !req.Retry {
		return s.requestChallenge(ctx, client, req)
	}
	s.join.mu.Lock()
	if s.join.retrying {
		s.join.mu.Unlock()
		return nil
	}
	s.join.retrying = true
	s.join.mu.Unlock()
	go func() {
		defer func() {
			s.join.mu.Lock()
			s.join.retrying = false
			s.join.mu.Unlock()
		}()
		for attempt := 0; ; attempt++ {
			if s.cluster.Started() || s.closed.Load() {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
			err := s.requestChallenge(ctx, client, req)
			cancel()
			if err == nil {
				return
			}
			if attempt%10 == 0 {
				s.logger.Warn("join: no challenge from the leader yet; retrying", "leader", req.LeaderAPIAddr, "error", err)
			}
			time.Sleep(2 * time.Second)
		}
	}()
	return nil
}

// joinClient is the HTTP client a joiner reaches the leader's API with.
func joinClient(req JoinRequest) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: req.LeaderTLSServerName}
	if req.LeaderCACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(req.LeaderCACert)) {
			return nil, engines.BadRequest("leader_ca_cert: no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if req.LeaderClientCert != "" || req.LeaderClientKey != "" {
		cert, err := tls.X509KeyPair([]byte(req.LeaderClientCert), []byte(req.LeaderClientKey))
		if err != nil {
			return nil, engines.BadRequest("leader_client_cert / leader_client_key: not a valid pair")
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: joinTimeout}, nil
}

// callLeader PUTs body to the leader's API path and returns the response's
// data object.
func callLeader(ctx context.Context, client *http.Client, leader, path string, body any) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimSuffix(leader, "/")+"/v1/"+path, bytes.NewReader(raw))
	if err != nil {
		return nil, engines.BadRequest("leader_api_addr: %s", err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("system: join: contact the leader: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("system: join: read the leader's answer: %w", err)
	}
	var env struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []string                   `json:"errors"`
	}
	_ = json.Unmarshal(out, &env)
	if resp.StatusCode != http.StatusOK {
		return nil, &engines.Error{Code: engines.CodeInvalidRequest, Message: fmt.Sprintf("join: the leader answered %d: %s", resp.StatusCode, strings.Join(env.Errors, "; "))}
	}
	return env.Data, nil
}

func (s *System) requestChallenge(ctx context.Context, client *http.Client, req JoinRequest) error {
	data, err := callLeader(ctx, client, req.LeaderAPIAddr, "sys/storage/raft/bootstrap/challenge", map[string]string{"server_id": s.cluster.NodeID()})
	if err != nil {
		return err
	}
	var challenge []byte
	var challengeID string
	var records seal.Records
	if err := json.Unmarshal(data["challenge"], &challenge); err != nil || len(challenge) == 0 {
		return errors.New("system: join: the leader sent no challenge")
	}
	if err := json.Unmarshal(data["challenge_id"], &challengeID); err != nil || challengeID == "" {
		return errors.New("system: join: the leader sent no challenge ID")
	}
	if err := json.Unmarshal(data["records"], &records); err != nil {
		return errors.New("system: join: the leader sent no seal records")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster.Started() {
		return engines.BadRequest("this node is already a member of a cluster")
	}
	if err := s.barrier.SetPendingRecords(&records); err != nil {
		return fmt.Errorf("system: join: %w", err)
	}
	s.barrier.ResetUnseal()
	s.join.mu.Lock()
	s.join.pending = &pendingJoin{req: req, client: client, id: challengeID, challenge: challenge}
	s.join.mu.Unlock()
	if s.auto.cfg != nil && !s.auto.cfg.Disabled {
		s.logger.Info("join: challenge received; unsealing through the auto seal", "leader", req.LeaderAPIAddr)
	} else {
		s.logger.Info("join: challenge received; waiting for the unseal keys", "leader", req.LeaderAPIAddr)
	}
	return nil
}

// completeJoin runs once a joining node's barrier opened with the unseal
// keys: it answers the challenge, receives its certificate, and starts
// Raft, which the leader has added it to as a non-voter. Called with s.mu.
//
// The answer is not the nonce itself but an HMAC keyed by it over the
// request it authorises (server ID, public key, cluster address): a relay
// that sees the answer cannot redeem it for a key or address of its own.
func (s *System) completeJoin(ctx context.Context, pj *pendingJoin) error {
	nonce, err := s.barrier.Decrypt(challengeAAD, pj.challenge)
	if err != nil {
		return fmt.Errorf("system: join: open the challenge: %w", err)
	}
	defer clear(nonce)
	key, err := peer.NewNodeKey()
	if err != nil {
		return err
	}
	pub, err := peer.MarshalPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	data, err := callLeader(ctx, pj.client, pj.req.LeaderAPIAddr, "sys/storage/raft/bootstrap/answer", map[string]any{
		"challenge_id": pj.id,
		"server_id":    s.cluster.NodeID(),
		"answer":       base64.StdEncoding.EncodeToString(joinMAC(nonce, s.cluster.NodeID(), pub, s.clusterAddr, pj.req.NonVoter)),
		"cluster_addr": s.clusterAddr,
		"public_key":   pub,
		"non_voter":    pj.req.NonVoter,
	})
	if err != nil {
		return err
	}
	var caPEM, certPEM string
	if json.Unmarshal(data["ca_cert"], &caPEM) != nil || json.Unmarshal(data["cert"], &certPEM) != nil {
		return errors.New("system: join: the leader sent no certificate")
	}
	if s.peer != nil {
		if err := s.installIssued([]byte(caPEM), key, func() ([]byte, error) { return []byte(certPEM), nil }); err != nil {
			return err
		}
	}
	if err := s.cluster.Join(); err != nil {
		return fmt.Errorf("system: join: start raft: %w", err)
	}
	s.join.mu.Lock()
	s.join.pending = nil
	s.join.mu.Unlock()
	s.logger.Info("join: accepted by the leader; replicating", "leader", pj.req.LeaderAPIAddr)
	return nil
}

// retryAfterFailedJoin drops a pending join whose answer failed (an
// expired challenge, a leader change) so the operators can join again; a
// join from retry_join asks for a new challenge by itself.
func (s *System) retryAfterFailedJoin(pj *pendingJoin) {
	s.join.mu.Lock()
	if s.join.pending == pj {
		s.join.pending = nil
	}
	s.join.mu.Unlock()
	s.barrier.ClearPendingRecords()
	if pj.req.Retry {
		go func() {
			if err := s.Join(context.Background(), pj.req); err != nil {
				s.logger.Warn("join: could not restart the join", "error", err)
			}
		}()
	}
}

// joinMAC is the answer to a join challenge: HMAC-SHA256 keyed by the
// nonce over everything the leader acts on.
func joinMAC(nonce []byte, serverID, publicKey, clusterAddr string, nonVoter bool) []byte {
	m := hmac.New(sha256.New, nonce)
	for _, part := range []string{"coffer-join-v1", serverID, publicKey, clusterAddr, strconv.FormatBool(nonVoter)} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return m.Sum(nil)
}

// challenges are the leader's outstanding join challenges, keyed by a
// random challenge ID (so no one can replace or cancel another joiner's),
// bounded in number overall and per requesting address.
type challenges struct {
	mu sync.Mutex
	m  map[string]challenge
}

type challenge struct {
	serverID string
	from     string
	nonce    []byte
	expires  time.Time
}

const (
	challengeTTL      = 5 * time.Minute
	maxChallenges     = 1024
	maxChallengesFrom = 8
)

// RaftChallenge is the leader's side of a join's first step: a random
// nonce sealed under the keyring, with the seal's records, for server_id.
// from is the requester's address (for the per-address bound).
func (s *System) RaftChallenge(ctx context.Context, data map[string]any, from string) (map[string]any, error) {
	if !s.active.Load() {
		return nil, engines.ErrSealed
	}
	if !s.cluster.IsLeader() {
		return nil, engines.ErrForward
	}
	id, _ := data["server_id"].(string)
	if !peer.ValidNodeID(id) {
		return nil, engines.BadRequest("server_id: 1 to 128 characters of letters, digits, '.', '_' and '-'")
	}
	nonce := make([]byte, 32)
	if _, err := randRead(nonce); err != nil {
		return nil, err
	}
	blob, err := s.barrier.Encrypt(challengeAAD, nonce)
	if err != nil {
		return nil, err
	}
	records, err := s.barrier.Records(ctx)
	if err != nil {
		return nil, err
	}
	challengeID := engines.NewRequestID()
	s.challenges.mu.Lock()
	defer s.challenges.mu.Unlock()
	now := time.Now()
	fromCount := 0
	for k, c := range s.challenges.m {
		if now.After(c.expires) {
			clear(c.nonce)
			delete(s.challenges.m, k)
			continue
		}
		if c.from == from {
			fromCount++
		}
	}
	if len(s.challenges.m) >= maxChallenges || fromCount >= maxChallengesFrom {
		return nil, &engines.Error{Code: engines.CodeUnavailable, Message: "too many joins in progress; retry later"}
	}
	if s.challenges.m == nil {
		s.challenges.m = map[string]challenge{}
	}
	s.challenges.m[challengeID] = challenge{serverID: id, from: from, nonce: nonce, expires: now.Add(challengeTTL)}
	return map[string]any{"challenge_id": challengeID, "challenge": blob, "records": records}, nil
}

// RaftAnswer is the leader's side of a join's second step: the joiner's
// answer (joinMAC over what it asks for) is compared in constant time;
// only then is the joiner issued a certificate and added as a non-voter.
func (s *System) RaftAnswer(ctx context.Context, data map[string]any) (map[string]any, error) {
	if !s.active.Load() {
		return nil, engines.ErrSealed
	}
	if !s.cluster.IsLeader() {
		return nil, engines.ErrForward
	}
	challengeID, _ := data["challenge_id"].(string)
	id, _ := data["server_id"].(string)
	answerB64, _ := data["answer"].(string)
	clusterAddr, _ := data["cluster_addr"].(string)
	pubText, _ := data["public_key"].(string)
	nonVoter, _ := data["non_voter"].(bool)
	s.challenges.mu.Lock()
	c, ok := s.challenges.m[challengeID]
	s.challenges.mu.Unlock()
	if !ok || time.Now().After(c.expires) || c.serverID != id {
		return nil, engines.BadRequest("no outstanding challenge for this server; join again")
	}
	answer, err := base64.StdEncoding.DecodeString(answerB64)
	want := joinMAC(c.nonce, id, pubText, clusterAddr, nonVoter)
	if err != nil || subtle.ConstantTimeCompare(answer, want) != 1 {
		s.logger.Warn("join: wrong answer to the challenge; node refused", "server_id", id)
		return nil, engines.BadRequest("the answer to the challenge is wrong: the node does not hold this cluster's seal")
	}
	// One success per challenge.
	s.challenges.mu.Lock()
	if _, still := s.challenges.m[challengeID]; !still {
		s.challenges.mu.Unlock()
		return nil, engines.BadRequest("no outstanding challenge for this server; join again")
	}
	delete(s.challenges.m, challengeID)
	s.challenges.mu.Unlock()
	defer clear(c.nonce)
	if err := validClusterAddr(clusterAddr); err != nil {
		return nil, err
	}
	pub, err := peer.ParsePublicKey(pubText)
	if err != nil {
		return nil, engines.BadRequest("public_key: %s", err.Error())
	}
	ca, err := s.loadCA()
	if err != nil {
		return nil, err
	}
	certPEM, err := ca.Issue(id, pub, identityTTL)
	if err != nil {
		return nil, fmt.Errorf("system: join: issue certificate: %w", err)
	}
	if nonVoter {
		if err := s.setNonVoter(ctx, id, true); err != nil {
			return nil, err
		}
	}
	if err := s.cluster.AddNonvoter(ctx, id, clusterAddr); err != nil {
		return nil, err
	}
	s.logger.Info("join: node admitted as a non-voter", "server_id", id, "cluster_addr", clusterAddr)
	return map[string]any{"ca_cert": string(ca.CertPEM()), "cert": string(certPEM)}, nil
}

func validClusterAddr(addr string) error {
	if addr == "" || strings.ContainsAny(addr, "/ ") {
		return engines.BadRequest("cluster_addr must be host:port")
	}
	return nil
}

// RaftBootstrap serves the unauthenticated join endpoints:
// sys/storage/raft/join, .../bootstrap/challenge, .../bootstrap/answer.
func (s *System) RaftBootstrap(ctx context.Context, op string, data map[string]any, from string) (map[string]any, error) {
	switch op {
	case "join":
		req := JoinRequest{}
		req.LeaderAPIAddr, _ = data["leader_api_addr"].(string)
		req.Retry, _ = data["retry"].(bool)
		req.NonVoter, _ = data["non_voter"].(bool)
		req.LeaderCACert, _ = data["leader_ca_cert"].(string)
		req.LeaderClientCert, _ = data["leader_client_cert"].(string)
		req.LeaderClientKey, _ = data["leader_client_key"].(string)
		req.LeaderTLSServerName, _ = data["leader_tls_servername"].(string)
		if err := s.Join(ctx, req); err != nil {
			return nil, err
		}
		return map[string]any{"joined": true}, nil
	case "bootstrap/challenge":
		return s.RaftChallenge(ctx, data, from)
	case "bootstrap/answer":
		return s.RaftAnswer(ctx, data)
	}
	return nil, engines.ErrUnsupportedPath
}
