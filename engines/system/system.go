package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"coffer/audit"
	"coffer/engines"
	"coffer/engines/lease"
	"coffer/engines/token"
	"coffer/seal"
)

// Barrier is the part of *seal.Barrier the system backend drives: the seal
// lifecycle and the encrypted storage everything else is kept in.
type Barrier interface {
	engines.Storage
	Initialized(ctx context.Context) (bool, error)
	Initialize(ctx context.Context, p seal.InitParams) (*seal.InitResult, error)
	SealConfig(ctx context.Context) (*seal.SealConfig, error)
	Unseal(ctx context.Context, share []byte) (*seal.UnsealStatus, error)
	ResetUnseal()
	UnsealProgress() (progress int, nonce string)
	Seal()
	Sealed() bool
	Rotate(ctx context.Context) (uint32, error)
	KeyStatus() (*seal.KeyStatus, error)
	ReloadKeyring(ctx context.Context) error
	// Atomic writes and ordered scans (the lease manager's storage).
	Batch(ctx context.Context, puts map[string][]byte, deletes []string) error
	Scan(ctx context.Context, prefix, after string, limit int) ([]string, error)
	Encrypt(path string, plaintext []byte) ([]byte, error)
	Decrypt(path string, blob []byte) ([]byte, error)
	// Cluster membership: the records a joiner is sent, and the joiner's
	// pending copy of them.
	Records(ctx context.Context) (*seal.Records, error)
	SetPendingRecords(r *seal.Records) error
	ClearPendingRecords()
	Joining() bool
	// Auto seals (an HSM) and seal migration.
	InitializeAuto(ctx context.Context, p seal.AutoInitParams, as seal.AutoSeal) (*seal.AutoInitResult, error)
	UnsealAuto(ctx context.Context, as seal.AutoSeal) error
	MigrateToAuto(ctx context.Context, share []byte, as seal.AutoSeal) (*seal.UnsealStatus, error)
	MigrateToShamir(ctx context.Context, share []byte, as seal.AutoSeal) (*seal.UnsealStatus, error)
	// Quorum operations (generate-root, rekey): see quorum.go.
	VerifyQuorum(ctx context.Context, q *seal.Quorum, as seal.AutoSeal) error
	Rekey(ctx context.Context, q *seal.Quorum, p seal.InitParams) (*seal.InitResult, error)
	RekeyRecovery(ctx context.Context, q *seal.Quorum, p seal.AutoInitParams, as seal.AutoSeal) (*seal.AutoInitResult, error)
}

var _ Barrier = (*seal.Barrier)(nil)

// Config wires a System.
type Config struct {
	Barrier   Barrier
	Cluster   Cluster
	Factories map[string]engines.Factory
	// AuthFactories are the auth methods sys/auth may enable.
	AuthFactories map[string]engines.Factory
	Logger        *slog.Logger
	// APIAddr is this node's advertised API address, reported by sys/leader.
	APIAddr string
	// Version is reported by seal-status and health.
	Version string
	// AuditDevices are the audit devices declared in the server config,
	// enabled at every unseal.
	AuditDevices []audit.DeviceConfig
	// AllowAPIAuditCreation lets sys/audit enable and disable devices
	// (unsafe_allow_api_audit_creation): off by default, because an API
	// that can point a device at any file is a privilege-escalation path.
	AllowAPIAuditCreation bool
	// Peer is the node-to-node transport; nil for a node that never
	// clusters (tests).
	Peer Peer
	// ClusterAddr is the host:port other nodes reach this node at.
	ClusterAddr string
	// Gossip starts this node's gossip once it is unsealed (nil: none).
	Gossip GossipStarter
	// AutoSeal is the configured auto seal (a seal stanza); nil: Shamir.
	AutoSeal *AutoSealConfig
	// TokenTidyInterval is how often the leader tidies the token store
	// (expired tokens, and the children of expired parents); zero means
	// one minute.
	TokenTidyInterval time.Duration
}

