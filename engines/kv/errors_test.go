package kv

import (
	"strings"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

func TestVersionedBadRequests(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"a":"1"}}`)
	tests := []struct {
		name string
		op   engines.Operation
		path string
		body string
		code engines.Code
		msg  string
	}{
		{"no data", engines.UpdateOperation, "data/k", `{}`, engines.CodeInvalidRequest, "no data provided"},
		{"data null", engines.UpdateOperation, "data/k", `{"data":null}`, engines.CodeInvalidRequest, "no data provided"},
		{"data a string", engines.UpdateOperation, "data/k", `{"data":"x"}`, engines.CodeInvalidRequest, "no data provided"},
		{"data a list", engines.CreateOperation, "data/k", `{"data":[1]}`, engines.CodeInvalidRequest, "no data provided"},
		{"bad version", engines.ReadOperation, "data/k", `{"version":"abc"}`, engines.CodeInvalidRequest, `field "version"`},
		{"fractional version", engines.ReadOperation, "data/k", `{"version":"1.5"}`, engines.CodeInvalidRequest, `field "version"`},
		{"empty key write", engines.UpdateOperation, "data/", `{"data":{"a":"1"}}`, engines.CodeInvalidRequest, "missing path"},
		{"root data write", engines.UpdateOperation, "data", `{"data":{"a":"1"}}`, engines.CodeInvalidRequest, "missing path"},
		{"empty key read", engines.ReadOperation, "data/", ``, engines.CodeInvalidRequest, "missing path"},
		{"empty key metadata", engines.UpdateOperation, "metadata/", `{"max_versions":1}`, engines.CodeInvalidRequest, "missing path"},
		{"empty key destroy", engines.UpdateOperation, "destroy/", `{"versions":[1]}`, engines.CodeInvalidRequest, "missing path"},
		{"trailing slash", engines.UpdateOperation, "data/dir/", `{"data":{"a":"1"}}`, engines.CodeInvalidRequest, "cannot end with /"},
		{"unknown path", engines.ReadOperation, "secret/k", ``, engines.CodeNotFound, "unsupported path"},
		{"unknown root", engines.ReadOperation, "", ``, engines.CodeNotFound, "unsupported path"},
		{"v1 style path", engines.UpdateOperation, "k", `{"a":"1"}`, engines.CodeNotFound, ""},
		{"subkeys unsupported", engines.ReadOperation, "subkeys/k", ``, engines.CodeNotFound, ""},
		{"config subpath", engines.ReadOperation, "config/x", ``, engines.CodeNotFound, ""},
		{"list data", engines.ListOperation, "data/k", ``, engines.CodeUnsupportedOperation, ""},
		{"read delete endpoint", engines.ReadOperation, "delete/k", ``, engines.CodeUnsupportedOperation, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mustFail(t, tt.op, tt.path, tt.body, tt.code, tt.msg)
		})
	}
	// None of that changed the key.
	if md := h.mustDo(t, engines.ReadOperation, "metadata/k", ""); md.Data["current_version"] != uint64(1) {
		t.Fatalf("bad requests changed the key: %+v", md.Data)
	}
}

func TestVersionedStorageErrors(t *testing.T) {
	ops := []struct {
		op   engines.Operation
		path string
		body string
	}{
		{engines.UpdateOperation, "data/k", `{"data":{"a":"1"}}`},
		{engines.ReadOperation, "data/k", ``},
		{engines.PatchOperation, "data/k", `{"data":{"a":"1"}}`},
		{engines.DeleteOperation, "data/k", ``},
		{engines.ReadOperation, "metadata/k", ``},
		{engines.UpdateOperation, "metadata/k", `{"max_versions":2}`},
		{engines.PatchOperation, "metadata/k", `{"max_versions":2}`},
		{engines.DeleteOperation, "metadata/k", ``},
		{engines.ListOperation, "metadata/", ``},
		{engines.UpdateOperation, "delete/k", `{"versions":[1]}`},
		{engines.UpdateOperation, "undelete/k", `{"versions":[1]}`},
		{engines.UpdateOperation, "destroy/k", `{"versions":[1]}`},
		{engines.ReadOperation, "config", ``},
		{engines.UpdateOperation, "config", `{"max_versions":2}`},
	}
	failed := 0
	for _, failOp := range []enginestest.Op{enginestest.OpGet, enginestest.OpPut, enginestest.OpDelete, enginestest.OpList} {
		for _, o := range ops {
			h := mustHarness(t, "2")
			h.put(t, "k", `{"data":{"a":"1"}}`)
			h.storage.FailOn(failOp, "")
			resp, err := h.do(t, o.op, o.path, body(t, o.body))
			if err == nil {
				continue // this request does not use the failing operation
			}
			failed++
			code, _ := engines.CodeOf(err)
			if code != engines.CodeInternal {
				t.Errorf("%s %s with failing %s: code %d (%v), want internal", o.op, o.path, failOp, code, err)
			}
			if !strings.Contains(err.Error(), "kv: ") || resp != nil {
				t.Errorf("%s %s with failing %s: err %v resp %+v, want wrapped error only", o.op, o.path, failOp, err, resp)
			}
		}
	}
	// Every request reads something; writes also put.
	if failed < len(ops)+9 {
		t.Errorf("only %d requests failed with failing storage", failed)
	}
}

// TestWriteOrder checks that a write interrupted after storing the new
// version's data leaves the key as it was, and that the next write simply
// takes that version number.
func TestWriteOrder(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"a":"1"}}`)
	h.storage.FailOn(enginestest.OpPut, metadataPrefix)
	if _, err := h.do(t, engines.UpdateOperation, "data/k", body(t, `{"data":{"a":"2"}}`)); err == nil {
		t.Fatal("write with failing metadata put: no error")
	}
	h.storage.SetFail(nil)
	resp := h.get(t, "k", nil)
	if dataOf(t, resp)["a"] != "1" || metaOf(t, resp)["version"] != uint64(1) {
		t.Fatalf("interrupted write visible: %+v", resp.Data)
	}
	if v := h.put(t, "k", `{"data":{"a":"3"}}`); v != 2 {
		t.Fatalf("next write: version %d, want 2", v)
	}
	if d := dataOf(t, h.get(t, "k", nil)); d["a"] != "3" {
		t.Fatalf("next write read back %+v", d)
	}
}

