package pkcs11

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	p11 "github.com/miekg/pkcs11"
)

// poolSize is how many sessions a Seal keeps; Wrap and Unwrap beyond it
// wait for a free one.
const poolSize = 4

// resetBackoff is the wait before each attempt to reopen a session and log
// in again after the HSM lost them: three attempts, bounded by the
// caller's ctx too.
var resetBackoff = []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond}

// pool is a bounded set of read-write sessions on one slot, logged in
// once (a PKCS#11 login holds for all of the process's sessions on the
// token). Safe for concurrent use; a session is used by one caller at a
// time.
type pool struct {
	mod     *module
	label   string // the token's label, for messages
	pin     string
	logger  *slog.Logger
	resolve func() (uint, error) // finds the token's slot again
	sem     chan struct{}        // holds one token per session in use
	closing atomic.Bool

	mu       sync.Mutex
	slot     uint
	gen      uint64 // bumped by reset; sessions of older generations are closed
	idle     []p11.SessionHandle
	loggedIn bool
	closed   bool
}

// session is a session handle lent out by acquire, stamped with the pool
// generation it belongs to.
type session struct {
	h   p11.SessionHandle
	gen uint64
}

func newPool(mod *module, label string, slot uint, pin string, resolve func() (uint, error), logger *slog.Logger) *pool {
	mod.join(slot)
	return &pool{
		mod: mod, label: label, pin: pin, logger: logger, resolve: resolve,
		sem: make(chan struct{}, poolSize), slot: slot,
	}
}

// acquire lends out a session, opening (and logging in) one if none is
// idle. It waits for a free session until ctx is done.
func (p *pool) acquire(ctx context.Context) (session, error) {
	if p.closing.Load() {
		return session{}, ErrClosed
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return session{}, fmt.Errorf("%w: waiting for a session: %w", ErrHSM, ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		<-p.sem
		return session{}, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		h := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return session{h: h, gen: p.gen}, nil
	}
	h, err := p.openLocked()
	if err != nil {
		<-p.sem
		return session{}, err
	}
	return session{h: h, gen: p.gen}, nil
}

// release returns s to the pool, or closes it when broken or from an
// older generation.
func (p *pool) release(s session, broken bool) {
	p.mu.Lock()
	if broken || s.gen != p.gen || p.closed {
		p.closeSession(s.h)
	} else {
		p.idle = append(p.idle, s.h)
	}
	p.mu.Unlock()
	<-p.sem
}

// openLocked opens a session on the slot and logs in if the pool has not.
// Errors wrap ErrToken, ErrPIN or ErrHSM, and the PKCS#11 error.
func (p *pool) openLocked() (p11.SessionHandle, error) {
	h, err := p.mod.ctx.OpenSession(p.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		kind := ErrHSM
		if isCKR(err, p11.CKR_SLOT_ID_INVALID, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED, p11.CKR_DEVICE_REMOVED) {
			kind = ErrToken
		}
		return 0, fmt.Errorf("%w: token %s: open session: %w", kind, tokenName(p.label, p.slot), err)
	}
	p.mod.claim(h, p)
	if p.loggedIn {
		return h, nil
	}
	if err := p.mod.ctx.Login(h, p11.CKU_USER, p.pin); err != nil && !isCKR(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		p.closeSession(h)
		kind := ErrHSM
		if pinRefused(err) {
			kind = ErrPIN
		}
		return 0, fmt.Errorf("%w: token %s: login: %w", kind, tokenName(p.label, p.slot), err)
	}
	p.loggedIn = true
	return h, nil
}

// closeSession closes h unless the library has since given that handle to
// another pool. The caller holds p.mu.
func (p *pool) closeSession(h p11.SessionHandle) {
	if p.mod.disown(h, p) {
		_ = p.mod.ctx.CloseSession(h) // a lost session is already closed
	}
}

// reset replaces the pool's sessions after seen's generation lost its
// session or login: it drops the idle sessions, finds the token again and
// opens a logged-in session, trying len(resetBackoff) times within ctx.
// A reset another caller already did for seen's generation is not redone.
// A refused PIN is not retried.
func (p *pool) reset(ctx context.Context, seen uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.gen != seen {
		return nil
	}
	for _, h := range p.idle {
		p.closeSession(h)
	}
	p.idle, p.loggedIn = nil, false
	p.gen++
	var err error
	for i, d := range resetBackoff {
		if err := wait(ctx, d); err != nil {
			return fmt.Errorf("%w: reopening sessions: %w", ErrHSM, err)
		}
		if err = p.reopenLocked(); err == nil {
			p.logger.Info("hsm sessions restored", "slot", p.slot, "attempt", i+1)
			return nil
		}
		if pinRefused(err) {
			break
		}
		p.logger.Warn("hsm session reopen failed", "slot", p.slot, "attempt", i+1, "error", err)
	}
	return err
}

// reopenLocked finds the slot again and parks one new logged-in session.
func (p *pool) reopenLocked() error {
	slot, err := p.resolve()
	if err != nil {
		return err
	}
	if slot != p.slot {
		p.mod.leave(p.slot)
		p.mod.join(slot)
		p.slot = slot
	}
	h, err := p.openLocked()
	if err != nil {
		return err
	}
	p.idle = append(p.idle, h)
	return nil
}

// close waits for the sessions in use, logs out if no other pool in the
// process uses the slot, and closes every session. Later acquires fail
// with ErrClosed. Calling it twice does nothing.
func (p *pool) close() {
	if p.closing.Swap(true) {
		return
	}
	for range cap(p.sem) {
		p.sem <- struct{}{}
	}
	p.mu.Lock()
	p.closed = true
	if p.mod.leave(p.slot) && p.loggedIn && len(p.idle) > 0 {
		_ = p.mod.ctx.Logout(p.idle[0]) // closing the sessions logs out anyway
	}
	for _, h := range p.idle {
		p.closeSession(h)
	}
	p.idle = nil
	p.mu.Unlock()
	for range cap(p.sem) {
		<-p.sem
	}
}

// wait sleeps d, or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
