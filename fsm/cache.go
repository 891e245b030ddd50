package fsm

import (
	"bytes"
	"sync"
)

// Values read from bbolt are kept in a bounded in-memory cache, so that a
// hot key (a token, a mount's configuration, a KV secret's metadata) costs
// a map lookup instead of a read transaction. They are the same sealed
// bytes bbolt holds in its memory map: the cache adds no plaintext.
const (
	// cacheBytes bounds the cached keys and values.
	cacheBytes = 32 << 20
	// cacheMaxValue is the largest value cached.
	cacheMaxValue = 64 << 10
)

// readCache holds values as bbolt has them. Only a flush changes bbolt
// under an open FSM, so a flush's update (flushed) replaces or drops the
// cached keys it wrote (all of them for a delete-prefix) and bumps gen;
// Get, which reads bbolt outside any lock, fills the cache only if gen has
// not moved since it found the key missing from the layers and the cache.
// A value read before a flush's commit is thus never cached after that
// flush's update, and one cached before it is replaced by it; until then
// the flushing layer, consulted first, answers for every key the flush
// writes.
//
// Lock order: ovMu, then mu of the cache; a flush takes mu alone.
type readCache struct {
	mu    sync.RWMutex
	m     map[string][]byte
	bytes int
	max   int // cacheBytes; tests lower it
	gen   uint64
}

func newReadCache() *readCache {
	return &readCache{m: make(map[string][]byte), max: cacheBytes}
}

// get returns the cached value of key, or the generation to hand to add
// after reading bbolt.
func (c *readCache) get(key string) (value []byte, ok bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[key]
	return v, ok, c.gen
}

// add caches a copy of value as bbolt's value of key, read after get
// returned gen. An absent key is not cached.
func (c *readCache) add(key string, value []byte, gen uint64) {
	if value == nil || len(value) > cacheMaxValue {
		return
	}
	value = bytes.Clone(value) // the caller owns value
	size := len(key) + len(value) + entryOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.m[key]; ok {
		return // another Get filled it in this generation: the same value
	}
	// Evict arbitrary entries (map order is randomised) to make room.
	for k, v := range c.m {
		if c.bytes+size <= c.max {
			break
		}
		delete(c.m, k)
		c.bytes -= len(k) + len(v) + entryOverhead
	}
	c.m[key] = value
	c.bytes += size
}

// flushed brings the cache in line with bbolt after a flush of l
// committed: a cached key the flush rewrote gets its new value (a hot key
// stays hot), one it deleted goes, and a delete-prefix empties the cache.
// Called after the commit and before the flushing layer is dropped (which
// answers for every key of l until then), without ovMu.
func (c *readCache) flushed(l *layer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(l.tombs) > 0 {
		c.resetLocked()
		return
	}
	for k, e := range l.kv {
		old, ok := c.m[k]
		if !ok {
			continue
		}
		c.bytes -= len(k) + len(old) + entryOverhead
		if e.deleted || len(e.value) > cacheMaxValue || c.bytes+len(k)+len(e.value)+entryOverhead > c.max {
			delete(c.m, k)
			continue
		}
		// A copy: the layer's values alias whole log entries.
		c.m[k] = bytes.Clone(e.value)
		c.bytes += len(k) + len(e.value) + entryOverhead
	}
}

// reset empties the cache (the database was replaced or closed).
func (c *readCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.resetLocked()
}

func (c *readCache) resetLocked() {
	clear(c.m)
	c.bytes = 0
}
