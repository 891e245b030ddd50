package kv

import (
	"fmt"
	"testing"

	"coffer/engines"
)

func BenchmarkPut(b *testing.B) {
	h := mustHarness(b, "2")
	data := map[string]any{"data": map[string]any{"username": "app", "password": "hunter2hunter2"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("data/app/k%d", i%1000)
		i++
		if _, err := h.do(b, engines.UpdateOperation, key, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	h := mustHarness(b, "2")
	for i := 0; i < 1000; i++ {
		h.put(b, fmt.Sprintf("app/k%d", i), `{"data":{"username":"app","password":"hunter2hunter2"}}`)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("data/app/k%d", i%1000)
		i++
		resp, err := h.do(b, engines.ReadOperation, key, nil)
		if err != nil || resp == nil {
			b.Fatal(resp, err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	h := mustHarness(b, "2")
	h.put(b, "hot", `{"data":{"username":"app","password":"hunter2hunter2"}}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.do(b, engines.ReadOperation, "data/hot", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
