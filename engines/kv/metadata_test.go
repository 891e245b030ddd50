package kv

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"coffer/engines"
)

func TestMetadataRead(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"a":"1"}}`)
	h.clock.Advance(time.Second)
	h.put(t, "k", `{"data":{"a":"2"}}`)
	h.mustDo(t, engines.UpdateOperation, "delete/k", `{"versions":[1]}`)
	md := h.mustDo(t, engines.ReadOperation, "metadata/k", "")
	jsonEqual(t, md.Data, `{
		"cas_required": false,
		"created_time": "2024-05-06T07:08:09.123456789Z",
		"current_version": 2,
		"custom_metadata": null,
		"delete_version_after": "0s",
		"max_versions": 0,
		"oldest_version": 0,
		"updated_time": "2024-05-06T07:08:10.123456789Z",
		"versions": {
			"1": {"created_time": "2024-05-06T07:08:09.123456789Z", "deletion_time": "2024-05-06T07:08:10.123456789Z", "destroyed": false},
			"2": {"created_time": "2024-05-06T07:08:10.123456789Z", "deletion_time": "", "destroyed": false}
		}}`)
	if resp := h.mustDo(t, engines.ReadOperation, "metadata/none", ""); resp != nil {
		t.Fatalf("metadata of missing key: %+v", resp)
	}
}

func TestMetadataWrite(t *testing.T) {
	h := mustHarness(t, "2")
	// Creating metadata for a key with no versions.
	if resp := h.mustDo(t, engines.UpdateOperation, "metadata/k", `{"max_versions":"5","cas_required":true,"delete_version_after":"1h","custom_metadata":{"owner":"ops","n":7}}`); resp != nil {
		t.Fatalf("metadata write: %+v, want nil (204)", resp)
	}
	md := h.mustDo(t, engines.ReadOperation, "metadata/k", "")
	jsonEqual(t, md.Data, `{
		"cas_required": true,
		"created_time": "2024-05-06T07:08:09.123456789Z",
		"current_version": 0,
		"custom_metadata": {"n": "7", "owner": "ops"},
		"delete_version_after": "1h0m0s",
		"max_versions": 5,
		"oldest_version": 0,
		"updated_time": "2024-05-06T07:08:09.123456789Z",
		"versions": {}}`)
	if resp := h.get(t, "k", nil); resp != nil {
		t.Fatalf("data of key with no versions: %+v", resp)
	}
	// Writes change only the fields given; custom_metadata is replaced.
	h.mustDo(t, engines.UpdateOperation, "metadata/k", `{"custom_metadata":{"team":"a"}}`)
	md = h.mustDo(t, engines.ReadOperation, "metadata/k", "")
	if md.Data["max_versions"] != uint32(5) || md.Data["cas_required"] != true {
		t.Fatalf("partial write reset other fields: %+v", md.Data)
	}
	jsonEqual(t, md.Data["custom_metadata"], `{"team":"a"}`)
	// Data responses carry custom_metadata.
	resp := h.mustDo(t, engines.UpdateOperation, "data/k", `{"data":{"x":"y"},"options":{"cas":0}}`)
	jsonEqual(t, resp.Data["custom_metadata"], `{"team":"a"}`)
	jsonEqual(t, metaOf(t, h.get(t, "k", nil))["custom_metadata"], `{"team":"a"}`)
	// Null or {} clears it.
	h.mustDo(t, engines.UpdateOperation, "metadata/k", `{"custom_metadata":null}`)
	jsonEqual(t, h.mustDo(t, engines.ReadOperation, "metadata/k", "").Data["custom_metadata"], `null`)
	h.mustDo(t, engines.UpdateOperation, "metadata/k", `{"custom_metadata":{"team":"a"}}`)
	h.mustDo(t, engines.UpdateOperation, "metadata/k", `{"custom_metadata":{}}`)
	jsonEqual(t, h.mustDo(t, engines.ReadOperation, "metadata/k", "").Data["custom_metadata"], `null`)
	// An empty write is a no-op that creates nothing.
	if resp := h.mustDo(t, engines.UpdateOperation, "metadata/other", `{}`); resp != nil {
		t.Fatalf("empty metadata write: %+v", resp)
	}
	if resp := h.mustDo(t, engines.ReadOperation, "metadata/other", ""); resp != nil {
		t.Fatalf("empty metadata write created metadata: %+v", resp)
	}
	// Turning off cas_required the mount enforces warns.
	h.mustDo(t, engines.UpdateOperation, "config", `{"cas_required":true}`)
	resp = h.mustDo(t, engines.UpdateOperation, "metadata/k", `{"cas_required":false}`)
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "mandated by backend config") {
		t.Fatalf("want a cas_required warning, got %+v", resp)
	}
}

func TestMetadataBadInput(t *testing.T) {
	h := mustHarness(t, "2")
	many := map[string]string{}
	for i := 0; i < 65; i++ {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	var manyJSON []string
	for k, v := range many {
		manyJSON = append(manyJSON, fmt.Sprintf("%q:%q", k, v))
	}
	tests := []struct {
		name, body, msg string
	}{
		{"too many keys", `{"custom_metadata":{` + strings.Join(manyJSON, ",") + `}}`, "at most 64 keys, provided 65"},
		{"key too long", `{"custom_metadata":{"` + strings.Repeat("k", 129) + `":"v"}}`, "length of key"},
		{"value too long", `{"custom_metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, "length of value"},
		{"empty value", `{"custom_metadata":{"k":""}}`, "length of value"},
		{"null value on write", `{"custom_metadata":{"k":null}}`, "length of value"},
		{"empty key", `{"custom_metadata":{"":"v"}}`, "length of key"},
		{"unprintable", `{"custom_metadata":{"k":"a\u0007b"}}`, "unprintable"},
		{"nested value", `{"custom_metadata":{"k":{"a":"b"}}}`, "not a string"},
		{"not an object", `{"custom_metadata":"x"}`, `field "custom_metadata"`},
		{"negative max_versions", `{"max_versions":-1}`, `field "max_versions"`},
		{"bad cas_required", `{"cas_required":"perhaps"}`, `field "cas_required"`},
		{"negative delete_version_after", `{"delete_version_after":"-1h"}`, "negative"},
		{"bad delete_version_after", `{"delete_version_after":"later"}`, `field "delete_version_after"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mustFail(t, engines.UpdateOperation, "metadata/k", tt.body, engines.CodeInvalidRequest, tt.msg)
		})
	}
	// At the limits is fine.
	limit := map[string]any{}
	for i := 0; i < 64; i++ {
		limit[fmt.Sprintf("%0128d", i)] = strings.Repeat("v", 512)
	}
	if _, err := h.do(t, engines.UpdateOperation, "metadata/k", map[string]any{"custom_metadata": limit}); err != nil {
		t.Fatalf("custom_metadata at the limits: %v", err)
	}
}

func TestMetadataPatch(t *testing.T) {
	h := mustHarness(t, "2")
	resp := h.mustDo(t, engines.PatchOperation, "metadata/k", `{"max_versions":3}`)
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("patch missing metadata: %+v, want 404", resp)
	}
	h.mustDo(t, engines.UpdateOperation, "metadata/k", `{"max_versions":3,"cas_required":true,"custom_metadata":{"a":"1","b":"2"}}`)
	tests := []struct {
		patch string
		want  string // fields checked: max_versions, cas_required, delete_version_after, custom_metadata
	}{
		{`{"custom_metadata":{"b":null,"c":"3"}}`, `[3,true,"0s",{"a":"1","c":"3"}]`},
		{`{"max_versions":7}`, `[7,true,"0s",{"a":"1","c":"3"}]`},
		{`{"delete_version_after":"30m","cas_required":false}`, `[7,false,"30m0s",{"a":"1","c":"3"}]`},
		{`{"max_versions":null,"delete_version_after":null}`, `[0,false,"0s",{"a":"1","c":"3"}]`},
		{`{"custom_metadata":null}`, `[0,false,"0s",null]`},
		{`{"custom_metadata":{"x":"y"}}`, `[0,false,"0s",{"x":"y"}]`},
		{`{}`, `[0,false,"0s",{"x":"y"}]`},
	}
	for _, tt := range tests {
		h.mustDo(t, engines.PatchOperation, "metadata/k", tt.patch)
		md := h.mustDo(t, engines.ReadOperation, "metadata/k", "").Data
		jsonEqual(t, []any{md["max_versions"], md["cas_required"], md["delete_version_after"], md["custom_metadata"]}, tt.want)
	}
	// The merged result must respect the limits too.
	var sb strings.Builder
	sb.WriteString(`{"custom_metadata":{`)
	for i := 0; i < 64; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"n%d":"v"`, i)
	}
	sb.WriteString(`}}`)
	h.mustFail(t, engines.PatchOperation, "metadata/k", sb.String(), engines.CodeInvalidRequest, "at most 64 keys")
}

func TestMetadataDelete(t *testing.T) {
	h := mustHarness(t, "2")
	for i := 0; i < 3; i++ {
		h.put(t, "k", `{"data":{"a":"x"}}`)
	}
	h.put(t, "k/v", `{"data":{"a":"neighbour"}}`)
	// An orphan from an interrupted write is removed too.
	if err := h.storage.Put(t.Context(), versionKey("k", 4), []byte(`{"data":{}}`)); err != nil {
		t.Fatal(err)
	}
	if resp := h.mustDo(t, engines.DeleteOperation, "metadata/k", ""); resp != nil {
		t.Fatalf("metadata delete: %+v", resp)
	}
	if resp := h.mustDo(t, engines.ReadOperation, "metadata/k", ""); resp != nil {
		t.Fatalf("metadata after delete: %+v", resp)
	}
	if resp := h.get(t, "k", map[string]any{"version": "1"}); resp != nil {
		t.Fatalf("data after metadata delete: %+v", resp)
	}
	if left := h.storage.KeysWithPrefix(versionDir("k")); len(left) != 1 || left[0] != versionKey("k/v", 1) {
		t.Fatalf("version blobs left: %v, want only k/v's", left)
	}
	if d := dataOf(t, h.get(t, "k/v", nil)); d["a"] != "neighbour" {
		t.Fatalf("neighbour key damaged: %+v", d)
	}
	// Writing again starts from version 1.
	if v := h.put(t, "k", `{"data":{"a":"new"}}`); v != 1 {
		t.Fatalf("recreated key at version %d", v)
	}
	if resp := h.mustDo(t, engines.DeleteOperation, "metadata/none", ""); resp != nil {
		t.Fatalf("delete missing metadata: %+v", resp)
	}
}

func TestMetadataList(t *testing.T) {
	h := mustHarness(t, "2")
	for _, k := range []string{"a", "a/b", "a/c/d", "z"} {
		h.put(t, k, `{"data":{"x":"1"}}`)
	}
	h.mustDo(t, engines.UpdateOperation, "metadata/m", `{"max_versions":2}`)
	h.put(t, "gone", `{"data":{"x":"1"}}`)
	h.mustDo(t, engines.DeleteOperation, "data/gone", "")
	tests := []struct {
		path string
		want string // "" for a nil response
	}{
		{"metadata/", `{"keys":["a","a/","gone","m","z"]}`},
		{"metadata", `{"keys":["a","a/","gone","m","z"]}`},
		{"metadata/a", `{"keys":["b","c/"]}`},
		{"metadata/a/", `{"keys":["b","c/"]}`},
		{"metadata/a/c/", `{"keys":["d"]}`},
		{"metadata/nothing/", ""},
	}
	for _, tt := range tests {
		resp := h.mustDo(t, engines.ListOperation, tt.path, "")
		if tt.want == "" {
			if resp != nil {
				t.Fatalf("list %s: %+v, want nil", tt.path, resp.Data)
			}
			continue
		}
		if resp == nil {
			t.Fatalf("list %s: nil", tt.path)
		}
		jsonEqual(t, resp.Data, tt.want)
	}
	h.mustFail(t, engines.ListOperation, "data/", "", engines.CodeUnsupportedOperation, "")
}
