// Package enginestest provides test doubles for the engines package's
// boundaries: an in-memory Storage with the real List semantics.
package enginestest

import (
	"context"
	"sort"
	"strings"
	"sync"

	"coffer/engines"
)

// Storage is an in-memory engines.Storage for tests.
type Storage struct {
	mu   sync.RWMutex
	data map[string][]byte
}

var _ engines.Storage = (*Storage)(nil)

// NewStorage returns an empty Storage.
func NewStorage() *Storage { return &Storage{data: map[string][]byte{}} }

// Get returns a copy of the value, or nil.
func (s *Storage) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// List returns the immediate children of prefix, folders with a trailing
// slash, sorted.
func (s *Storage) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	for k := range s.data {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Put stores a copy of value.
func (s *Storage) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = append([]byte{}, value...)
	return nil
}

// Delete removes key.
func (s *Storage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, key)
	return nil
}

// Keys returns every stored key, sorted.
func (s *Storage) Keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.data))
	for k := range s.data {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
