package token

import (
	"strings"
	"sync"
	"sync/atomic"
)

// recordCache keeps opened records by key for Lookup, so a request does not
// read, decrypt and decode its token's record every time. It is only as
// fresh as the node's applied state, which is what Lookup's callers read
// after their read barrier: whoever applies a change to a record calls
// Invalidate (the system's FSM observer does, on every node, after the
// change is readable and before it is acknowledged), and a record read
// from storage is kept only if no invalidation ran since the read began
// (the epoch), so an invalidation can never be overtaken by the old copy.
//
// A cached record is never changed and never handed out: Lookup answers
// with a copy (entryCopy).
type recordCache struct {
	entries sync.Map // key -> *record
	epoch   atomic.Uint64

	mu sync.Mutex // orders put against Invalidate and Purge
	n  int        // entries stored since the last clear, guarded by mu
}

// maxCachedRecords bounds the cache; it is emptied when full.
const maxCachedRecords = 4096

func (c *recordCache) get(key string) (*record, bool) {
	v, ok := c.entries.Load(key)
	if !ok {
		return nil, false
	}
	return v.(*record), true
}

// begin returns the epoch to pass to put; call it before reading storage.
func (c *recordCache) begin() uint64 { return c.epoch.Load() }

// put keeps r for key unless an invalidation ran since begin returned
// epoch.
func (c *recordCache) put(epoch uint64, key string, r *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	if c.n >= maxCachedRecords {
		c.entries.Clear()
		c.n = 0
	}
	c.entries.Store(key, r)
	c.n++
}

func (c *recordCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	c.entries.Delete(key)
}

func (c *recordCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	c.entries.Clear()
	c.n = 0
}

// Invalidate drops what the store caches about the record at key (the
// storage key under the store's view, "id/<hash>"), or everything when
// key is "" or a prefix of "id/". The owner of the store calls it for
// every applied change to the store's keys, after the change is readable.
func (s *Store) Invalidate(key string) {
	if rest, ok := strings.CutPrefix(key, idPrefix); ok && rest != "" {
		s.cache.invalidate(rest)
		return
	}
	if strings.HasPrefix(idPrefix, key) {
		s.cache.purge()
	}
}
