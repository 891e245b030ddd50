package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/engines"
)

// memStorage is an in-memory engines.Storage with the real List semantics
// and optional failure injection.
type memStorage struct {
	mu   sync.RWMutex
	data map[string][]byte
	// fail, when set, is consulted before each operation ("get", "put",
	// "delete", "list") and its error returned.
	fail func(op, key string) error
}

var _ engines.Storage = (*memStorage)(nil)

var errInjected = errors.New("injected storage failure")

func newMemStorage() *memStorage { return &memStorage{data: map[string][]byte{}} }

func (s *memStorage) check(op, key string) error {
	s.mu.RLock()
	f := s.fail
	s.mu.RUnlock()
	if f != nil {
		return f(op, key)
	}
	return nil
}

func (s *memStorage) setFail(f func(op, key string) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *memStorage) Get(_ context.Context, key string) ([]byte, error) {
	if err := s.check("get", key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

func (s *memStorage) List(_ context.Context, prefix string) ([]string, error) {
	if err := s.check("list", prefix); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	for k := range s.data {
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
	return out, nil
}

func (s *memStorage) Put(_ context.Context, key string, value []byte) error {
	if err := s.check("put", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = bytes.Clone(value)
	return nil
}

func (s *memStorage) Delete(_ context.Context, key string) error {
	if err := s.check("delete", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, key)
	return nil
}

// keys returns every stored key with the given prefix, sorted.
func (s *memStorage) keys(prefix string) []string {
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

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// harness is one KV mount over a memStorage and a fakeClock.
type harness struct {
	backend engines.Backend
	storage *memStorage
	clock   *fakeClock
}

func mustHarness(tb testing.TB, version string) *harness {
	tb.Helper()
	h := &harness{storage: newMemStorage(), clock: &fakeClock{t: epoch}}
	b, err := Factory(context.Background(), &engines.BackendConfig{
		MountPath: "secret/",
		Options:   map[string]string{"version": version},
		Storage:   h.storage,
		Clock:     h.clock.Now,
	})
	if err != nil {
		tb.Fatalf("Factory: %v", err)
	}
	h.backend = b
	return h
}

// body decodes a JSON request body as the HTTP layer does (json.Number).
func body(tb testing.TB, s string) map[string]any {
	tb.Helper()
	if s == "" {
		return map[string]any{}
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("decode body %q: %v", s, err)
	}
	return m
}

func (h *harness) do(tb testing.TB, op engines.Operation, path string, data map[string]any) (*engines.Response, error) {
	tb.Helper()
	if data == nil {
		data = map[string]any{}
	}
	return h.backend.HandleRequest(context.Background(), &engines.Request{
		ID: "test", Operation: op, Path: path, MountPoint: "secret/", Data: data,
	})
}

// mustDo runs a request that must succeed.
func (h *harness) mustDo(tb testing.TB, op engines.Operation, path, jsonBody string) *engines.Response {
	tb.Helper()
	resp, err := h.do(tb, op, path, body(tb, jsonBody))
	if err != nil {
		tb.Fatalf("%s %s %s: %v", op, path, jsonBody, err)
	}
	return resp
}

// mustFail runs a request that must fail with code and, if msg is not
// empty, a message containing msg.
func (h *harness) mustFail(tb testing.TB, op engines.Operation, path, jsonBody string, code engines.Code, msg string) {
	tb.Helper()
	resp, err := h.do(tb, op, path, body(tb, jsonBody))
	if err == nil {
		tb.Fatalf("%s %s %s: got response %+v, want error code %d", op, path, jsonBody, resp, code)
	}
	assertCode(tb, err, code, msg)
}

func assertCode(tb testing.TB, err error, code engines.Code, msg string) {
	tb.Helper()
	gotCode, gotMsg := engines.CodeOf(err)
	if gotCode != code {
		tb.Fatalf("error %q: code %d, want %d", err, gotCode, code)
	}
	if msg != "" && !strings.Contains(gotMsg, msg) {
		tb.Fatalf("error message %q, want it to contain %q", gotMsg, msg)
	}
}

// put writes a v2 version and returns its version number.
func (h *harness) put(tb testing.TB, key, jsonBody string) uint64 {
	tb.Helper()
	resp := h.mustDo(tb, engines.UpdateOperation, "data/"+key, jsonBody)
	if resp == nil {
		tb.Fatalf("write data/%s: nil response", key)
	}
	return resp.Data["version"].(uint64)
}

// get reads data/<key> (with an optional version query) and returns the
// response, which may be nil.
func (h *harness) get(tb testing.TB, key string, query map[string]any) *engines.Response {
	tb.Helper()
	resp, err := h.do(tb, engines.ReadOperation, "data/"+key, query)
	if err != nil {
		tb.Fatalf("read data/%s: %v", key, err)
	}
	return resp
}

// roundTrip encodes v as the HTTP layer would and decodes it back, so
// tests compare what a client sees.
func roundTrip(tb testing.TB, v any) any {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.Fatalf("decode: %v", err)
	}
	return out
}

// jsonEqual compares got (after a JSON round trip) with the JSON text want.
func jsonEqual(tb testing.TB, got any, want string) {
	tb.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatalf("bad want JSON %q: %v", want, err)
	}
	g := roundTrip(tb, got)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		tb.Fatalf("got  %s\nwant %s", gb, wb)
	}
}

func dataOf(tb testing.TB, resp *engines.Response) map[string]any {
	tb.Helper()
	if resp == nil {
		tb.Fatal("nil response")
	}
	d, _ := resp.Data["data"].(map[string]any)
	return d
}

func metaOf(tb testing.TB, resp *engines.Response) map[string]any {
	tb.Helper()
	if resp == nil {
		tb.Fatal("nil response")
	}
	m, ok := resp.Data["metadata"].(map[string]any)
	if !ok {
		tb.Fatalf("response has no metadata: %+v", resp.Data)
	}
	return m
}
