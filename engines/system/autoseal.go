package system

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"coffer/engines"
	"coffer/seal"
)

// AutoSealConfig is the server config's seal stanza.
type AutoSealConfig struct {
	// Type is the seal's type ("pkcs11").
	Type string
	// Disabled is `disabled = "true"`: the node is migrating away from
	// this seal to Shamir; the seal is still opened to unwrap the keys.
	Disabled bool
	// Open opens the seal (an HSM session); called again after a failure.
	Open func(ctx context.Context) (seal.AutoSeal, error)
	// Permanent reports an Open failure that retrying cannot fix and may
	// make worse (a wrong PIN: an HSM locks the PIN after a few tries);
	// the node then stays sealed until it is restarted with a fixed
	// config. Nil: every failure is retried.
	Permanent func(error) bool
}

// autoSealState is the open seal, or why it could not be opened.
type autoSealState struct {
	cfg *AutoSealConfig

	mu      sync.Mutex
	seal    seal.AutoSeal
	lastErr string
}

// configuredAutoSeal opens (once) the auto seal the config names. auto
// reports whether an enabled one is configured.
func (s *System) configuredAutoSeal(ctx context.Context) (as seal.AutoSeal, auto bool, err error) {
	if s.auto.cfg == nil || s.auto.cfg.Disabled {
		return nil, false, nil
	}
	as, err = s.openAutoSeal(ctx)
	return as, true, err
}

// openAutoSeal returns the open seal, opening it if needed. A failure is
// logged once per distinct message (the HSM is retried by the caller) and
// shown in seal-status.
func (s *System) openAutoSeal(ctx context.Context) (seal.AutoSeal, error) {
	a := &s.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seal != nil {
		return a.seal, nil
	}
	as, err := a.cfg.Open(ctx)
	if err != nil {
		msg := err.Error()
		if msg != a.lastErr {
			s.logger.Error("the seal cannot be opened; the node stays sealed", "seal", a.cfg.Type, "error", msg)
			a.lastErr = msg
		}
		return nil, fmt.Errorf("%w: %w", &engines.Error{Code: engines.CodeSealed, Message: "the " + a.cfg.Type + " seal is unavailable: " + msg}, err)
	}
	if a.lastErr != "" {
		s.logger.Info("the seal is available again", "seal", a.cfg.Type)
	}
	a.seal, a.lastErr = as, ""
	return as, nil
}

// sealError is the last reason the auto seal could not be opened.
func (s *System) sealError() string {
	s.auto.mu.Lock()
	defer s.auto.mu.Unlock()
	return s.auto.lastErr
}

