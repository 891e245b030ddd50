package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"coffer/engines"
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
}

var _ Barrier = (*seal.Barrier)(nil)

// Cluster is the part of the Raft node the system backend reports on.
type Cluster interface {
	IsLeader() bool
	Leader() (addr, id string)
	NodeID() string
	AppliedIndex() uint64
}

// Config wires a System.
type Config struct {
	Barrier   Barrier
	Cluster   Cluster
	Factories map[string]engines.Factory
	Logger    *slog.Logger
	// APIAddr is this node's advertised API address, reported by sys/leader.
	APIAddr string
	// Version is reported by seal-status and health.
	Version string
}

// System owns the node's lifecycle state: whether it is unsealed, and the
// router and token store that exist only while it is.
type System struct {
	barrier Barrier
	cluster Cluster
	logger  *slog.Logger
	apiAddr string
	version string

	router *engines.Router
	tokens *engines.TokenStore

	// mu orders lifecycle changes (init, unseal, seal) against each other;
	// requests check Sealed on the barrier, which has its own lock.
	mu          sync.Mutex
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
	return &System{
		barrier: cfg.Barrier,
		cluster: cfg.Cluster,
		logger:  logger,
		apiAddr: cfg.APIAddr,
		version: cfg.Version,
		router:  engines.NewRouter(engines.SecretsRouterConfig(cfg.Barrier, cfg.Factories)),
		tokens:  engines.NewTokenStore(cfg.Barrier),
	}
}

// InitRequest is the body of PUT sys/init.
type InitRequest struct {
	SecretShares    int
	SecretThreshold int
	// RootTokenID names the root token (dev mode); empty means random.
	RootTokenID string
}

// InitResult is what init hands back once: the shares and the root token.
type InitResult struct {
	Shares    [][]byte
	RootToken string
}

// Initialized reports whether the barrier has been initialised.
func (s *System) Initialized(ctx context.Context) (bool, error) {
	return s.barrier.Initialized(ctx)
}

// Init initialises the barrier, then, unsealed for a moment with the new
// shares, creates the root token and the cluster identity, and seals again
// (as Vault does: init leaves the node sealed).
func (s *System) Init(ctx context.Context, req InitRequest) (*InitResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.barrier.Initialize(ctx, seal.InitParams{
		SecretShares:    req.SecretShares,
		SecretThreshold: req.SecretThreshold,
	})
	if err != nil {
		return nil, initError(err)
	}
	for _, share := range res.Shares[:req.SecretThreshold] {
		if _, err := s.barrier.Unseal(ctx, share); err != nil {
			return nil, fmt.Errorf("system: unseal after init: %w", err)
		}
	}
	defer s.sealLocked()
	if err := s.tokens.Load(ctx); err != nil {
		return nil, err
	}
	root, err := s.tokens.CreateRoot(ctx, req.RootTokenID)
	if err != nil {
		return nil, err
	}
	info := clusterInfo{Name: "coffer-cluster-" + engines.NewRequestID()[:8], ID: engines.NewRequestID()}
	raw, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("system: encode cluster info: %w", err)
	}
	if err := s.barrier.Put(ctx, clusterInfoKey, raw); err != nil {
		return nil, fmt.Errorf("system: store cluster info: %w", err)
	}
	s.logger.Info("initialized", "shares", req.SecretShares, "threshold", req.SecretThreshold)
	return &InitResult{Shares: res.Shares, RootToken: root}, nil
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
// loads its mount table and token store.
func (s *System) Unseal(ctx context.Context, share []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.barrier.Sealed() {
		return nil
	}
	st, err := s.barrier.Unseal(ctx, share)
	if err != nil {
		switch {
		case errors.Is(err, seal.ErrNotInitialized):
			return engines.BadRequest("Vault is not initialized")
		case errors.Is(err, seal.ErrBadShares), errors.Is(err, seal.ErrInvalidParams):
			return engines.BadRequest("%s", strings.TrimPrefix(err.Error(), "seal: "))
		}
		return fmt.Errorf("system: unseal: %w", err)
	}
	if st.Sealed {
		return nil
	}
	if err := s.postUnseal(ctx); err != nil {
		s.sealLocked()
		return err
	}
	s.logger.Info("unsealed")
	return nil
}

// postUnseal loads what exists only while unsealed.
func (s *System) postUnseal(ctx context.Context) error {
	if err := s.tokens.Load(ctx); err != nil {
		return err
	}
	if err := s.router.Load(ctx); err != nil {
		return err
	}
	raw, err := s.barrier.Get(ctx, clusterInfoKey)
	if err != nil {
		return fmt.Errorf("system: read cluster info: %w", err)
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &s.info); err != nil {
			return fmt.Errorf("system: decode cluster info: %w", err)
		}
	}
	s.activeSince = time.Now().UTC()
	return nil
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
	s.router.Reset()
	s.tokens.Reset()
	s.barrier.Seal()
}

// Sealed reports whether the node is sealed.
func (s *System) Sealed() bool { return s.barrier.Sealed() }

// Mount mounts a backend; used by dev mode and sys/mounts.
func (s *System) Mount(ctx context.Context, e engines.MountEntry) error {
	if s.barrier.Sealed() {
		return engines.ErrSealed
	}
	return s.router.Mount(ctx, e)
}
