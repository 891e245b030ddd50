package lease

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Revoke revokes lease id now: the backend's Revoke, then the record and
// its index entries deleted in one Batch. ErrNotFound if there is no such
// lease; a backend failure is returned and the lease kept as it was.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	done, err := m.revokeID(ctx, id, false)
	if err != nil {
		return err
	}
	if !done {
		return ErrNotFound
	}
	return nil
}

// RevokePrefix revokes every lease whose ID starts with prefix (a slash is
// appended if missing, as in Vault: "database/creds/ro" does not match
// "database/creds/rox/..."), PerMountConcurrency at a time, and returns how
// many it removed. Without force a backend failure keeps that lease and is
// reported after the others were tried; with force (revoke-force) the
// record is deleted anyway and the failure only logged.
func (m *Manager) RevokePrefix(ctx context.Context, prefix string, force bool) (int, error) {
	if prefix == "" || prefix == "/" {
		return 0, fmt.Errorf("lease: revoke prefix: %w: empty prefix", ErrInvalid)
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var t tally
	p := newPool(m.perMount)
	err := m.scanAll(ctx, idPrefix+prefix, func(key string) error {
		id := strings.TrimPrefix(key, idPrefix)
		return p.Go(ctx, func() { t.add(m.revokeID(ctx, id, force)) })
	})
	p.Wait()
	return t.result(err)
}

// RevokeByToken revokes the leases created by the token tokenKey names,
// PerMountConcurrency at a time. A lease whose backend fails is expired at
// once and handed to the expiry loop (retried with backoff, never lost),
// so a token's revocation does not wait for a backend that is down. It
// returns how many leases were revoked or handed over; errors are storage
// errors.
func (m *Manager) RevokeByToken(ctx context.Context, tokenKey string) (int, error) {
	if tokenKey == "" {
		return 0, nil
	}
	var t tally
	p := newPool(m.perMount)
	err := m.scanAll(ctx, tokenPrefix+hashOf(tokenKey)+"/", func(key string) error {
		return p.Go(ctx, func() { t.add(m.revokeForToken(ctx, key, tokenKey)) })
	})
	p.Wait()
	return t.result(err)
}

// revokeID revokes lease id under its lock; false if it does not exist.
func (m *Manager) revokeID(ctx context.Context, id string, force bool) (bool, error) {
	unlock := m.locks.lock(id)
	defer unlock()
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return false, err
	}
	if err := m.callRevoke(ctx, e, 0); err != nil {
		if !force || ctx.Err() != nil {
			return false, fmt.Errorf("lease: revoke %s: %w", id, err)
		}
		m.log.Warn("revoke-force: the backend could not revoke the lease; deleting it anyway",
			"lease_id", id, "error", safeText(err))
	}
	if err := m.remove(ctx, e); err != nil {
		return false, err
	}
	return true, nil
}

// revokeForToken revokes the lease the token-index entry key points at.
func (m *Manager) revokeForToken(ctx context.Context, key, tokenKey string) (bool, error) {
	raw, err := m.st.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("lease: read: %w", err)
	}
	if raw == nil {
		return false, nil
	}
	id := string(raw)
	if !validID(id) || key != tokenIndexKey(tokenKey, id) {
		return false, m.dropKey(ctx, key)
	}
	unlock := m.locks.lock(id)
	defer unlock()
	e, err := m.load(ctx, id)
	if err != nil {
		return false, err
	}
	if e == nil || e.TokenKey != tokenKey {
		return false, m.dropKey(ctx, key)
	}
	rerr := m.callRevoke(ctx, e, 0)
	switch {
	case rerr == nil:
		return true, m.remove(ctx, e)
	case ctx.Err() != nil:
		return false, ctx.Err()
	case e.Irrevocable:
		m.log.Warn("the lease of a revoked token is irrevocable and still could not be revoked",
			"lease_id", id, "error", safeText(rerr))
		return false, nil
	}
	return true, m.failed(ctx, e, rerr)
}

// tally collects the results of concurrent revocations.
type tally struct {
	mu     sync.Mutex
	done   int
	failed int
	first  error
}

func (t *tally) add(ok bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.done++
	}
	if err != nil {
		t.failed++
		if t.first == nil {
			t.first = err
		}
	}
}

// result is the count and the error to return: the scan's error, or the
// first revocation error with how many failed.
func (t *tally) result(scanErr error) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case scanErr != nil:
		return t.done, scanErr
	case t.failed == 1:
		return t.done, t.first
	case t.failed > 1:
		return t.done, fmt.Errorf("lease: %d leases not revoked, the first: %w", t.failed, t.first)
	}
	return t.done, nil
}

// pool runs functions on at most n goroutines.
type pool struct {
	sem chan struct{}
	wg  sync.WaitGroup
}

func newPool(n int) *pool { return &pool{sem: make(chan struct{}, n)} }

// Go runs f once a goroutine is free, or returns ctx's error first.
func (p *pool) Go(ctx context.Context, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.wg.Go(func() {
		defer func() { <-p.sem }()
		f()
	})
	return nil
}

func (p *pool) Wait() { p.wg.Wait() }