// TestPruneFailureWarns checks that a failed cleanup of pruned data still
// acknowledges the write, with a warning.
func TestPruneFailureWarns(t *testing.T) {
	h := mustHarness(t, "2")
	h.mustDo(t, engines.UpdateOperation, "config", `{"max_versions":1}`)
	h.put(t, "k", `{"data":{"a":"1"}}`)
	h.storage.FailOn(enginestest.OpDelete, "")
	resp := h.mustDo(t, engines.UpdateOperation, "data/k", `{"data":{"a":"2"}}`)
	if len(resp.Warnings) != 1 || resp.Data["version"] != uint64(2) {
		t.Fatalf("got %+v, want version 2 with one warning", resp)
	}
	h.storage.SetFail(nil)
	if d := dataOf(t, h.get(t, "k", nil)); d["a"] != "2" {
		t.Fatalf("read %+v", d)
	}
	// Deleting the key clears the leftover.
	h.mustDo(t, engines.DeleteOperation, "metadata/k", "")
	if left := h.storage.KeysWithPrefix(versionsPrefix); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestCorruptRecords(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"a":"1"}}`)
	ctx := t.Context()
	if err := h.storage.Put(ctx, metadataKey("bad"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	_, err := h.do(t, engines.ReadOperation, "data/bad", nil)
	assertCode(t, err, engines.CodeInternal, "")

	if err := h.storage.Put(ctx, versionKey("k", 1), []byte("[]")); err != nil {
		t.Fatal(err)
	}
	_, err = h.do(t, engines.ReadOperation, "data/k", nil)
	assertCode(t, err, engines.CodeInternal, "")

	// Metadata naming a version whose data is gone is an internal error.
	if err := h.storage.Delete(ctx, versionKey("k", 1)); err != nil {
		t.Fatal(err)
	}
	_, err = h.do(t, engines.ReadOperation, "data/k", nil)
	assertCode(t, err, engines.CodeInternal, "")

	if err := h.storage.Put(ctx, configKey, []byte("nope")); err != nil {
		t.Fatal(err)
	}
	_, err = h.do(t, engines.ReadOperation, "config", nil)
	assertCode(t, err, engines.CodeInternal, "")
}