// System owns the node's lifecycle state: whether it is unsealed, and the
// router and token store that exist only while it is.
type System struct {
	barrier      Barrier
	cluster      Cluster
	logger       *slog.Logger
	apiAddr      string
	version      string
	tidyInterval time.Duration

	peer        Peer
	clusterAddr string
	gossipStart GossipStarter
	gossipState gossipHolder
	auto        autoSealState
	// quorums are the open generate-root and rekey attempts.
	quorums    quorumState
	join       joinState
	challenges challenges
	autopilot  *autopilotState
	// closed is set when the server shuts down (background loops stop).
	closed atomic.Bool
	// loading cancels a standby's background load (see finishUnseal).
	loading context.CancelFunc
	// refresh tracks replicated changes a standby must reload.
	refresh refreshState

	router     *engines.Router
	authRouter *engines.Router
	tokens     *token.Store
	leases     *lease.Manager
	policies   *policyStore
	audit      *audit.Broker

	auditConfig   []audit.DeviceConfig
	auditAPIAllow bool

	// mu orders lifecycle changes (init, unseal, seal) against each other.
	mu sync.Mutex
	// inflight is read-held by every request from its active check to its
	// response entry; sealing takes it to wait for them.
	inflight sync.RWMutex
	// stopServices ends the background services of an active node;
	// services waits for them.
	stopServices context.CancelFunc
	services     sync.WaitGroup
	// active is set once everything an unsealed node needs is loaded, and
	// cleared before anything is torn down; requests are served only while
	// it is set.
	active atomic.Bool
	// status is what status endpoints report, readable without mu so
	// probes never wait behind a lifecycle change.
	status atomic.Pointer[activeStatus]
}

// activeStatus is the cluster identity and activation time of an active node.
type activeStatus struct {
	info        clusterInfo
	activeSince time.Time
}

type clusterInfo struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

const clusterInfoKey = "core/cluster-info"

// New returns a sealed System.
func New(cfg Config) *System {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &System{
		barrier:      cfg.Barrier,
		cluster:      cfg.Cluster,
		logger:       logger,
		apiAddr:      cfg.APIAddr,
		version:      cfg.Version,
		tidyInterval: cfg.TokenTidyInterval,
		peer:         cfg.Peer,
		clusterAddr:  cfg.ClusterAddr,
		gossipStart:  cfg.Gossip,
		auto:         autoSealState{cfg: cfg.AutoSeal},
		policies:     newPolicyStore(engines.NewView(cfg.Barrier, "core/policy/")),
		audit:        audit.NewBroker(logger.With("component", "audit")),

		auditConfig:   cfg.AuditDevices,
		auditAPIAllow: cfg.AllowAPIAuditCreation,
	}
	s.router = engines.NewRouter(s.withLeader(engines.SecretsRouterConfig(cfg.Barrier, cfg.Factories)))
	s.authRouter = engines.NewRouter(s.withLeader(engines.AuthRouterConfig(cfg.Barrier, cfg.AuthFactories)))
	s.tokens = token.New(token.Config{
		Storage:  engines.NewView(cfg.Barrier, tokenView),
		Logger:   logger.With("component", "token"),
		HasSudo:  s.hasSudo,
		OnRevoke: s.revokeTokenLeases,
	})
	s.leases = lease.New(lease.Config{
		Storage: cfg.Barrier,
		Revoker: leaseRevoker{s},
		Logger:  logger.With("component", "lease"),
	})
	s.authRouter.AddBuiltin(engines.MountEntry{
		Path: "token/", Type: "token", Description: "token based credentials",
		Accessor: "auth_token", UUID: "token",
	}, s.tokens)
	s.autopilot = newAutopilotState(s)
	s.cluster.Observe(watchedPrefixes, s.observe)
	return s
}

// withLeader gives a mount table's backends the cluster's leader-only
// services, the system logger and audit events.
func (s *System) withLeader(rc engines.RouterConfig) engines.RouterConfig {
	rc.Logger = s.logger
	rc.RunWhileLeader = func(name string, svc func(ctx context.Context)) func() {
		return s.cluster.RunWhileLeader(name, svc)
	}
	rc.Event = s.backendEvent
	return rc
}

// backendEvent records what a backend did on its own (a scheduled
// rotation) in the audit log: a request and a response entry on the
// mount's path, with no token and the data HMAC'd as usual.
func (s *System) backendEvent(ctx context.Context, e engines.MountEntry, path string, data map[string]any) error {
	full := e.Path + path
	req := &engines.Request{ID: engines.NewRequestID(), Operation: engines.UpdateOperation, Path: full, MountPoint: e.Path, MountAccessor: e.Accessor, Data: map[string]any{}}
	in := &audit.Input{FullPath: full, Request: req, MountType: e.Type, MountPoint: e.Path, MountAccessor: e.Accessor, Time: time.Now().UTC(), Sensitive: true}
	if err := s.audit.LogRequest(ctx, in); err != nil {
		return err
	}
	in.Response, in.Time = &engines.Response{Data: data}, time.Time{}
	return s.audit.LogResponse(context.WithoutCancel(ctx), in)
}

