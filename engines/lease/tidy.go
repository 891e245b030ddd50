package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Tidy repairs the indexes: it deletes index entries that point at no
// record, or at a record that no longer wants them (stale), and re-adds
// the entries a record is missing. It returns how many entries it fixed.
// It reads every index entry and every record, a page at a time, and
// holds each lease's lock while fixing it.
func (m *Manager) Tidy(ctx context.Context) (int, error) {
	fixed := 0
	checks := []struct {
		prefix string
		wants  func(e *Entry, key string) bool
	}{
		{timePrefix, func(e *Entry, key string) bool {
			return !e.Irrevocable && key == timeKey(e.dueTime(), e.LeaseID)
		}},
		{tokenPrefix, func(e *Entry, key string) bool {
			return e.TokenKey != "" && key == tokenIndexKey(e.TokenKey, e.LeaseID)
		}},
		{irrevocablePrefix, func(e *Entry, key string) bool {
			return e.Irrevocable && key == irrevocableKey(e.LeaseID)
		}},
	}
	for _, c := range checks {
		err := m.scanAll(ctx, c.prefix, func(key string) error {
			drop, err := m.danglingIndex(ctx, key, c.wants)
			if err != nil || !drop {
				return err
			}
			fixed++
			return m.dropKey(ctx, key)
		})
		if err != nil {
			return fixed, err
		}
	}
	err := m.scanAll(ctx, idPrefix, func(key string) error {
		n, err := m.reindex(ctx, strings.TrimPrefix(key, idPrefix))
		fixed += n
		return err
	})
	if fixed > 0 {
		m.log.Info("lease tidy: repaired the lease indexes", "fixed", fixed)
	}
	return fixed, err
}

// danglingIndex reports whether index entry key should go: it names no
// valid lease, no record, or a record that does not want it.
func (m *Manager) danglingIndex(ctx context.Context, key string, wants func(*Entry, string) bool) (bool, error) {
	raw, err := m.st.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("lease: read: %w", err)
	}
	if raw == nil {
		return false, nil // deleted since the scan
	}
	id := string(raw)
	if !validID(id) || !strings.HasSuffix(key, hashOf(id)) {
		return true, nil
	}
	unlock := m.locks.lock(id)
	defer unlock()
	// Re-read under the lock: a revocation may have removed it meanwhile.
	if raw, err = m.st.Get(ctx, key); err != nil || raw == nil {
		return false, err
	}
	e, err := m.load(ctx, id)
	if errors.Is(err, ErrInvalid) {
		return false, nil // an unreadable record keeps its entries
	}
	if err != nil {
		return false, err
	}
	return e == nil || !wants(e, key), nil
}

// reindex adds the index entries lease id's record is missing; it returns
// how many.
func (m *Manager) reindex(ctx context.Context, id string) (int, error) {
	if !validID(id) {
		m.log.Warn("lease tidy: a record under an invalid lease id; leaving it")
		return 0, nil
	}
	unlock := m.locks.lock(id)
	defer unlock()
	e, err := m.load(ctx, id)
	if errors.Is(err, ErrInvalid) {
		m.log.Warn("lease tidy: an unreadable lease record; leaving it", "lease_id", id, "error", err)
		return 0, nil
	}
	if err != nil || e == nil {
		return 0, err
	}
	puts := map[string][]byte{}
	for _, k := range indexKeys(e) {
		v, err := m.st.Get(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("lease: read: %w", err)
		}
		if string(v) != id {
			puts[k] = []byte(id)
		}
	}
	if len(puts) == 0 {
		return 0, nil
	}
	if err := m.st.Batch(ctx, puts, nil); err != nil {
		return 0, fmt.Errorf("lease: write: %w", err)
	}
	return len(puts), nil
}
