package approle_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"coffer/engines"
)

// FuzzRoleWrite feeds arbitrary JSON bodies to a role write. A write either
// fails with a 400 or stores a role whose read-back, written again, reads
// back the same.
func FuzzRoleWrite(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"token_policies":"a,b","token_ttl":"1h","token_max_ttl":7200}`,
		`{"bind_secret_id":false,"secret_id_bound_cidrs":["10.0.0.0/8"]}`,
		`{"policies":["X"],"period":"5m","token_bound_cidrs":"::1"}`,
		`{"secret_id_ttl":"2d","secret_id_num_uses":"3","token_type":"default-service"}`,
		`{"token_ttl":1e3,"token_num_uses":1.5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var data map[string]any
		if d.Decode(&data) != nil || data == nil {
			return
		}
		h := mustHarness(t)
		if _, err := h.do(engines.UpdateOperation, "role/r", clientAddr, data); err != nil {
			if code, _ := engines.CodeOf(err); code != engines.CodeInvalidRequest {
				t.Fatalf("write %s: non-400 error %v", raw, err)
			}
			return
		}
		first := h.mustDo(t, engines.ReadOperation, "role/r", "")
		again := body(t, string(mustMarshal(t, first.Data)))
		delete(again, "local_secret_ids")
		if _, err := h.do(engines.UpdateOperation, "role/r", clientAddr, again); err != nil {
			t.Fatalf("rewrite of %s: %v", mustMarshal(t, again), err)
		}
		second := h.mustDo(t, engines.ReadOperation, "role/r", "")
		if !bytes.Equal(mustMarshal(t, first.Data), mustMarshal(t, second.Data)) {
			t.Fatalf("read-back changed on rewrite:\n%s\n%s", mustMarshal(t, first.Data), mustMarshal(t, second.Data))
		}
	})
}
