package kv

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"coffer/engines"
)

func TestDataPutGetVersions(t *testing.T) {
	h := mustHarness(t, "2")
	resp := h.mustDo(t, engines.UpdateOperation, "data/app/db", `{"data":{"password":"one","port":5432}}`)
	jsonEqual(t, resp.Data, `{"created_time":"2024-05-06T07:08:09.123456789Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`)

	h.clock.Advance(time.Second)
	if v := h.put(t, "app/db", `{"data":{"password":"two"}}`); v != 2 {
		t.Fatalf("second write: version %d, want 2", v)
	}

	tests := []struct {
		name    string
		query   map[string]any
		want    string
		version uint64
	}{
		{"current", nil, `{"password":"two"}`, 2},
		{"version 0 is current", map[string]any{"version": "0"}, `{"password":"two"}`, 2},
		{"negative is current", map[string]any{"version": "-1"}, `{"password":"two"}`, 2},
		{"empty string is current", map[string]any{"version": ""}, `{"password":"two"}`, 2},
		{"version 1 string", map[string]any{"version": "1"}, `{"password":"one","port":5432}`, 1},
		{"version 1 number", map[string]any{"version": 1.0}, `{"password":"one","port":5432}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.get(t, "app/db", tt.query)
			if resp == nil || resp.StatusCode != 0 {
				t.Fatalf("got %+v", resp)
			}
			jsonEqual(t, dataOf(t, resp), tt.want)
			if got := metaOf(t, resp)["version"]; got != tt.version {
				t.Fatalf("metadata version %v, want %d", got, tt.version)
			}
		})
	}

	v1 := h.get(t, "app/db", map[string]any{"version": "1"})
	jsonEqual(t, metaOf(t, v1), `{"created_time":"2024-05-06T07:08:09.123456789Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`)

	for _, q := range []map[string]any{nil, {"version": "3"}} {
		if resp := h.get(t, "nope", q); resp != nil {
			t.Fatalf("never-written key: got %+v", resp)
		}
	}
	if resp := h.get(t, "app/db", map[string]any{"version": "3"}); resp != nil {
		t.Fatalf("missing version: got %+v", resp)
	}
}

func TestDataEmptyObjectAllowed(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{}}`)
	jsonEqual(t, dataOf(t, h.get(t, "k", nil)), `{}`)
}

func TestCAS(t *testing.T) {
	tests := []struct {
		name   string
		config string // written to config first, if set
		meta   string // written to metadata/k first, if set
		writes []string
		// errAt is the index of the write that must fail, -1 for none.
		errAt int
		msg   string
	}{
		{"cas 0 creates", "", "", []string{`{"data":{"a":1},"options":{"cas":0}}`}, -1, ""},
		{"cas 0 on existing", "", "", []string{`{"data":{"a":1}}`, `{"data":{"a":2},"options":{"cas":0}}`}, 1, "did not match the current version"},
		{"cas matches", "", "", []string{`{"data":{"a":1}}`, `{"data":{"a":2},"options":{"cas":1}}`, `{"data":{"a":3},"options":{"cas":"2"}}`}, -1, ""},
		{"cas stale", "", "", []string{`{"data":{"a":1}}`, `{"data":{"a":2}}`, `{"data":{"a":3},"options":{"cas":1}}`}, 2, "did not match the current version"},
		{"cas ahead", "", "", []string{`{"data":{"a":1},"options":{"cas":5}}`}, 0, "did not match the current version"},
		{"cas negative", "", "", []string{`{"data":{"a":1},"options":{"cas":-1}}`}, 0, "did not match the current version"},
		{"cas not a number", "", "", []string{`{"data":{"a":1},"options":{"cas":"x"}}`}, 0, "error parsing check-and-set parameter"},
		{"options not an object", "", "", []string{`{"data":{"a":1},"options":"x"}`}, 0, "options"},
		{"required by config", `{"cas_required":true}`, "", []string{`{"data":{"a":1}}`}, 0, "check-and-set parameter required for this call"},
		{"required by config, given", `{"cas_required":true}`, "", []string{`{"data":{"a":1},"options":{"cas":0}}`}, -1, ""},
		{"required by metadata", "", `{"cas_required":true}`, []string{`{"data":{"a":1},"options":{"cas":0}}`, `{"data":{"a":1}}`}, 1, "check-and-set parameter required for this call"},
		{"empty options", `{"cas_required":true}`, "", []string{`{"data":{"a":1},"options":{}}`}, 0, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHarness(t, "2")
			if tt.config != "" {
				h.mustDo(t, engines.UpdateOperation, "config", tt.config)
			}
			if tt.meta != "" {
				h.mustDo(t, engines.UpdateOperation, "metadata/k", tt.meta)
			}
			for i, w := range tt.writes {
				if i == tt.errAt {
					h.mustFail(t, engines.UpdateOperation, "data/k", w, engines.CodeInvalidRequest, tt.msg)
					continue
				}
				h.mustDo(t, engines.UpdateOperation, "data/k", w)
			}
		})
	}
}

func TestMaxVersionsPruning(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		meta       string
		writes     int
		wantOldest uint64
		wantKept   []uint64
	}{
		{"default keeps 10", "", "", 12, 3, seq(3, 12)},
		{"below default", "", "", 9, 0, seq(1, 9)},
		{"exactly default", "", "", 10, 1, seq(1, 10)},
		{"mount max 3", `{"max_versions":3}`, "", 5, 3, seq(3, 5)},
		{"key max 2", "", `{"max_versions":2}`, 5, 4, seq(4, 5)},
		{"larger of key and mount", `{"max_versions":4}`, `{"max_versions":2}`, 6, 3, seq(3, 6)},
		{"max 1", `{"max_versions":1}`, "", 3, 3, seq(3, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHarness(t, "2")
			if tt.config != "" {
				h.mustDo(t, engines.UpdateOperation, "config", tt.config)
			}
			if tt.meta != "" {
				h.mustDo(t, engines.UpdateOperation, "metadata/k", tt.meta)
			}
			for i := 1; i <= tt.writes; i++ {
				h.put(t, "k", fmt.Sprintf(`{"data":{"i":%d}}`, i))
			}
			md := h.mustDo(t, engines.ReadOperation, "metadata/k", "")
			if got := md.Data["oldest_version"]; got != tt.wantOldest {
				t.Errorf("oldest_version %v, want %d", got, tt.wantOldest)
			}
			versions := md.Data["versions"].(map[string]any)
			if len(versions) != len(tt.wantKept) {
				t.Errorf("versions %v, want %v", versions, tt.wantKept)
			}
			for _, v := range tt.wantKept {
				if _, ok := versions[fmt.Sprint(v)]; !ok {
					t.Errorf("version %d missing from metadata", v)
				}
				if resp := h.get(t, "k", map[string]any{"version": fmt.Sprint(v)}); resp == nil || resp.StatusCode != 0 {
					t.Errorf("version %d unreadable: %+v", v, resp)
				}
			}
			blobs := h.storage.KeysWithPrefix(versionDir("k"))
			if len(blobs) != len(tt.wantKept) {
				t.Errorf("stored version blobs %v, want %d", blobs, len(tt.wantKept))
			}
			if resp := h.get(t, "k", map[string]any{"version": "1"}); tt.wantKept[0] > 1 && resp != nil {
				t.Errorf("pruned version 1 still readable: %+v", resp)
			}
		})
	}
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestSoftDeleteReadsAs404WithMetadata(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"a":"1"}}`)
	h.put(t, "k", `{"data":{"a":"2"}}`)
	h.clock.Advance(time.Minute)
	if resp := h.mustDo(t, engines.DeleteOperation, "data/k", ""); resp != nil {
		t.Fatalf("delete: got %+v, want nil (204)", resp)
	}
	resp := h.get(t, "k", nil)
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("read deleted: got %+v, want 404 response", resp)
	}
	if resp.Data["data"] != nil {
		t.Fatalf("deleted data leaked: %+v", resp.Data["data"])
	}
	jsonEqual(t, metaOf(t, resp), `{"created_time":"2024-05-06T07:08:09.123456789Z","custom_metadata":null,"deletion_time":"2024-05-06T07:09:09.123456789Z","destroyed":false,"version":2}`)

	// The older version is untouched, and deleting again changes nothing.
	if d := dataOf(t, h.get(t, "k", map[string]any{"version": "1"})); d["a"] != "1" {
		t.Fatalf("version 1: %+v", d)
	}
	h.clock.Advance(time.Minute)
	h.mustDo(t, engines.DeleteOperation, "data/k", "")
	if got := metaOf(t, h.get(t, "k", nil))["deletion_time"]; got != "2024-05-06T07:09:09.123456789Z" {
		t.Fatalf("second delete moved deletion_time to %v", got)
	}
	// A new write makes a live current version again.
	if v := h.put(t, "k", `{"data":{"a":"3"}}`); v != 3 {
		t.Fatalf("write after delete: version %d", v)
	}
	// Deleting a key that never existed is a no-op.
	if resp := h.mustDo(t, engines.DeleteOperation, "data/none", ""); resp != nil {
		t.Fatalf("delete missing: %+v", resp)
	}
}

