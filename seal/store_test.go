package seal

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

// memStore is an in-memory Storage with the cluster's List semantics.
type memStore struct {
	mu   sync.Mutex
	data map[string][]byte
	// fail, when set, makes every call fail (an unavailable cluster).
	fail bool
}

var errUnavailable = errors.New("memstore: unavailable")

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errUnavailable
	}
	v, ok := m.data[key]
	if !ok {
		return nil, nil
	}
	return slices.Clone(v), nil
}

func (m *memStore) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errUnavailable
	}
	seen := map[string]bool{}
	var out []string
	for k := range m.data {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		if !seen[rest] {
			seen[rest] = true
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *memStore) Put(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errUnavailable
	}
	m.data[key] = slices.Clone(value)
	return nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errUnavailable
	}
	delete(m.data, key)
	return nil
}

func (m *memStore) setFail(fail bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = fail
}

// raw returns what the barrier stored at key, bypassing it.
func (m *memStore) raw(key string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.data[key])
}

// snapshot returns a copy of everything stored.
func (m *memStore) snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.data))
	for k, v := range m.data {
		out[k] = slices.Clone(v)
	}
	return out
}

var _ Storage = (*memStore)(nil)

func testLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{tb}, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// mustInit initialises a barrier over store and returns its shares.
func mustInit(tb testing.TB, b *Barrier, shares, threshold int) [][]byte {
	tb.Helper()
	res, err := b.Initialize(context.Background(), InitParams{SecretShares: shares, SecretThreshold: threshold})
	if err != nil {
		tb.Fatalf("Initialize(%d, %d): %v", shares, threshold, err)
	}
	if len(res.Shares) != shares {
		tb.Fatalf("Initialize returned %d shares, want %d", len(res.Shares), shares)
	}
	return res.Shares
}

// mustUnseal submits shares in order and requires the barrier to end up
// unsealed exactly at the last one.
func mustUnseal(tb testing.TB, b *Barrier, shares [][]byte) {
	tb.Helper()
	for i, s := range shares {
		st, err := b.Unseal(context.Background(), s)
		if err != nil {
			tb.Fatalf("Unseal share %d: %v", i, err)
		}
		if last := i == len(shares)-1; st.Sealed == last {
			tb.Fatalf("after share %d of %d: sealed = %v", i+1, len(shares), st.Sealed)
		}
	}
}

// mustBarrier returns an initialised, unsealed barrier, its store and its
// shares (3 of 5).
func mustBarrier(tb testing.TB) (*Barrier, *memStore, [][]byte) {
	tb.Helper()
	store := newMemStore()
	b := NewBarrier(store, testLogger(tb))
	shares := mustInit(tb, b, 5, 3)
	mustUnseal(tb, b, shares[:3])
	tb.Cleanup(b.Seal)
	return b, store, shares
}

func mustEncrypt(tb testing.TB, b *Barrier, path string, plaintext []byte) []byte {
	tb.Helper()
	blob, err := b.Encrypt(path, plaintext)
	if err != nil {
		tb.Fatalf("Encrypt(%q): %v", path, err)
	}
	return blob
}

func mustPut(tb testing.TB, b *Barrier, key string, value []byte) {
	tb.Helper()
	if err := b.Put(context.Background(), key, value); err != nil {
		tb.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(tb testing.TB, b *Barrier, key string) []byte {
	tb.Helper()
	v, err := b.Get(context.Background(), key)
	if err != nil {
		tb.Fatalf("Get(%q): %v", key, err)
	}
	return v
}
