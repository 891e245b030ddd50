package token

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

// FuzzRecord feeds arbitrary bytes to the record decoder and the
// sealed-field opener: errors are fine, panics are not; what decodes
// re-encodes to the same bytes; and sealed fields other than the stored
// ones never open.
func FuzzRecord(f *testing.F) {
	e := mustEnv(f)
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "meta": map[string]any{"a": "b", "c": "d"}, "ttl": "1h"})
	fd, _ := e.s.findID(e.ctx, id)
	good, _ := e.storage.Get(e.ctx, idPrefix+fd.key)
	orig, err := decodeRecord(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{recordVersion})
	f.Add([]byte{recordVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := decodeRecord(raw)
		if err != nil {
			return
		}
		if again := encodeRecord(r); !bytes.Equal(again, raw) {
			// Only non-canonical varints may differ; the decoded values
			// must survive a round trip.
			r2, err := decodeRecord(again)
			if err != nil || !bytes.Equal(encodeRecord(r2), again) {
				t.Fatalf("round trip: %v", err)
			}
		}
		if err := e.s.open(fd.key, r); err == nil && !bytes.Equal(r.Sealed, orig.Sealed) {
			t.Fatal("forged sealed fields opened")
		}
		_ = r.entry()
	})
}

// FuzzCreateBody decodes arbitrary JSON bodies as the HTTP layer does and
// runs them through create and role writes.
func FuzzCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"policies":["a","b"],"ttl":"1h","meta":{"k":"v"},"num_uses":2}`,
		`{"policies":"a,b","period":3600,"explicit_max_ttl":"2d","renewable":"false"}`,
		`{"id":"x","no_parent":true,"display_name":"n"}`,
		`{"allowed_policies":"a","token_bound_cidrs":["10.0.0.0/8"],"token_type":"service","path_suffix":"v1"}`,
		`{"ttl":-1}`, `{"num_uses":1e30}`, `{"meta":{"a":[1]}}`,
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	s := New(Config{Storage: enginestest.NewStorage()})
	if err := s.Load(ctx); err != nil {
		f.Fatal(err)
	}
	root, err := s.CreateRoot(ctx, "")
	if err != nil {
		f.Fatal(err)
	}
	rootEntry, _ := s.Lookup(ctx, root)
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		for _, path := range []string{"create", "roles/fuzz", "create/fuzz", "renew-self", "lookup"} {
			resp, err := s.HandleRequest(ctx, &engines.Request{
				Operation: engines.UpdateOperation, Path: path, ClientToken: root, Token: rootEntry, Data: data,
			})
			if err != nil {
				if code, _ := engines.CodeOf(err); code == engines.CodeInternal {
					t.Fatalf("%s: internal error for a client mistake: %v", path, err)
				}
				continue
			}
			if path == "create" && resp != nil && resp.Auth != nil {
				if err := s.Revoke(ctx, resp.Auth.ClientToken); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
