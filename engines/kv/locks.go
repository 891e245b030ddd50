package kv

import "sync"

// lockStripes is the number of key locks; keys share a stripe by hash.
const lockStripes = 256

// keyLocks serialises read-modify-write cycles on one key: every request
// that changes a key's metadata holds the key's stripe for the whole cycle,
// so check-and-set is exact among the requests this node serves. Two keys
// that share a stripe only wait for each other.
type keyLocks [lockStripes]sync.RWMutex

// forKey returns the lock for key (FNV-1a of the key name).
func (l *keyLocks) forKey(key string) *sync.RWMutex {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return &l[h%lockStripes]
}
