package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
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

// BenchmarkGetTenVersions reads the current version of keys that each
// hold ten versions with custom metadata.
func BenchmarkGetTenVersions(b *testing.B) {
	h := mustHarness(b, "2")
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("app/k%d", i)
		h.mustDo(b, engines.UpdateOperation, "metadata/"+key, `{"custom_metadata":{"owner":"team-a","env":"prod"}}`)
		for v := 0; v < 10; v++ {
			h.put(b, key, `{"data":{"username":"app","password":"hunter2hunter2"}}`)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("data/app/k%d", i%100)
		i++
		resp, err := h.do(b, engines.ReadOperation, key, nil)
		if err != nil || resp == nil {
			b.Fatal(resp, err)
		}
	}
}

// BenchmarkMetadataDecode compares the JSON form with the binary form.
func BenchmarkMetadataDecode(b *testing.B) {
	for _, n := range []uint64{1, 10} {
		meta := mustMetadata(b, n)
		forms := []struct {
			name string
			raw  []byte
		}{{"json", mustJSON(b, meta)}, {"binary", mustEncodeMetadata(b, meta)}}
		for _, form := range forms {
			b.Run(fmt.Sprintf("%s/versions=%d", form.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := decodeMetadata(form.raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("binary-one-version/versions=%d", n), func(b *testing.B) {
			raw := mustEncodeMetadata(b, meta)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := decodeMetadataVersion(raw, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMetadataEncode compares json.Marshal (the old form) with
// encodeMetadata.
func BenchmarkMetadataEncode(b *testing.B) {
	for _, n := range []uint64{1, 10} {
		meta := mustMetadata(b, n)
		b.Run(fmt.Sprintf("json/versions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(meta); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("binary/versions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := encodeMetadata(meta); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVersionDecode compares the old {"data": ...} record read with
// encoding/json with the new record read with parseObject.
func BenchmarkVersionDecode(b *testing.B) {
	data := map[string]any{"username": "app", "password": "hunter2hunter2", "port": json.Number("5432")}
	inner := mustJSON(b, data)
	old := mustJSON(b, versionRecord{Data: inner})
	blob, err := encodeVersion(data)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json-record+decoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var rec versionRecord
			if err := json.Unmarshal(old, &rec); err != nil {
				b.Fatal(err)
			}
			if _, err := referenceDecodeObject(rec.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary-record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeVersion(blob); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutBatched writes through a view over storage that batches, as
// the barrier does in a server.
func BenchmarkPutBatched(b *testing.B) {
	st := &batchingStorage{Storage: enginestest.NewStorage()}
	backend, err := Factory(context.Background(), &engines.BackendConfig{MountPath: "secret/", Options: map[string]string{"version": "2"},
		Storage: engines.NewView(st, "logical/x/"), Clock: enginestest.NewClock(epoch).Now})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := &engines.Request{Operation: engines.UpdateOperation, Path: fmt.Sprintf("data/app/k%d", i%1000),
			Data: map[string]any{"data": map[string]any{"username": "app", "password": "hunter2hunter2"}}}
		i++
		if _, err := backend.HandleRequest(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVersionEncode measures the record a KV write stores for its
// data (a 128-byte value, as `coffer bench kv-write` sends).
func BenchmarkVersionEncode(b *testing.B) {
	data := map[string]any{"value": strings.Repeat("v", 128)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeVersion(data); err != nil {
			b.Fatal(err)
		}
	}
}
