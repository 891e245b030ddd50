package kv

import (
	"net/http"
	"testing"

	"coffer/engines"
)

// versionState reads version n of k and reports "live", "deleted",
// "destroyed" or "absent".
func (h *harness) versionState(tb testing.TB, key, n string) string {
	tb.Helper()
	resp := h.get(tb, key, map[string]any{"version": n})
	switch {
	case resp == nil:
		return "absent"
	case resp.StatusCode == 0:
		return "live"
	case resp.StatusCode != http.StatusNotFound:
		tb.Fatalf("version %s: status %d", n, resp.StatusCode)
	case metaOf(tb, resp)["destroyed"] == true:
		return "destroyed"
	}
	return "deleted"
}

func TestDeleteUndeleteDestroy(t *testing.T) {
	type step struct {
		op, body string
		// want is the state of versions 1, 2, 3 afterwards.
		want [3]string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"delete some", []step{
			{"delete", `{"versions":[1,3]}`, [3]string{"deleted", "live", "deleted"}},
		}},
		{"delete as strings and comma list", []step{
			{"delete", `{"versions":["1","2"]}`, [3]string{"deleted", "deleted", "live"}},
			{"undelete", `{"versions":"1,2"}`, [3]string{"live", "live", "live"}},
			{"delete", `{"versions":3}`, [3]string{"live", "live", "deleted"}},
		}},
		{"undelete", []step{
			{"delete", `{"versions":[1,2,3]}`, [3]string{"deleted", "deleted", "deleted"}},
			{"undelete", `{"versions":[2]}`, [3]string{"deleted", "live", "deleted"}},
		}},
		{"destroy is permanent", []step{
			{"destroy", `{"versions":[2]}`, [3]string{"live", "destroyed", "live"}},
			{"undelete", `{"versions":[2]}`, [3]string{"live", "destroyed", "live"}},
			{"delete", `{"versions":[2]}`, [3]string{"live", "destroyed", "live"}},
			{"destroy", `{"versions":[2]}`, [3]string{"live", "destroyed", "live"}},
		}},
		{"destroy a deleted version", []step{
			{"delete", `{"versions":[1]}`, [3]string{"deleted", "live", "live"}},
			{"destroy", `{"versions":[1]}`, [3]string{"destroyed", "live", "live"}},
		}},
		{"unknown versions ignored", []step{
			{"delete", `{"versions":[7,-1]}`, [3]string{"live", "live", "live"}},
			{"destroy", `{"versions":[0,9]}`, [3]string{"live", "live", "live"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHarness(t, "2")
			for i := 0; i < 3; i++ {
				h.put(t, "k", `{"data":{"a":"x"}}`)
			}
			for _, s := range tt.steps {
				if resp := h.mustDo(t, engines.UpdateOperation, s.op+"/k", s.body); resp != nil {
					t.Fatalf("%s: got %+v, want nil (204)", s.op, resp)
				}
				for i, want := range s.want {
					if got := h.versionState(t, "k", string(rune('1'+i))); got != want {
						t.Fatalf("after %s %s: version %d is %s, want %s", s.op, s.body, i+1, got, want)
					}
				}
			}
		})
	}
}

func TestDestroyRemovesData(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"secret":"s1"}}`)
	h.put(t, "k", `{"data":{"secret":"s2"}}`)
	h.mustDo(t, engines.UpdateOperation, "destroy/k", `{"versions":[1]}`)
	if raw, _ := h.storage.Get(t.Context(), versionKey("k", 1)); raw != nil {
		t.Fatal("destroyed version's data still stored")
	}
	md := h.mustDo(t, engines.ReadOperation, "metadata/k", "")
	v1 := md.Data["versions"].(map[string]any)["1"].(map[string]any)
	if v1["destroyed"] != true {
		t.Fatalf("metadata version 1: %+v", v1)
	}
}

func TestVersionEndpointsBadInput(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"a":"x"}}`)
	tests := []struct {
		op, body, msg string
	}{
		{"delete", `{}`, "No version number provided"},
		{"delete", `{"versions":[]}`, "No version number provided"},
		{"undelete", `{}`, "No version number provided"},
		{"destroy", `{}`, "no version number provided"},
		{"destroy", `{"versions":""}`, "no version number provided"},
		{"delete", `{"versions":["one"]}`, `field "versions"`},
		{"destroy", `{"versions":[{"a":1}]}`, `field "versions"`},
		{"undelete", `{"versions":[1.5]}`, `field "versions"`},
	}
	for _, tt := range tests {
		h.mustFail(t, engines.UpdateOperation, tt.op+"/k", tt.body, engines.CodeInvalidRequest, tt.msg)
	}
	// On a missing key they succeed and do nothing.
	for _, op := range []string{"delete", "undelete", "destroy"} {
		if resp := h.mustDo(t, engines.UpdateOperation, op+"/none", `{"versions":[1]}`); resp != nil {
			t.Fatalf("%s on missing key: %+v", op, resp)
		}
		for _, verb := range []engines.Operation{engines.ReadOperation, engines.DeleteOperation, engines.ListOperation, engines.PatchOperation} {
			h.mustFail(t, verb, op+"/k", "", engines.CodeUnsupportedOperation, "")
		}
	}
	if h.storage.KeysWithPrefix(metadataKey("none")) != nil {
		t.Fatal("version endpoints created metadata for a missing key")
	}
}
