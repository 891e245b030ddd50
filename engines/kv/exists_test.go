package kv

import (
	"context"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

func TestExists(t *testing.T) {
	ctx := context.Background()
	for _, version := range []string{"1", "2"} {
		s := enginestest.NewStorage()
		b, err := Factory(ctx, &engines.BackendConfig{Storage: s, Options: map[string]string{"version": version}})
		if err != nil {
			t.Fatal(err)
		}
		path := "app"
		if version == "2" {
			path = "data/app"
		}
		ec := b.(engines.ExistenceChecker)
		req := &engines.Request{Operation: engines.UpdateOperation, Path: path}
		if ok, err := ec.Exists(ctx, req); err != nil || ok {
			t.Fatalf("v%s before write: exists=%v err=%v", version, ok, err)
		}
		req.Data = map[string]any{"data": map[string]any{"a": "b"}, "a": "b"}
		if _, err := b.HandleRequest(ctx, req); err != nil {
			t.Fatalf("v%s write: %v", version, err)
		}
		if ok, err := ec.Exists(ctx, &engines.Request{Operation: engines.UpdateOperation, Path: path}); err != nil || !ok {
			t.Fatalf("v%s after write: exists=%v err=%v", version, ok, err)
		}
	}
}
