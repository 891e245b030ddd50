package policy

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

// defaultCacheSize is used when NewCache is given a size below 1.
const defaultCacheSize = 1024

// Cache holds compiled ACLs, one per distinct set of policy names. It is
// safe for concurrent use. A hit takes a read lock and does not allocate.
//
// Names are used as given: the caller passes normalized names (see
// NormalizeName). "root" is resolved to Root() without calling the loader;
// every other name, "default" included, is loaded.
type Cache struct {
	load func(ctx context.Context, name string) (*Policy, error)
	size int
	seed maphash.Seed

	mu      sync.RWMutex
	entries map[uint64]*cacheEntry
	ring    []*cacheEntry // CLOCK slots; nil where an entry was dropped
	hand    int
	// epoch is bumped by every invalidation; an ACL compiled from policies
	// loaded before a bump is not stored, so a stale ACL never enters.
	epoch uint64
}

type cacheEntry struct {
	key   uint64
	names []string // sorted, unique
	acl   *ACL
	slot  int
	ref   atomic.Bool // CLOCK reference bit, set on every hit
}

// NewCache returns a cache of at most size ACLs (1024 if size < 1) that
// loads policies with load. load returns (nil, nil) or an error wrapping
// ErrNotFound for a policy that does not exist; such names are skipped, as
// Vault ignores missing policies. Any other error fails the ACL lookup.
func NewCache(load func(ctx context.Context, name string) (*Policy, error), size int) *Cache {
	if size < 1 {
		size = defaultCacheSize
	}
	return &Cache{
		load:    load,
		size:    size,
		seed:    maphash.MakeSeed(),
		entries: make(map[uint64]*cacheEntry),
	}
}

// ACL returns the compiled ACL for the set of policies named; the order of
// names and duplicates do not matter. Unknown names are skipped, so a set
// of only unknown names yields an ACL that allows nothing.
func (c *Cache) ACL(ctx context.Context, names []string) (*ACL, error) {
	key, distinct := c.setKey(names)
	c.mu.RLock()
	if e := c.entries[key]; e != nil && sameSet(e.names, names, distinct) {
		if !e.ref.Load() {
			e.ref.Store(true)
		}
		acl := e.acl
		c.mu.RUnlock()
		return acl, nil
	}
	epoch := c.epoch
	c.mu.RUnlock()

	set := slices.Clone(names)
	slices.Sort(set)
	set = slices.Compact(set)
	policies := make([]*Policy, 0, len(set))
	for _, name := range set {
		if name == rootPolicyName {
			policies = append(policies, Root())
			continue
		}
		p, err := c.load(ctx, name)
		if errors.Is(err, ErrNotFound) || (err == nil && p == nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("policy: load %q: %w", name, err)
		}
		policies = append(policies, p)
	}
	acl, err := NewACL(policies...)
	if err != nil {
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return acl, nil // a policy changed while we loaded; do not keep it
	}
	if e := c.entries[key]; e != nil {
		if sameSet(e.names, set, len(set)) {
			return e.acl, nil // another caller stored it first
		}
		c.drop(e) // a hash collision: the newer set takes the key
	}
	e := &cacheEntry{key: key, names: set, acl: acl}
	c.place(e)
	c.entries[key] = e
	return acl, nil
}

// Invalidate drops every cached ACL built from a set that names the policy,
// and keeps ACLs being compiled concurrently from being stored. Call it
// after a policy is written or deleted.
func (c *Cache) Invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, e := range c.ring {
		if e == nil {
			continue
		}
		if _, found := slices.BinarySearch(e.names, name); found {
			c.drop(e)
		}
	}
}

// Purge drops every cached ACL, e.g. when the node seals.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.entries)
	clear(c.ring)
	c.ring = c.ring[:0]
	c.hand = 0
}

// Len returns the number of cached ACLs.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// place puts e in a free slot, evicting by CLOCK when the ring is full:
// the hand skips (and clears) entries hit since it last passed.
func (c *Cache) place(e *cacheEntry) {
	if len(c.ring) < c.size {
		e.slot = len(c.ring)
		c.ring = append(c.ring, e)
		return
	}
	for {
		old := c.ring[c.hand]
		if old == nil || !old.ref.Load() {
			if old != nil {
				delete(c.entries, old.key)
			}
			e.slot = c.hand
			c.ring[c.hand] = e
			c.hand = (c.hand + 1) % len(c.ring)
			return
		}
		old.ref.Store(false)
		c.hand = (c.hand + 1) % len(c.ring)
	}
}

// drop removes e from the map and its ring slot. Caller holds mu.
func (c *Cache) drop(e *cacheEntry) {
	delete(c.entries, e.key)
	if e.slot < len(c.ring) && c.ring[e.slot] == e {
		c.ring[e.slot] = nil
	}
}

// setKey hashes a set of names independently of order and duplicates,
// and counts the distinct names. It does not allocate.
func (c *Cache) setKey(names []string) (key uint64, distinct int) {
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			continue
		}
		distinct++
		// Summing per-name hashes makes the key order-independent; the
		// final mix spreads small sets over the whole key space.
		key += maphash.String(c.seed, n)
	}
	return key ^ uint64(distinct)*0x9e3779b97f4a7c15, distinct
}

// sameSet reports whether names (any order, duplicates allowed, distinct
// of them distinct) is the same set as sorted.
func sameSet(sorted, names []string, distinct int) bool {
	if len(sorted) != distinct {
		return false
	}
	for _, n := range names {
		if _, found := slices.BinarySearch(sorted, n); !found {
			return false
		}
	}
	return true
}