func TestPatch(t *testing.T) {
	tests := []struct {
		name  string
		start string
		patch string
		want  string
	}{
		{"add and replace", `{"a":"1","b":"2"}`, `{"data":{"b":"3","c":"4"}}`, `{"a":"1","b":"3","c":"4"}`},
		{"null removes", `{"a":"1","b":"2"}`, `{"data":{"a":null}}`, `{"b":"2"}`},
		{"nested merge", `{"o":{"x":1,"y":2}}`, `{"data":{"o":{"y":null,"z":3}}}`, `{"o":{"x":1,"z":3}}`},
		{"arrays replace", `{"l":[1,2,3]}`, `{"data":{"l":[4]}}`, `{"l":[4]}`},
		{"object replaces scalar", `{"s":"x"}`, `{"data":{"s":{"k":null,"v":1}}}`, `{"s":{"v":1}}`},
		{"empty patch copies", `{"a":"1"}`, `{"data":{}}`, `{"a":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHarness(t, "2")
			h.put(t, "k", `{"data":`+tt.start+`}`)
			resp := h.mustDo(t, engines.PatchOperation, "data/k", tt.patch)
			if resp.Data["version"] != uint64(2) {
				t.Fatalf("patch response %+v, want version 2", resp.Data)
			}
			jsonEqual(t, dataOf(t, h.get(t, "k", nil)), tt.want)
			jsonEqual(t, dataOf(t, h.get(t, "k", map[string]any{"version": "1"})), tt.start)
		})
	}
}

func TestPatchErrors(t *testing.T) {
	h := mustHarness(t, "2")
	// No key: 404 response (not an error) like Vault.
	resp := h.mustDo(t, engines.PatchOperation, "data/none", `{"data":{"a":"1"}}`)
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("patch missing key: %+v", resp)
	}
	// Metadata but no versions.
	h.mustDo(t, engines.UpdateOperation, "metadata/empty", `{"max_versions":3}`)
	resp = h.mustDo(t, engines.PatchOperation, "data/empty", `{"data":{"a":"1"}}`)
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("patch key without versions: %+v", resp)
	}
	// Deleted current version: 404 carrying the version's metadata.
	h.put(t, "k", `{"data":{"a":"1"}}`)
	h.mustDo(t, engines.DeleteOperation, "data/k", "")
	resp = h.mustDo(t, engines.PatchOperation, "data/k", `{"data":{"a":"2"}}`)
	if resp == nil || resp.StatusCode != http.StatusNotFound || resp.Data["version"] != uint64(1) {
		t.Fatalf("patch deleted: %+v", resp)
	}
	// CAS is honoured.
	h.put(t, "c", `{"data":{"a":"1"}}`)
	h.mustFail(t, engines.PatchOperation, "data/c", `{"data":{"a":"2"},"options":{"cas":0}}`, engines.CodeInvalidRequest, "did not match")
	h.mustDo(t, engines.PatchOperation, "data/c", `{"data":{"a":"2"},"options":{"cas":1}}`)
	h.mustDo(t, engines.UpdateOperation, "metadata/c", `{"cas_required":true}`)
	h.mustFail(t, engines.PatchOperation, "data/c", `{"data":{"a":"3"}}`, engines.CodeInvalidRequest, "required")
	// Bad bodies.
	h.mustFail(t, engines.PatchOperation, "data/c", `{}`, engines.CodeInvalidRequest, "no data provided")
	h.mustFail(t, engines.PatchOperation, "data/c", `{"data":"x"}`, engines.CodeInvalidRequest, "no data provided")
}

func TestDeleteVersionAfter(t *testing.T) {
	h := mustHarness(t, "2")
	h.mustDo(t, engines.UpdateOperation, "config", `{"delete_version_after":"1h"}`)
	resp := h.mustDo(t, engines.UpdateOperation, "data/k", `{"data":{"a":"1"}}`)
	if got := resp.Data["deletion_time"]; got != "2024-05-06T08:08:09.123456789Z" {
		t.Fatalf("deletion_time %v, want created + 1h", got)
	}
	h.clock.Advance(59 * time.Minute)
	if r := h.get(t, "k", nil); r == nil || r.StatusCode != 0 {
		t.Fatalf("before deletion time: %+v", r)
	}
	h.clock.Advance(time.Minute)
	if r := h.get(t, "k", nil); r == nil || r.StatusCode != http.StatusNotFound || r.Data["data"] != nil {
		t.Fatalf("at deletion time: %+v, want 404", r)
	}

	// The smaller non-zero of key and mount applies.
	h.mustDo(t, engines.UpdateOperation, "metadata/short", `{"delete_version_after":"10m"}`)
	resp = h.mustDo(t, engines.UpdateOperation, "data/short", `{"data":{"a":"1"}}`)
	want := formatTime(h.clock.Now().Add(10 * time.Minute))
	if got := resp.Data["deletion_time"]; got != want {
		t.Fatalf("key dva 10m: deletion_time %v, want %v", got, want)
	}
	h.mustDo(t, engines.UpdateOperation, "metadata/long", `{"delete_version_after":7200}`)
	resp = h.mustDo(t, engines.UpdateOperation, "data/long", `{"data":{"a":"1"}}`)
	want = formatTime(h.clock.Now().Add(time.Hour))
	if got := resp.Data["deletion_time"]; got != want {
		t.Fatalf("key dva 2h under mount 1h: deletion_time %v, want %v", got, want)
	}

	// Undelete restarts the clock.
	h.mustDo(t, engines.UpdateOperation, "undelete/k", `{"versions":[1]}`)
	r := h.get(t, "k", nil)
	if r == nil || r.StatusCode != 0 {
		t.Fatalf("after undelete: %+v", r)
	}
	if got, want := metaOf(t, r)["deletion_time"], formatTime(h.clock.Now().Add(time.Hour)); got != want {
		t.Fatalf("undelete deletion_time %v, want %v", got, want)
	}

	// A negative mount setting disables automatic deletion everywhere.
	h.mustDo(t, engines.UpdateOperation, "config", `{"delete_version_after":-1}`)
	jsonEqual(t, h.mustDo(t, engines.ReadOperation, "config", "").Data, `{"cas_required":false,"delete_version_after":"-1s","max_versions":0}`)
	resp = h.mustDo(t, engines.UpdateOperation, "data/short", `{"data":{"a":"2"}}`)
	if got := resp.Data["deletion_time"]; got != "" {
		t.Fatalf("disabled: deletion_time %v", got)
	}
	// Zero clears it.
	h.mustDo(t, engines.UpdateOperation, "config", `{"delete_version_after":"0s"}`)
	jsonEqual(t, h.mustDo(t, engines.ReadOperation, "config", "").Data, `{"cas_required":false,"delete_version_after":"0s","max_versions":0}`)
}

func TestConfig(t *testing.T) {
	h := mustHarness(t, "2")
	jsonEqual(t, h.mustDo(t, engines.ReadOperation, "config", "").Data, `{"cas_required":false,"delete_version_after":"0s","max_versions":0}`)
	tests := []struct {
		body string
		want string
	}{
		{`{"max_versions":5}`, `{"cas_required":false,"delete_version_after":"0s","max_versions":5}`},
		{`{"cas_required":"true"}`, `{"cas_required":true,"delete_version_after":"0s","max_versions":5}`},
		{`{"delete_version_after":3600}`, `{"cas_required":true,"delete_version_after":"1h0m0s","max_versions":5}`},
		{`{"delete_version_after":"90m","cas_required":false}`, `{"cas_required":false,"delete_version_after":"1h30m0s","max_versions":5}`},
		{`{"delete_version_after":"2d"}`, `{"cas_required":false,"delete_version_after":"48h0m0s","max_versions":5}`},
		{`{}`, `{"cas_required":false,"delete_version_after":"48h0m0s","max_versions":5}`},
	}
	for _, tt := range tests {
		h.mustDo(t, engines.UpdateOperation, "config", tt.body)
		jsonEqual(t, h.mustDo(t, engines.ReadOperation, "config", "").Data, tt.want)
	}
	for _, bad := range []string{`{"max_versions":-1}`, `{"max_versions":"x"}`, `{"cas_required":"maybe"}`, `{"delete_version_after":"soon"}`} {
		h.mustFail(t, engines.UpdateOperation, "config", bad, engines.CodeInvalidRequest, "error converting input")
	}
	for _, op := range []engines.Operation{engines.DeleteOperation, engines.ListOperation, engines.PatchOperation} {
		h.mustFail(t, op, "config", "", engines.CodeUnsupportedOperation, "")
	}
}
