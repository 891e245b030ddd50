package lease

import (
	"context"
	"sync"
	"time"
)

// Run is the leader-only expiry loop: it walks the time index in order and
// revokes what is due, until ctx ends. Each pass Scans from the start of
// the index a page at a time and stops at the first entry not yet due;
// passes run at least every Interval, sooner when the next due time is
// known. Each due lease is revoked on its own goroutine holding one of
// MaxInFlight slots and one of its mount's PerMountConcurrency slots; a
// lease already in flight is skipped. When ctx ends Run launches nothing
// more, waits for the revocations in flight (they see ctx end and write
// nothing more) and returns. Calls of Run are serialised.
func (m *Manager) Run(ctx context.Context) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next, err := m.expireDue(ctx, &wg)
		if ctx.Err() != nil {
			return
		}
		m.passes.Add(1)
		switch {
		case err != nil && err.Error() != lastErr:
			lastErr = err.Error()
			m.log.Warn("lease expiry: scanning the due leases failed; retrying", "error", err)
		case err == nil && lastErr != "":
			lastErr = ""
			m.log.Info("lease expiry: scanning works again")
		}
		wait := m.interval
		if !next.IsZero() {
			wait = min(max(next.Sub(m.now()), time.Millisecond), wait)
		}
		timer.Reset(wait)
	}
}

// expireDue is one pass: it launches the revocation of every due lease
// not already in flight, in time order, and returns the due time of the
// first lease not yet due (zero if none).
func (m *Manager) expireDue(ctx context.Context, wg *sync.WaitGroup) (time.Time, error) {
	after := ""
	for {
		keys, err := m.st.Scan(ctx, timePrefix, after, m.page)
		if err != nil {
			return time.Time{}, err
		}
		for _, key := range keys {
			if ctx.Err() != nil {
				return time.Time{}, ctx.Err()
			}
			at, h, ok := parseTimeKey(key)
			if !ok {
				m.log.Warn("lease expiry: dropping a malformed time-index entry")
				if err := m.dropKey(ctx, key); err != nil {
					return time.Time{}, err
				}
				continue
			}
			if at.After(m.now()) {
				return at, nil
			}
			if !m.claim(h) {
				continue
			}
			select {
			case m.slots <- struct{}{}:
			case <-ctx.Done():
				m.unclaim(h)
				return time.Time{}, ctx.Err()
			}
			if ctx.Err() != nil {
				<-m.slots
				m.unclaim(h)
				return time.Time{}, ctx.Err()
			}
			wg.Go(func() {
				defer func() { <-m.slots }()
				defer m.unclaim(h)
				m.expireOne(ctx, key, h)
			})
		}
		if len(keys) < m.page {
			return time.Time{}, nil
		}
		after = keys[len(keys)-1]
	}
}

// expireOne revokes the lease behind the due time-index entry key: the
// backend's Revoke, then the record and its index entries deleted in one
// Batch; on failure the lease is rescheduled or, after MaxAttempts, made
// irrevocable (failed). An entry whose record is gone or no longer points
// at it (renewed, rescheduled) is dropped without revoking anything.
func (m *Manager) expireOne(ctx context.Context, key, h string) {
	raw, err := m.st.Get(ctx, key)
	if err != nil || raw == nil {
		if err != nil && ctx.Err() == nil {
			m.log.Warn("lease expiry: reading a time-index entry failed", "error", err)
		}
		return
	}
	id := string(raw)
	if !validID(id) || hashOf(id) != h {
		m.log.Warn("lease expiry: dropping a time-index entry that names no valid lease")
		m.logErr(m.dropKey(ctx, key))
		return
	}
	unlock := m.locks.lock(id)
	defer unlock()
	e, err := m.load(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("lease expiry: reading a lease failed", "lease_id", id, "error", err)
		}
		return
	}
	if e == nil || e.Irrevocable || timeKey(e.dueTime(), id) != key {
		m.logErr(m.dropKey(ctx, key))
		return
	}
	err = m.callRevoke(ctx, e, m.revokeTimeout)
	if ctx.Err() != nil {
		return // leadership lost: the next leader carries on
	}
	if err == nil {
		m.logErr(m.remove(ctx, e))
		return
	}
	m.logErr(m.failed(ctx, e, err))
}

// logErr logs a storage error of the expiry loop; the entry stays and the
// next pass retries it.
func (m *Manager) logErr(err error) {
	if err != nil {
		m.log.Warn("lease expiry: a storage write failed; will retry", "error", err)
	}
}