// InitRequest is the body of PUT sys/init.
type InitRequest struct {
	SecretShares    int
	SecretThreshold int
	// RecoveryShares and RecoveryThreshold split the recovery key of an
	// auto seal (the HSM); not used with Shamir.
	RecoveryShares    int
	RecoveryThreshold int
	// RootTokenID names the root token (dev mode); empty means random.
	RootTokenID string
}

// InitResult is what init hands back once: the shares and the root token.
type InitResult struct {
	Shares [][]byte
	// RecoveryShares are the recovery key shares of an auto seal.
	RecoveryShares [][]byte
	RootToken      string
}

// Initialized reports whether the barrier has been initialised.
func (s *System) Initialized(ctx context.Context) (bool, error) {
	return s.barrier.Initialized(ctx)
}

// Init initialises the barrier, then, unsealed for a moment with the new
// shares, creates the root token and the cluster identity, and seals again
// (as Vault does: init leaves the node sealed).
func (s *System) Init(ctx context.Context, req InitRequest) (_ *InitResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.barrier.Joining() {
		return nil, engines.BadRequest("this node is joining a cluster; it cannot be initialized")
	}
	if ok, err := s.barrier.Initialized(ctx); err == nil && ok {
		return nil, engines.BadRequest("Vault is already initialized")
	}
	// A fresh node becomes a one-voter cluster before anything is written.
	bctx, bcancel := context.WithTimeout(ctx, 30*time.Second)
	err = s.cluster.Bootstrap(bctx)
	bcancel()
	if err != nil {
		return nil, fmt.Errorf("system: init: start raft: %w", err)
	}
	if as, auto, err := s.configuredAutoSeal(ctx); auto {
		if err != nil {
			return nil, err
		}
		return s.initAuto(ctx, req, as)
	}
	if req.RecoveryShares != 0 || req.RecoveryThreshold != 0 {
		return nil, engines.BadRequest("recovery keys are only used with an auto-unseal (HSM) seal; this node uses the Shamir seal")
	}
	res, err := s.barrier.Initialize(ctx, seal.InitParams{
		SecretShares:    req.SecretShares,
		SecretThreshold: req.SecretThreshold,
	})
	if err != nil {
		return nil, initError(err)
	}
	// The barrier is now initialised: finish even if the client goes away,
	// and never leave shares behind if a later step fails.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	defer func() {
		if err != nil {
			s.barrier.ResetUnseal()
			for _, share := range res.Shares {
				clear(share)
			}
			s.logger.Error("init failed after the keys were written; the node needs a fresh data directory", "error", err)
		}
	}()
	for _, share := range res.Shares[:req.SecretThreshold] {
		if _, err := s.barrier.Unseal(ctx, share); err != nil {
			return nil, fmt.Errorf("system: unseal after init: %w", err)
		}
	}
	defer s.sealLocked()
	root, err := s.firstRecords(ctx, req.RootTokenID)
	if err != nil {
		return nil, err
	}
	s.logger.Info("initialized", "shares", req.SecretShares, "threshold", req.SecretThreshold)
	return &InitResult{Shares: res.Shares, RootToken: root}, nil
}

// firstRecords writes what a new cluster starts with, on an unsealed
// barrier: the default policy, the root token, the cluster identity.
func (s *System) firstRecords(ctx context.Context, rootTokenID string) (string, error) {
	if err := s.tokens.Load(ctx); err != nil {
		return "", err
	}
	if err := s.policies.ensureDefault(ctx); err != nil {
		return "", err
	}
	root, err := s.tokens.CreateRoot(ctx, rootTokenID)
	if err != nil {
		return "", err
	}
	info := clusterInfo{Name: "coffer-cluster-" + engines.NewRequestID()[:8], ID: engines.NewRequestID()}
	raw, err := json.Marshal(info)
	if err != nil {
		return "", fmt.Errorf("system: encode cluster info: %w", err)
	}
	if err := s.barrier.Put(ctx, clusterInfoKey, raw); err != nil {
		return "", fmt.Errorf("system: store cluster info: %w", err)
	}
	if err := s.createClusterSecrets(ctx); err != nil {
		return "", err
	}
	return root, nil
}

