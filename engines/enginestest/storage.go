// Package enginestest provides test doubles for the engines package's
// boundaries: an in-memory Storage with the real List semantics.
package enginestest

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"coffer/engines"
)

// ErrInjected is the error a Storage armed with FailOn or FailAfter returns.
var ErrInjected = errors.New("enginestest: injected storage failure")

// Op names a Storage operation for failure injection.
type Op string

// The operations a failure can be injected into.
const (
	OpGet    Op = "get"
	OpPut    Op = "put"
	OpDelete Op = "delete"
	OpList   Op = "list"
)

// Storage is an in-memory engines.Storage for tests, with optional failure
// injection.
type Storage struct {
	mu   sync.RWMutex
	data map[string][]byte
	// fail, when set, is consulted before each operation with the key (the
	// prefix for List), and its error returned.
	fail func(op Op, key string) error
}

var _ engines.Storage = (*Storage)(nil)

// NewStorage returns an empty Storage.
func NewStorage() *Storage { return &Storage{data: map[string][]byte{}} }

// SetFail makes every later operation consult f first and return its
// error if it is not nil; nil clears it.
func (s *Storage) SetFail(f func(op Op, key string) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

// FailOn makes every later op (any operation if op is empty) on a key
// starting with prefix fail with ErrInjected, until SetFail(nil).
func (s *Storage) FailOn(op Op, prefix string) {
	s.SetFail(func(o Op, key string) error {
		if (op == "" || o == op) && strings.HasPrefix(key, prefix) {
			return ErrInjected
		}
		return nil
	})
}

// FailAfter lets n more calls of op succeed, fails the next one with
// ErrInjected, and then disarms.
func (s *Storage) FailAfter(op Op, n int) {
	var mu sync.Mutex
	armed := true
	s.SetFail(func(o Op, _ string) error {
		mu.Lock()
		defer mu.Unlock()
		if !armed || o != op {
			return nil
		}
		if n == 0 {
			armed = false
			return ErrInjected
		}
		n--
		return nil
	})
}

func (s *Storage) check(op Op, key string) error {
	s.mu.RLock()
	f := s.fail
	s.mu.RUnlock()
	if f != nil {
		return f(op, key)
	}
	return nil
}

// Get returns a copy of the value, or nil.
func (s *Storage) Get(_ context.Context, key string) ([]byte, error) {
	if err := s.check(OpGet, key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// List returns the immediate children of prefix, folders with a trailing
// slash, sorted. A key equal to prefix is not a child of it.
func (s *Storage) List(_ context.Context, prefix string) ([]string, error) {
	if err := s.check(OpList, prefix); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Children(s.data, prefix), nil
}

// Children lists the immediate children of prefix among data's keys as
// Storage.List answers: names relative to prefix, "dir/" for a child with
// descendants, sorted, a key equal to prefix excluded. Other in-memory
// test stores list with it too.
func Children[V any](data map[string]V, prefix string) []string {
	seen := map[string]bool{}
	for k := range data {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
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
	return out
}

// Put stores a copy of value.
func (s *Storage) Put(_ context.Context, key string, value []byte) error {
	if err := s.check(OpPut, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = append([]byte{}, value...)
	return nil
}

// Delete removes key.
func (s *Storage) Delete(_ context.Context, key string) error {
	if err := s.check(OpDelete, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, key)
	return nil
}

// Keys returns every stored key, sorted, without failure injection.
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

// KeysWithPrefix returns every stored key starting with prefix, sorted, or
// nil if there is none, without failure injection.
func (s *Storage) KeysWithPrefix(prefix string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Snapshot returns a copy of every stored key and value, without failure
// injection, for scans of what a storage dump would reveal.
func (s *Storage) Snapshot() map[string][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string][]byte, len(s.data))
	for k, v := range s.data {
		out[k] = append([]byte{}, v...)
	}
	return out
}
