package kv

import (
	"context"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

func TestFactoryVersions(t *testing.T) {
	tests := []struct {
		version string
		want    string // "v1", "v2" or "error"
	}{
		{"", "v1"}, {"1", "v1"}, {"2", "v2"}, {"3", "error"}, {"two", "error"},
	}
	for _, tt := range tests {
		b, err := Factory(context.Background(), &engines.BackendConfig{
			Options: map[string]string{"version": tt.version},
			Storage: enginestest.NewStorage(),
		})
		var got string
		switch b.(type) {
		case *passthrough:
			got = "v1"
		case *versioned:
			got = "v2"
		default:
			got = "error"
		}
		if got != tt.want {
			t.Errorf("version %q: got %s (err %v), want %s", tt.version, got, err, tt.want)
		}
	}
	if _, err := Factory(context.Background(), &engines.BackendConfig{}); err == nil {
		t.Error("Factory without storage: no error")
	}
}

func TestPassthrough(t *testing.T) {
	type step struct {
		op   engines.Operation
		path string
		body string
		// want is the response data as JSON; "" means a nil response.
		want string
		// code, when non-zero, is the expected error code.
		code engines.Code
		msg  string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"write then read", []step{
			{op: engines.UpdateOperation, path: "app/db", body: `{"user":"u","n":12345678901234567890,"nested":{"a":[1,2]}}`},
			{op: engines.ReadOperation, path: "app/db", want: `{"user":"u","n":12345678901234567890,"nested":{"a":[1,2]}}`},
		}},
		{"overwrite replaces whole object", []step{
			{op: engines.CreateOperation, path: "k", body: `{"a":"1","b":"2"}`},
			{op: engines.UpdateOperation, path: "k", body: `{"c":"3"}`},
			{op: engines.ReadOperation, path: "k", want: `{"c":"3"}`},
		}},
		{"read missing is nil", []step{
			{op: engines.ReadOperation, path: "nope"},
			{op: engines.ReadOperation, path: ""},
		}},
		{"delete", []step{
			{op: engines.UpdateOperation, path: "k", body: `{"a":"1"}`},
			{op: engines.DeleteOperation, path: "k"},
			{op: engines.ReadOperation, path: "k"},
			{op: engines.DeleteOperation, path: "k"},
			{op: engines.DeleteOperation, path: ""},
		}},
		{"list children", []step{
			{op: engines.UpdateOperation, path: "a", body: `{"x":"1"}`},
			{op: engines.UpdateOperation, path: "a/b", body: `{"x":"1"}`},
			{op: engines.UpdateOperation, path: "a/c/d", body: `{"x":"1"}`},
			{op: engines.UpdateOperation, path: "z", body: `{"x":"1"}`},
			{op: engines.ListOperation, path: "", want: `{"keys":["a","a/","z"]}`},
			{op: engines.ListOperation, path: "a", want: `{"keys":["b","c/"]}`},
			{op: engines.ListOperation, path: "a/", want: `{"keys":["b","c/"]}`},
			{op: engines.ListOperation, path: "a/c/", want: `{"keys":["d"]}`},
			{op: engines.ListOperation, path: "b/"},
		}},
		{"bad writes", []step{
			{op: engines.UpdateOperation, path: "", body: `{"a":"1"}`, code: engines.CodeInvalidRequest, msg: "missing path"},
			{op: engines.UpdateOperation, path: "dir/", body: `{"a":"1"}`, code: engines.CodeInvalidRequest},
			{op: engines.UpdateOperation, path: "k", body: `{}`, code: engines.CodeInvalidRequest, msg: "missing data fields"},
			{op: engines.PatchOperation, path: "k", body: `{"a":"1"}`, code: engines.CodeUnsupportedOperation},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHarness(t, "1")
			for i, s := range tt.steps {
				resp, err := h.do(t, s.op, s.path, body(t, s.body))
				if s.code != 0 {
					if err == nil {
						t.Fatalf("step %d: no error, want code %d", i, s.code)
					}
					assertCode(t, err, s.code, s.msg)
					continue
				}
				if err != nil {
					t.Fatalf("step %d (%s %s): %v", i, s.op, s.path, err)
				}
				if s.want == "" {
					if resp != nil {
						t.Fatalf("step %d (%s %s): got %+v, want nil", i, s.op, s.path, resp.Data)
					}
					continue
				}
				if resp == nil {
					t.Fatalf("step %d (%s %s): nil response, want %s", i, s.op, s.path, s.want)
				}
				jsonEqual(t, resp.Data, s.want)
			}
		})
	}
}

func TestPassthroughStorageErrors(t *testing.T) {
	h := mustHarness(t, "1")
	h.storage.FailOn("", "")
	for _, op := range []engines.Operation{engines.ReadOperation, engines.UpdateOperation, engines.DeleteOperation, engines.ListOperation} {
		_, err := h.do(t, op, "k", body(t, `{"a":"1"}`))
		if err == nil {
			t.Fatalf("%s: no error from failing storage", op)
		}
		assertCode(t, err, engines.CodeInternal, "")
	}
}