func initError(err error) error {
	switch {
	case errors.Is(err, seal.ErrAlreadyInitialized):
		return engines.BadRequest("Vault is already initialized")
	case errors.Is(err, seal.ErrInvalidParams):
		return engines.BadRequest("%s", strings.TrimPrefix(err.Error(), "seal: "))
	}
	return fmt.Errorf("system: init: %w", err)
}

// Unseal submits one key share; at the threshold the node unseals and
// loads its mount table and token store. With migrate the share counts
// toward a seal migration (see unsealMigrate).
func (s *System) Unseal(ctx context.Context, share []byte, migrate bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.barrier.Sealed() {
		return nil
	}
	mig, err := s.migration(ctx)
	if err != nil {
		return err
	}
	if migrate || mig != migrationNone {
		return s.unsealMigrate(ctx, share, migrate, mig)
	}
	st, err := s.barrier.Unseal(ctx, share)
	if err != nil {
		switch {
		case errors.Is(err, seal.ErrNotInitialized):
			return engines.BadRequest("Vault is not initialized")
		case errors.Is(err, seal.ErrBadShares), errors.Is(err, seal.ErrInvalidParams), errors.Is(err, seal.ErrAutoSeal):
			return engines.BadRequest("%s", strings.TrimPrefix(err.Error(), "seal: "))
		}
		return fmt.Errorf("system: unseal: %w", err)
	}
	if st.Sealed {
		return nil
	}
	if err := s.finishUnseal(ctx); err != nil {
		s.sealLocked()
		return err
	}
	return nil
}

// finishUnseal runs once the barrier is open: a joining node answers its
// challenge; every node installs its certificate and starts gossip; then
// the node loads its state, at once if it can reach the leader (or is the
// leader), else in the background as soon as it can: a restarted cluster
// is unsealed one node at a time, before any quorum exists. Called with mu.
func (s *System) finishUnseal(ctx context.Context) error {
	s.join.mu.Lock()
	pj := s.join.pending
	s.join.mu.Unlock()
	if pj != nil {
		if err := s.completeJoin(ctx, pj); err != nil {
			s.retryAfterFailedJoin(pj)
			return err
		}
	} else if err := s.installIdentity(); err != nil && !errors.Is(err, errNoCA) {
		return err
	}
	s.startGossip()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := s.readyBarrier(rctx)
	cancel()
	var bctx context.Context
	if err == nil {
		// Passed once within the wait; mark the caller's own context.
		bctx, err = s.cluster.ReadBarrier(ctx)
	}
	if err == nil {
		if err := s.postUnseal(bctx); err != nil {
			return err
		}
		s.logger.Info("unsealed")
		return nil
	}
	s.logger.Info("unsealed; loading once the cluster's leader is reachable", "reason", err)
	lctx, lcancel := context.WithCancel(context.Background())
	s.loading = lcancel
	go s.loadWhenReachable(lctx)
	return nil
}

