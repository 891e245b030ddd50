package autopilot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Autopilot runs on the Raft leader and keeps the voter set healthy. Its
// methods are safe for concurrent use; passes never overlap.
type Autopilot struct {
	r      Raft
	health func() map[string]Health
	now    func() time.Time
	logger *slog.Logger

	pass    sync.Mutex           // held for a whole Reconcile
	tracked map[string]*tracking // guarded by pass

	mu    sync.Mutex
	cfg   Config
	state *State
}

// New returns an Autopilot for r. health reports every server's health
// keyed by server ID (nil: nothing known); now is the clock (nil:
// time.Now); zero Config fields take their defaults.
func New(cfg Config, r Raft, health func() map[string]Health, now func() time.Time, logger *slog.Logger) *Autopilot {
	if health == nil {
		health = func() map[string]Health { return nil }
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Autopilot{
		r:       r,
		health:  health,
		now:     now,
		logger:  logger,
		tracked: make(map[string]*tracking),
		cfg:     cfg.withDefaults(),
	}
}

// Config returns the configuration in effect, defaults applied.
func (a *Autopilot) Config() Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// SetConfig replaces the configuration from the next pass on; zero fields
// take their defaults. Validate client input with ParseConfigUpdate first.
func (a *Autopilot) SetConfig(c Config) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg = c.withDefaults()
}

// State returns a copy of the state computed by the last pass, nil before
// the first.
func (a *Autopilot) State() *State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.clone()
}

// Run reconciles once, then every Config().Interval, until ctx ends. Call
// it on gaining leadership and cancel ctx on losing it.
func (a *Autopilot) Run(ctx context.Context) {
	for {
		if err := a.Reconcile(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrNoLeader) {
				a.logger.Debug("autopilot: pass skipped", "err", err)
			} else {
				a.logger.Warn("autopilot: pass failed", "err", err)
			}
		}
		t := time.NewTimer(a.Config().Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Reconcile runs one pass: it reads the Raft configuration and every
// server's health, publishes the resulting State, promotes non-voters
// stable for ServerStabilizationTime, then (with CleanupDeadServers)
// removes dead servers within the quorum rules of removals. Promotions come
// first so that a replacement voter can make room for removing a dead one
// in the same pass. It returns ErrNoLeader if Raft knows no leader, and
// the Raft errors of failed changes.
func (a *Autopilot) Reconcile(ctx context.Context) error {
	a.pass.Lock()
	defer a.pass.Unlock()

	cfg := a.Config()
	servers, err := a.r.Configuration(ctx)
	if err != nil {
		return fmt.Errorf("autopilot: read raft configuration: %w", err)
	}
	c := cluster{
		leader:    a.r.LeaderID(),
		lastIndex: a.r.LastIndex(),
		term:      a.r.Term(),
		now:       a.now(),
	}
	views := observe(cfg, c, servers, a.health(), a.tracked)
	if c.leader == "" {
		a.publish(buildState("", views))
		return ErrNoLeader
	}

	var errs []error
	for _, v := range promotions(cfg, c.now, views) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("autopilot: %w", err))
			break
		}
		if err := a.r.Promote(ctx, v.ID, v.Address); err != nil {
			errs = append(errs, fmt.Errorf("autopilot: promote %s: %w", v.ID, err))
			break
		}
		a.logger.Info("autopilot: promoted non-voter", "server", v.ID, "stable_for", c.now.Sub(v.stableSince))
		v.Suffrage = Voter
	}

	remove, blocked := removals(cfg, views)
	for _, v := range blocked {
		a.logger.Debug("autopilot: keeping dead voter for quorum", "server", v.ID, "min_quorum", cfg.MinQuorum)
	}
	removed := make(map[string]bool, len(remove))
	for _, v := range remove {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("autopilot: %w", err))
			break
		}
		if err := a.r.Remove(ctx, v.ID); err != nil {
			errs = append(errs, fmt.Errorf("autopilot: remove %s: %w", v.ID, err))
			continue
		}
		a.logger.Info("autopilot: removed dead server", "server", v.ID, "suffrage", string(v.Suffrage), "last_contact", v.sinceContact)
		removed[v.ID] = true
		delete(a.tracked, v.ID)
	}

	kept := views[:0:0]
	for _, v := range views {
		if !removed[v.ID] {
			kept = append(kept, v)
		}
	}
	a.publish(buildState(c.leader, kept))
	return errors.Join(errs...)
}

func (a *Autopilot) publish(s *State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state = s
}