// initAuto initialises under the auto seal: recovery shares instead of
// unseal shares, and the node unsealed at once. Called with mu.
func (s *System) initAuto(ctx context.Context, req InitRequest, as seal.AutoSeal) (_ *InitResult, err error) {
	if req.SecretShares > 1 || req.SecretThreshold > 1 {
		return nil, engines.BadRequest("secret_shares and secret_threshold are not used with an auto seal; give recovery_shares and recovery_threshold")
	}
	if req.RecoveryShares == 0 && req.RecoveryThreshold == 0 {
		req.RecoveryShares, req.RecoveryThreshold = 5, 3 // Vault's defaults
	}
	res, err := s.barrier.InitializeAuto(ctx, seal.AutoInitParams{RecoveryShares: req.RecoveryShares, RecoveryThreshold: req.RecoveryThreshold}, as)
	if err != nil {
		return nil, initError(err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	defer func() {
		if err != nil {
			for _, sh := range res.RecoveryShares {
				clear(sh)
			}
			s.sealLocked()
			s.logger.Error("init failed after the keys were written; the node needs a fresh data directory", "error", err)
		}
	}()
	root, err := s.firstRecords(ctx, req.RootTokenID)
	if err != nil {
		return nil, err
	}
	if err := s.finishUnseal(ctx); err != nil {
		return nil, err
	}
	s.logger.Info("initialized with an auto seal", "seal", as.Type(), "recovery_shares", req.RecoveryShares, "recovery_threshold", req.RecoveryThreshold)
	return &InitResult{RecoveryShares: res.RecoveryShares, RootToken: root}, nil
}

// migrationKind is the seal migration a node's config asks for.
type migrationKind int

const (
	migrationNone     migrationKind = iota
	migrationToAuto                 // stored Shamir, config names an enabled auto seal
	migrationToShamir               // stored auto seal, config marks it disabled
)

// migration compares the stored seal with the configured one.
func (s *System) migration(ctx context.Context) (migrationKind, error) {
	if s.auto.cfg == nil {
		return migrationNone, nil
	}
	cfg, err := s.barrier.SealConfig(ctx)
	if err != nil || cfg == nil {
		return migrationNone, err
	}
	switch {
	case !cfg.Auto() && !s.auto.cfg.Disabled:
		return migrationToAuto, nil
	case cfg.Auto() && s.auto.cfg.Disabled && cfg.Type == s.auto.cfg.Type:
		return migrationToShamir, nil
	}
	return migrationNone, nil
}

// unsealMigrate submits a share toward the configured seal migration:
// Shamir unseal shares to move to the auto seal, recovery shares to move
// back to Shamir. Called with mu.
func (s *System) unsealMigrate(ctx context.Context, share []byte, migrate bool, mig migrationKind) error {
	switch {
	case mig == migrationNone:
		return engines.BadRequest("no seal migration is configured on this node")
	case !migrate:
		return engines.BadRequest("a seal migration is configured: submit the keys with migrate=true")
	}
	// A node just restarted into the migration may not have elected
	// itself yet: wait a little for leadership.
	for deadline := time.Now().Add(10 * time.Second); !s.cluster.IsLeader() && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !s.cluster.IsLeader() {
		return &engines.Error{Code: engines.CodeUnavailable, Message: "migrate the seal on the active node; the others follow at their next start with the new seal stanza"}
	}
	as, err := s.openAutoSeal(ctx)
	if err != nil {
		return err
	}
	var st *seal.UnsealStatus
	if mig == migrationToAuto {
		st, err = s.barrier.MigrateToAuto(ctx, share, as)
	} else {
		st, err = s.barrier.MigrateToShamir(ctx, share, as)
	}
	if err != nil {
		if errors.Is(err, seal.ErrBadShares) || errors.Is(err, seal.ErrInvalidParams) || errors.Is(err, seal.ErrSealMismatch) {
			return engines.BadRequest("%s", strings.TrimPrefix(err.Error(), "seal: "))
		}
		return fmt.Errorf("system: seal migration: %w", err)
	}
	if st.Sealed {
		return nil
	}
	s.logger.Warn("seal migration complete", "to", map[migrationKind]string{migrationToAuto: as.Type(), migrationToShamir: seal.SealTypeShamir}[mig])
	if err := s.finishUnseal(ctx); err != nil {
		s.sealLocked()
		return err
	}
	return nil
}

// Start begins the node's own work: with an enabled auto seal, unsealing
// through it as soon as the HSM answers (retrying with backoff, never
// falling back to another seal).
func (s *System) Start(ctx context.Context) {
	if s.auto.cfg == nil || s.auto.cfg.Disabled {
		return
	}
	go s.autoUnsealLoop(ctx)
}

// autoUnsealLoop unseals through the auto seal whenever the node is
// sealed and initialised with it; a node an operator sealed stays sealed
// until it restarts, as in Vault.
func (s *System) autoUnsealLoop(ctx context.Context) {
	backoff := 500 * time.Millisecond
	for {
		done, err := s.tryAutoUnseal(ctx)
		if done {
			return
		}
		if err != nil && s.auto.cfg.Permanent != nil && s.auto.cfg.Permanent(err) {
			s.logger.Error("not retrying the seal: fix the seal configuration and restart the node")
			return
		}
		if err == nil {
			backoff = 500 * time.Millisecond
		} else {
			backoff = min(backoff*2, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if s.closed.Load() {
			return
		}
	}
}

// tryAutoUnseal makes one attempt; done when the node is unsealed or the
// loop has nothing more to do.
func (s *System) tryAutoUnseal(ctx context.Context) (done bool, err error) {
	as, err := s.openAutoSeal(ctx)
	if err != nil {
		return false, err
	}
	ok, err := s.barrier.Initialized(ctx)
	if err != nil || !ok {
		return false, err // not yet initialised (or joined): wait
	}
	if mig, _ := s.migration(ctx); mig != migrationNone {
		s.logger.Warn("a seal migration is configured: submit the current keys to sys/unseal with migrate=true")
		return true, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.barrier.Sealed() {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	if err := s.barrier.UnsealAuto(ctx, as); err != nil {
		if errors.Is(err, seal.ErrSealMismatch) {
			s.logger.Error("the stored seal is not the configured one; staying sealed", "error", err)
			return true, nil
		}
		s.rememberSealError(err)
		return false, err
	}
	if err := s.finishUnseal(ctx); err != nil {
		s.sealLocked()
		s.rememberSealError(err)
		return false, err
	}
	s.logger.Info("auto-unsealed", "seal", as.Type(), "took", time.Since(start).Round(time.Millisecond))
	return true, nil
}

// rememberSealError records (and logs once) an unseal failure for
// seal-status.
func (s *System) rememberSealError(err error) {
	s.auto.mu.Lock()
	defer s.auto.mu.Unlock()
	msg := err.Error()
	if msg != s.auto.lastErr {
		s.logger.Error("auto-unseal failed; the node stays sealed and retries", "error", msg)
		s.auto.lastErr = msg
	}
}