// readyBarrier waits, retrying, until a read barrier passes (this node
// leads, or the leader answered a read index and this node caught up).
func (s *System) readyBarrier(ctx context.Context) (context.Context, error) {
	for {
		bctx, err := s.cluster.ReadBarrier(ctx)
		if err == nil {
			return bctx, nil
		}
		select {
		case <-ctx.Done():
			return ctx, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// loadWhenReachable finishes an unseal in the background.
func (s *System) loadWhenReachable(ctx context.Context) {
	bctx, err := s.readyBarrier(ctx)
	if err != nil {
		return // sealed or shut down meanwhile
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil || s.barrier.Sealed() {
		return
	}
	s.loading = nil
	if err := s.postUnseal(bctx); err != nil {
		s.logger.Error("loading after unseal failed; sealing", "error", err)
		s.sealLocked()
		return
	}
	s.logger.Info("unsealed")
}

// postUnseal loads what exists only while unsealed.
func (s *System) postUnseal(ctx context.Context) error {
	s.barrier.ClearPendingRecords()
	s.refresh.reset()
	if s.cluster.IsLeader() {
		if err := s.createClusterSecrets(ctx); err != nil {
			return err
		}
	}
	if s.peer != nil {
		// A joined node's first certificate came from the leader; from now
		// on it issues its own, like every node.
		if err := s.installIdentity(); err != nil {
			return err
		}
	}
	if err := s.tokens.Load(ctx); err != nil {
		return err
	}
	if err := s.policies.ensureDefault(ctx); err != nil {
		return err
	}
	if err := s.router.Load(ctx); err != nil {
		return err
	}
	if err := s.authRouter.Load(ctx); err != nil {
		return err
	}
	if err := s.enableAudit(ctx); err != nil {
		return err
	}
	raw, err := s.barrier.Get(ctx, clusterInfoKey)
	if err != nil {
		return fmt.Errorf("system: read cluster info: %w", err)
	}
	st := &activeStatus{activeSince: time.Now().UTC()}
	if raw != nil {
		if err := json.Unmarshal(raw, &st.info); err != nil {
			return fmt.Errorf("system: decode cluster info: %w", err)
		}
	}
	s.status.Store(st)
	if s.gossipNow() == nil {
		// A joined node got the gossip key only by replication.
		s.startGossip()
	}
	s.active.Store(true)
	svcCtx, cancel := context.WithCancel(context.Background())
	stopTidy := s.cluster.RunWhileLeader("token-tidy", s.tidyTokens)
	stopAutopilot := s.cluster.RunWhileLeader("autopilot", s.autopilot.run)
	stopActive := s.cluster.RunWhileLeader("active-time", s.markActive)
	stopExpiry := s.cluster.RunWhileLeader("lease-expiry", s.leases.Run)
	s.stopServices = func() {
		cancel()
		stopExpiry()
		stopTidy()
		stopAutopilot()
		stopActive()
	}
	s.services.Add(1)
	go func() {
		defer s.services.Done()
		s.renewIdentity(svcCtx)
	}()
	return nil
}

// markActive records when this node became the active node (sys/leader's
// active_time); a leader-only service.
func (s *System) markActive(ctx context.Context) {
	if st := s.status.Load(); st != nil {
		s.status.Store(&activeStatus{info: st.info, activeSince: time.Now().UTC()})
	}
	<-ctx.Done()
}

// tidyTokens tidies the token store periodically; a leader-only service.
// A token that expires is refused at once by Lookup, and tidy
// removes its record and revokes its children.
func (s *System) tidyTokens(ctx context.Context) {
	every := s.tidyInterval
	if every == 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.tokens.Tidy(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("token tidy failed", "error", err)
		}
	}
}

// hasSudo reports whether a token's policies grant sudo on path; the token
// store asks it before privileged creates (no_parent, id, period).
func (s *System) hasSudo(ctx context.Context, te *engines.TokenEntry, path string) bool {
	acl, err := s.policies.acl(ctx, te.Policies)
	if err != nil {
		return false
	}
	return acl.IsRoot() || acl.Allowed(path, string(engines.UpdateOperation), nil).Sudo
}

// ResetUnseal discards the shares submitted so far.
func (s *System) ResetUnseal() { s.barrier.ResetUnseal() }

// Seal drops every backend and zeroes the keys.
func (s *System) Seal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealLocked()
	s.logger.Info("sealed")
}

func (s *System) sealLocked() {
	s.active.Store(false)
	if s.loading != nil {
		s.loading()
		s.loading = nil
	}
	s.inflight.Lock()
	defer s.inflight.Unlock()
	if s.stopServices != nil {
		s.stopServices()
		s.stopServices = nil
		s.services.Wait()
	}
	// A sealed leader hands over first, so the cluster keeps a leader.
	if servers, _ := s.cluster.Configuration(context.Background()); s.cluster.IsLeader() && len(servers) > 1 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.cluster.StepDown(ctx); err != nil {
			s.logger.Info("step down before sealing", "error", err)
		}
		cancel()
	}
	s.stopGossip()
	if s.peer != nil {
		s.peer.ClearIdentity()
	}
	s.status.Store(nil)
	s.barrier.Seal()
	s.router.Reset()
	s.authRouter.Reset()
	s.tokens.Reset()
	s.policies.reset()
	if err := s.audit.Close(); err != nil {
		s.logger.Warn("closing audit devices", "error", err)
	}
}

// Sealed reports whether the node is sealed.
func (s *System) Sealed() bool { return s.barrier.Sealed() }

// Active reports whether the node is unsealed and fully loaded.
func (s *System) Active() bool { return s.active.Load() }

// Mount mounts a backend; used by dev mode and sys/mounts.
func (s *System) Mount(ctx context.Context, e engines.MountEntry) error {
	if !s.active.Load() {
		return engines.ErrSealed
	}
	return s.router.Mount(ctx, e)
}

// Close seals the node for good: background loops (join retries) stop.
func (s *System) Close() {
	s.closed.Store(true)
	s.Seal()
}
