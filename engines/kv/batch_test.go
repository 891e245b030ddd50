package kv

import (
	"context"
	"strings"
	"sync"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

// batchingStorage is in-memory storage that can batch, counting batches.
type batchingStorage struct {
	*enginestest.Storage
	mu      sync.Mutex
	batches int
}

func (s *batchingStorage) Batch(ctx context.Context, puts map[string][]byte, deletes []string) error {
	s.mu.Lock()
	s.batches++
	s.mu.Unlock()
	for k, v := range puts {
		if err := s.Put(ctx, k, v); err != nil {
			return err
		}
	}
	for _, k := range deletes {
		if err := s.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// TestPutIsOneBatch: over storage that batches (the barrier), a KV v2 put
// is one atomic write carrying the version, the metadata and the pruned
// versions' deletions.
func TestPutIsOneBatch(t *testing.T) {
	ctx := context.Background()
	st := &batchingStorage{Storage: enginestest.NewStorage()}
	b, err := Factory(ctx, &engines.BackendConfig{MountPath: "secret/", Options: map[string]string{"version": "2"},
		Storage: engines.NewView(st, "logical/x/"), Clock: enginestest.NewClock(epoch).Now})
	if err != nil {
		t.Fatal(err)
	}
	put := func(v string) {
		t.Helper()
		resp, err := b.HandleRequest(ctx, &engines.Request{Operation: engines.UpdateOperation, Path: "data/app", Data: map[string]any{"data": map[string]any{"v": v}}})
		if err != nil || resp == nil {
			t.Fatalf("put: %v", err)
		}
	}
	if _, err := b.HandleRequest(ctx, &engines.Request{Operation: engines.UpdateOperation, Path: "config", Data: map[string]any{"max_versions": 2}}); err != nil {
		t.Fatal(err)
	}
	before := st.batches
	for _, v := range []string{"a", "b", "c"} {
		put(v)
	}
	if got := st.batches - before; got != 3 {
		t.Fatalf("3 puts made %d batches", got)
	}
	var versions []string
	for _, k := range st.Keys() {
		if strings.Contains(k, "versions/") {
			versions = append(versions, k)
		}
	}
	if len(versions) != 2 {
		t.Fatalf("versions kept with max_versions=2: %v", versions)
	}
	resp, err := b.HandleRequest(ctx, &engines.Request{Operation: engines.ReadOperation, Path: "data/app", Data: map[string]any{}})
	if err != nil || resp.Data["data"].(map[string]any)["v"] != "c" {
		t.Fatalf("read back: %v %v", resp, err)
	}
}
