package token

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"coffer/engines"
)

func TestLookupEndpoints(t *testing.T) {
	e := mustEnv(t)
	id, acc := e.mustCreate(e.root, "create", map[string]any{
		"policies": []any{"a"}, "ttl": "1h", "meta": map[string]any{"k": "v"}, "num_uses": 0,
	})
	created := e.clock.Now()
	e.clock.Advance(10 * time.Minute)

	check := func(name string, d map[string]any, wantID string) {
		t.Helper()
		want := map[string]any{
			"id": wantID, "accessor": acc, "path": "auth/token/create", "display_name": "token", "num_uses": 0,
			"orphan": false, "creation_time": created.Unix(), "creation_ttl": int64(3600), "ttl": int64(3000),
			"explicit_max_ttl": int64(0), "entity_id": "", "type": "service", "renewable": true,
		}
		for k, v := range want {
			if d[k] != v {
				t.Errorf("%s: %s = %#v, want %#v", name, k, d[k], v)
			}
		}
		if !slices.Equal(d["policies"].([]string), []string{"a", "default"}) || d["meta"].(map[string]string)["k"] != "v" {
			t.Errorf("%s: policies %v meta %v", name, d["policies"], d["meta"])
		}
		if exp, ok := d["expire_time"].(time.Time); !ok || !exp.Equal(created.Add(time.Hour)) {
			t.Errorf("%s: expire_time %v", name, d["expire_time"])
		}
		if it, ok := d["issue_time"].(time.Time); !ok || !it.Equal(created) {
			t.Errorf("%s: issue_time %v", name, d["issue_time"])
		}
	}
	check("lookup", e.mustDo(engines.UpdateOperation, "lookup", e.root, map[string]any{"token": id}).Data, id)
	check("lookup-self", e.mustDo(engines.ReadOperation, "lookup-self", id, nil).Data, id)
	check("lookup without token", e.mustDo(engines.ReadOperation, "lookup", id, nil).Data, id)
	check("lookup-accessor", e.mustDo(engines.UpdateOperation, "lookup-accessor", e.root, map[string]any{"accessor": acc}).Data, "")

	rootData := e.mustDo(engines.ReadOperation, "lookup-self", e.root, nil).Data
	if rootData["expire_time"] != nil || rootData["ttl"] != int64(0) || rootData["renewable"] != false || rootData["orphan"] != true {
		t.Fatalf("root lookup: %v", rootData)
	}

	_, err := e.do(engines.UpdateOperation, "lookup", e.root, map[string]any{"token": "hvs.madeup"})
	wantCode(t, err, engines.CodePermissionDenied, "bad token")
	_, err = e.do(engines.UpdateOperation, "lookup-accessor", e.root, map[string]any{"accessor": "madeup"})
	wantCode(t, err, engines.CodeInvalidRequest, "invalid accessor")
	_, err = e.do(engines.UpdateOperation, "lookup-accessor", e.root, nil)
	wantCode(t, err, engines.CodeInvalidRequest, "missing accessor")
	te, err := e.s.LookupAccessor(e.ctx, acc)
	if err != nil || te == nil || te.Accessor != acc {
		t.Fatalf("LookupAccessor: %+v %v", te, err)
	}
	_, err = e.do(engines.ReadOperation, "nope", e.root, nil)
	wantCode(t, err, engines.CodeNotFound, "")
}

// TestExpiredWithoutTidy: expiry is checked on every lookup, not left to
// cleanup.
func TestExpiredWithoutTidy(t *testing.T) {
	e := mustEnv(t)
	id, acc := e.mustCreate(e.root, "create", map[string]any{"policies": "a", "ttl": "2s"})
	e.clock.Advance(1999 * time.Millisecond)
	if !e.live(id) {
		t.Fatal("token dead before its TTL")
	}
	e.clock.Advance(time.Millisecond)
	if e.live(id) {
		t.Fatal("expired token accepted")
	}
	if te, _ := e.s.LookupAccessor(e.ctx, acc); te != nil {
		t.Fatal("expired token found by accessor")
	}
	_, err := e.do(engines.UpdateOperation, "lookup", e.root, map[string]any{"token": id})
	wantCode(t, err, engines.CodePermissionDenied, "bad token")
	_, err = e.do(engines.UpdateOperation, "renew", e.root, map[string]any{"token": id})
	wantCode(t, err, engines.CodeInvalidRequest, "token not found")
}

// TestVaultClientParses feeds create and lookup answers, in the JSON the
// HTTP layer writes, to the stock Vault client's helpers.
func TestVaultClientParses(t *testing.T) {
	e := mustEnv(t)
	create := e.mustDo(engines.UpdateOperation, "create", e.root, map[string]any{"policies": []any{"a"}, "ttl": "1h"})
	a := create.Auth
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"client_token": a.ClientToken, "accessor": a.Accessor, "policies": a.Policies, "token_policies": a.TokenPolicies,
		"metadata": a.Metadata, "lease_duration": int64(a.LeaseDuration / time.Second), "renewable": a.Renewable,
		"entity_id": a.EntityID, "token_type": a.TokenType, "orphan": a.Orphan,
	}})
	sec, err := vault.ParseSecret(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse create: %v", err)
	}
	if id, _ := sec.TokenID(); id != a.ClientToken {
		t.Fatalf("TokenID: %q", id)
	}
	if ttl, _ := sec.TokenTTL(); ttl != time.Hour {
		t.Fatalf("TokenTTL: %v", ttl)
	}

	look := e.mustDo(engines.UpdateOperation, "lookup", e.root, map[string]any{"token": a.ClientToken})
	body, _ = json.Marshal(map[string]any{"data": look.Data})
	sec, err = vault.ParseSecret(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse lookup: %v", err)
	}
	id, _ := sec.TokenID()
	acc, _ := sec.TokenAccessor()
	ttl, _ := sec.TokenTTL()
	pols, _ := sec.TokenPolicies()
	ren, _ := sec.TokenIsRenewable()
	uses, _ := sec.TokenRemainingUses()
	if id != a.ClientToken || acc != a.Accessor || ttl != time.Hour || !slices.Equal(pols, []string{"a", "default"}) || !ren || uses != 0 {
		t.Fatalf("client view: %q %q %v %v %v %d", id, acc, ttl, pols, ren, uses)
	}
}
