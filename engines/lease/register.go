package lease

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Register records a new lease: its record, its time-index entry and its
// token-index entry in one Batch, so no lease exists without its index.
// A zero IssueTime means now, a zero LastRenewal the issue time; a
// MaxExpire before ExpireTime (or zero) becomes ExpireTime, so renewals
// cannot extend it. e itself is not modified.
func (m *Manager) Register(ctx context.Context, e *Entry) error {
	if e == nil {
		return fmt.Errorf("lease: register: %w: no entry", ErrInvalid)
	}
	if !validID(e.LeaseID) {
		return fmt.Errorf("lease: register: %w: bad lease id", ErrInvalid)
	}
	if e.ExpireTime.IsZero() {
		return fmt.Errorf("lease: register: %w: no expire time", ErrInvalid)
	}
	c := *e
	if c.IssueTime.IsZero() {
		c.IssueTime = m.now()
	}
	if c.LastRenewal.IsZero() {
		c.LastRenewal = c.IssueTime
	}
	if c.MaxExpire.Before(c.ExpireTime) {
		c.MaxExpire = c.ExpireTime
	}
	return m.save(ctx, nil, &c)
}

// Lookup returns lease id's record, or (nil, nil) if there is none.
func (m *Manager) Lookup(ctx context.Context, id string) (*Entry, error) {
	if !validID(id) {
		return nil, nil
	}
	return m.load(ctx, id)
}

// ListPrefix lists the children of prefix among lease IDs, Vault style:
// "database/" gives "creds/", "database/creds/ro/" the random suffixes.
// A prefix without a trailing slash gets one, as in Vault.
func (m *Manager) ListPrefix(ctx context.Context, prefix string) ([]string, error) {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	keys, err := m.st.List(ctx, idPrefix+prefix)
	if err != nil {
		return nil, fmt.Errorf("lease: list: %w", err)
	}
	return keys, nil
}

// Count returns how many leases (irrevocable ones included) have an ID
// starting with prefix ("" for all), reading the records a page at a time.
func (m *Manager) Count(ctx context.Context, prefix string) (int, error) {
	n := 0
	err := m.scanAll(ctx, idPrefix+prefix, func(string) error { n++; return nil })
	return n, err
}

// Irrevocable returns the leases marked irrevocable, by lease ID.
func (m *Manager) Irrevocable(ctx context.Context) ([]*Entry, error) {
	var out []*Entry
	err := m.scanAll(ctx, irrevocablePrefix, func(key string) error {
		raw, err := m.st.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("lease: read: %w", err)
		}
		id := string(raw)
		if raw == nil || !validID(id) || key != irrevocableKey(id) {
			return nil
		}
		e, err := m.load(ctx, id)
		if err != nil {
			return err
		}
		if e != nil && e.Irrevocable {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.LeaseID, b.LeaseID) })
	return out, nil
}
