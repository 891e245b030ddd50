package kv

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"coffer/engines"
)

// FuzzDecodeMetadata checks that any stored bytes decode to a usable
// record or an error, never a panic, and that what decodes re-encodes.
func FuzzDecodeMetadata(f *testing.F) {
	f.Add([]byte(`{"current_version":2,"versions":{"1":{"created_time":"2024-01-01T00:00:00Z"},"2":null}}`))
	f.Add([]byte(`{"custom_metadata":{}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"versions":{"x":{}}}`))
	f.Add(mustEncodeMetadata(f, mustMetadata(f, 3)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		meta, err := decodeMetadata(raw)
		if err != nil {
			return
		}
		if meta.Versions == nil {
			t.Fatal("decoded metadata without a versions map")
		}
		_ = metadataView(meta)
		if _, err := json.Marshal(meta); err != nil && raw[0] != metadataFormatBinary {
			t.Fatalf("re-encode as JSON: %v", err)
		}
		// Whatever reads (either form) is written in the binary form and
		// reads back the same.
		bin, err := encodeMetadata(meta)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := decodeMetadata(bin)
		if err != nil {
			t.Fatalf("decode re-encoding: %v", err)
		}
		if !reflect.DeepEqual(metadataView(again), metadataView(meta)) {
			t.Fatalf("re-encoding reads back %v, want %v", metadataView(again), metadataView(meta))
		}
		_, _ = decodeVersion(raw)
		_, _ = decodeConfig(raw)
	})
}

// FuzzVersionedRequest drives the v2 backend with arbitrary paths, verbs
// and JSON bodies: it must never panic, and with healthy storage every
// error must be a client error (a coded, non-internal one).
func FuzzVersionedRequest(f *testing.F) {
	seeds := []struct {
		op   uint8
		path string
		body string
	}{
		{0, "data/k", `{"version":"1"}`},
		{1, "data/k", `{"data":{"a":1},"options":{"cas":0}}`},
		{2, "data/k", `{"data":{"a":null,"b":{"c":1}}}`},
		{3, "data/k", ``},
		{4, "metadata/", ``},
		{1, "metadata/k", `{"max_versions":2,"custom_metadata":{"a":"b"},"delete_version_after":"1h"}`},
		{2, "metadata/k", `{"custom_metadata":{"a":null}}`},
		{1, "destroy/k", `{"versions":"1,2"}`},
		{1, "undelete/k", `{"versions":[1]}`},
		{1, "config", `{"max_versions":1,"delete_version_after":-1}`},
		{1, "data/a/../b", `{"data":{}}`},
	}
	for _, s := range seeds {
		f.Add(s.op, s.path, s.body)
	}
	ops := []engines.Operation{engines.ReadOperation, engines.UpdateOperation, engines.PatchOperation,
		engines.DeleteOperation, engines.ListOperation, engines.CreateOperation}
	f.Fuzz(func(t *testing.T, op uint8, path, rawBody string) {
		d := json.NewDecoder(strings.NewReader(rawBody))
		d.UseNumber()
		var data map[string]any
		if rawBody != "" && d.Decode(&data) != nil {
			return
		}
		h := mustHarness(t, "2")
		h.put(t, "k", `{"data":{"a":"1"}}`)
		o := ops[int(op)%len(ops)]
		for i := 0; i < 2; i++ { // twice: the second sees the first's effects
			_, err := h.do(t, o, path, data)
			if err == nil {
				continue
			}
			if code, _ := engines.CodeOf(err); code == engines.CodeInternal {
				t.Fatalf("%s %q %s: internal error %v", o, path, rawBody, err)
			}
		}
	})
}
