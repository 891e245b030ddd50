package fsm

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Scan returns, in key order, up to limit whole keys under prefix that
// sort after after (all of them from the start when after is empty). It
// walks the index a page at a time (lease expiry reads the due entries
// this way) without loading the rest.
func (f *FSM) Scan(prefix, after string, limit int) ([]string, error) {
	if err := f.flushedThrough(); err != nil {
		return nil, fmt.Errorf("fsm: scan: %w", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	var out []string
	err := f.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(dataBucket).Cursor()
		p := []byte(prefix)
		start := p
		if after != "" && after > prefix {
			start = append([]byte(after), 0)
		}
		for k, _ := c.Seek(start); k != nil && hasPrefix(k, p) && len(out) < limit; k, _ = c.Next() {
			out = append(out, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fsm: scan: %w", err)
	}
	return out, nil
}
