package token

import (
	"fmt"
	"testing"
)

// BenchmarkLookup is the per-request token cost: one HMAC, one storage
// read (in memory here), one decode and the sealed-field open.
func BenchmarkLookup(b *testing.B) {
	e := mustEnv(b)
	for i := range 1000 {
		e.mustCreate(e.root, "create", map[string]any{"policies": fmt.Sprintf("p%d", i%7), "meta": map[string]any{"app": "x"}})
	}
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"web", "db"}, "ttl": "1h", "meta": map[string]any{"app": "x"}})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		te, err := e.s.Lookup(e.ctx, id)
		if err != nil || te == nil {
			b.Fatal(te, err)
		}
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	e := mustEnv(b)
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"web", "db"}, "ttl": "1h"})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if te, err := e.s.Lookup(e.ctx, id); err != nil || te == nil {
				b.Error(te, err)
				return
			}
		}
	})
}

// BenchmarkLookupUnknown is the cost of refusing a made-up token.
func BenchmarkLookupUnknown(b *testing.B) {
	e := mustEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		if te, err := e.s.Lookup(e.ctx, "hvs.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); err != nil || te != nil {
			b.Fatal(te, err)
		}
	}
}
