package lease

import (
	"context"
	"fmt"
	"time"
)

// minRenewTTL is the shortest TTL a renewal may leave: anything shorter is
// refused, so a renewal never yields a zero or negative TTL.
const minRenewTTL = time.Second

// Renew extends lease id to now+increment (increment 0: the lease's current
// TTL length, ExpireTime-LastRenewal), capped at MaxExpire. It refuses an
// irrevocable lease (ErrIrrevocable), a non-renewable one
// (ErrNotRenewable), an expired one or one whose new TTL would be 1 s or
// less (ErrExpired): an expired lease is revoked by the loop, never
// extended. The backend's Renew is called first; on success the record and
// its moved time-index entry are written in one Batch.
func (m *Manager) Renew(ctx context.Context, id string, increment time.Duration) (*Entry, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	unlock := m.locks.lock(id)
	defer unlock()
	e, err := m.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrNotFound
	}
	switch {
	case e.Irrevocable:
		return nil, ErrIrrevocable
	case !e.Renewable:
		return nil, ErrNotRenewable
	}
	now := m.now()
	if !now.Before(e.ExpireTime) || !e.NextAttempt.IsZero() {
		return nil, ErrExpired
	}
	if increment <= 0 {
		increment = e.ExpireTime.Sub(e.LastRenewal)
	}
	newExpire := now.Add(increment)
	if newExpire.After(e.MaxExpire) {
		newExpire = e.MaxExpire
	}
	if !newExpire.After(now.Add(minRenewTTL)) {
		return nil, ErrExpired
	}
	c := *e
	if err := m.rv.Renew(ctx, &c, newExpire); err != nil {
		return nil, fmt.Errorf("lease: renew: %w", err)
	}
	before := indexKeys(e)
	e.ExpireTime, e.LastRenewal = newExpire, now
	if err := m.save(ctx, before, e); err != nil {
		return nil, err
	}
	return e, nil
}
