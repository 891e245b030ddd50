package database

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Scheduler timing: never wake more often than minWake, and at least
// every maxWake to notice anything a kick missed.
const (
	minWake = time.Second
	maxWake = time.Minute
)

// schedule is the in-memory next-rotation time of each static role,
// rebuilt from storage when the scheduler starts and kept up to date by
// writes and rotations. The zero time means due now.
type schedule struct {
	mu     sync.Mutex
	next   map[string]time.Time
	loaded bool
	kick   chan struct{}
}

func newSchedule() *schedule {
	return &schedule{next: map[string]time.Time{}, kick: make(chan struct{}, 1)}
}

func (s *schedule) set(name string, t time.Time) {
	s.mu.Lock()
	s.next[name] = t
	s.mu.Unlock()
	s.wake()
}

func (s *schedule) remove(name string) {
	s.mu.Lock()
	delete(s.next, name)
	s.mu.Unlock()
	s.wake()
}

func (s *schedule) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// due returns the roles due at now, earliest first.
func (s *schedule) due(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, t := range s.next {
		if !t.After(now) {
			out = append(out, name)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := s.next[out[i]], s.next[out[j]]
		if ti.Equal(tj) {
			return out[i] < out[j]
		}
		return ti.Before(tj)
	})
	return out
}

// earliest returns the soonest next rotation.
func (s *schedule) earliest() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best time.Time
	found := false
	for _, t := range s.next {
		if !found || t.Before(best) {
			best, found = t, true
		}
	}
	return best, found
}

// load rebuilds the schedule from storage and finishes interrupted
// rotations (which may make their roles due now).
func (b *backend) load(ctx context.Context) error {
	names, err := b.storage.List(ctx, staticRolePrefix)
	if err != nil {
		return fmt.Errorf("database: list static roles: %w", err)
	}
	next := make(map[string]time.Time, len(names))
	for _, name := range names {
		r, err := b.loadStaticRole(ctx, name)
		if err != nil {
			return err
		}
		if r == nil {
			continue
		}
		acct, err := b.loadAccount(ctx, name)
		if err != nil {
			return err
		}
		next[name] = r.nextRotation(acct)
	}
	b.sched.mu.Lock()
	b.sched.next = next
	b.sched.loaded = true
	b.sched.mu.Unlock()
	if err := b.recoverAll(ctx); err != nil {
		b.logger.Warn("database: some interrupted rotations could not be recovered yet", "error", err)
	}
	// A role whose recovery failed is due: rotating recovers first, and
	// failing again it is retried after rotationRetry.
	pending, err := b.storage.List(ctx, walPrefix)
	if err != nil {
		return fmt.Errorf("database: list rotation entries: %w", err)
	}
	for _, name := range pending {
		b.sched.set(name, time.Time{})
	}
	return nil
}

// RotateDue rotates every static role due at now (loading the schedule
// and recovering interrupted rotations first if this backend has not
// yet). The scheduler calls it; tests call it directly. It returns the
// rotations' errors joined; each failed role is retried later.
func (b *backend) RotateDue(ctx context.Context, now time.Time) error {
	b.sched.mu.Lock()
	loaded := b.sched.loaded
	b.sched.mu.Unlock()
	if !loaded {
		if err := b.load(ctx); err != nil {
			return err
		}
	}
	var errs []error
	for _, name := range b.sched.due(now) {
		if err := ctx.Err(); err != nil {
			return err
		}
		errs = append(errs, b.rotateIfDue(ctx, name, now))
	}
	return errors.Join(errs...)
}

// rotateIfDue rotates one role if storage still says it is due (another
// request may have rotated it), honouring a schedule's rotation_window:
// a rotation missed by more than the window waits for the next slot.
func (b *backend) rotateIfDue(ctx context.Context, name string, now time.Time) error {
	defer b.roleLocks.lock(name)()
	r, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return err
	}
	if r == nil {
		b.sched.remove(name)
		return nil
	}
	acct, err := b.loadAccount(ctx, name)
	if err != nil {
		return err
	}
	next := r.nextRotation(acct)
	if next.After(now) {
		b.sched.set(name, next)
		return nil
	}
	if r.RotationSchedule != "" && r.RotationWindow > 0 && !next.IsZero() && now.After(next.Add(r.RotationWindow)) {
		if c, err := parseCron(r.RotationSchedule); err == nil {
			if n := c.Next(now); !n.IsZero() {
				b.logger.Info("database: rotation window missed, waiting for the next one", "role", name, "next_rotation", n)
				b.sched.set(name, n)
				return nil
			}
		}
	}
	if err := b.rotateLocked(ctx, name, r); err != nil {
		return fmt.Errorf("database: rotate static role %s: %w", name, err)
	}
	return nil
}

// runScheduler is the leader-only rotation service: it reloads the
// schedule, then sleeps until the next due role (between minWake and
// maxWake, or until a write changes the schedule) and rotates what is
// due, until ctx ends.
func (b *backend) runScheduler(ctx context.Context) {
	b.sched.mu.Lock()
	b.sched.loaded = false
	b.sched.mu.Unlock()
	b.logger.Info("database: static rotation scheduler started")
	defer b.logger.Info("database: static rotation scheduler stopped")
	for {
		if err := b.RotateDue(ctx, b.clock()); err != nil && ctx.Err() == nil {
			b.logger.Warn("database: scheduled rotation failed", "error", err)
		}
		wait := maxWake
		if t, ok := b.sched.earliest(); ok {
			wait = min(max(t.Sub(b.clock()), minWake), maxWake)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-b.sched.kick:
			timer.Stop()
			// Let a burst of writes settle before looking again.
			select {
			case <-ctx.Done():
				return
			case <-time.After(minWake):
			}
		}
	}
}
