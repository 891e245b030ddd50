package http

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"coffer/engines"
)

// The hand-written envelope encoder writes what encoding/json wrote.
func TestWriteJSONMatchesEncodingJSON(t *testing.T) {
	cases := []any{
		newEnvelope("req-1", "kv", &engines.Response{Data: map[string]any{
			"data":     map[string]any{"password": "<s3cr&t>", "n": json.Number("12"), "list": []any{"a", 1.5, nil}},
			"metadata": map[string]any{"version": uint64(3), "created_time": "2026-11-26T05:00:00Z", "custom_metadata": map[string]string(nil)},
		}}),
		newEnvelope("req-2", "", &engines.Response{Warnings: []string{"careful <here>"}}),
		newEnvelope("req-3", "token", &engines.Response{
			Auth: &engines.Auth{ClientToken: "hvs.x", Accessor: "acc", Policies: []string{"default"},
				Metadata: map[string]string{"b": "2", "a": "1"}, LeaseDuration: 90 * time.Second, Renewable: true, NumUses: 3},
		}),
		newEnvelope("req-4", "database", &engines.Response{
			Secret: &engines.Secret{LeaseID: "database/creds/r/abc", LeaseDuration: time.Hour, Renewable: true},
			Data:   map[string]any{"username": "v-x", "password": "p", "when": time.Unix(5, 0).UTC()},
		}),
		map[string][]string{"errors": {"permission denied"}},
		map[string]any{"sealed": false, "t": 2, "progress": 0},
	}
	for i, v := range cases {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(v); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		rec := httptest.NewRecorder()
		writeJSON(rec, 200, v)
		if got := rec.Body.Bytes(); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
		if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Content-Length") == "" {
			t.Fatalf("case %d: headers %v", i, rec.Header())
		}
	}
}

// A value JSON cannot hold is a 500 with Vault's error shape, not a
// truncated 200.
func TestWriteJSONUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, newEnvelope("r", "kv", &engines.Response{Data: map[string]any{"x": func() {}}}))
	if rec.Code != 500 || !bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		t.Fatalf("got %d %s", rec.Code, rec.Body.Bytes())
	}
}
