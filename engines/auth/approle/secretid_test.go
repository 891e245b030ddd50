package approle_test

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"coffer/engines"
)

func TestSecretIDGenerateAndLookup(t *testing.T) {
	h := mustHarness(t)
	h.mustRole(t, "r", `{"secret_id_num_uses":5,"secret_id_ttl":"1h","secret_id_bound_cidrs":"10.0.0.0/8","token_bound_cidrs":"10.0.0.0/8"}`)
	cases := []struct {
		name, opts string
		uses       int
		ttl        int64
	}{
		{"role defaults", `{}`, 5, 3600},
		{"narrower", `{"num_uses":2,"ttl":"10m","metadata":"{\"app\":\"web\",\"env\":\"prod\"}","cidr_list":"10.1.0.0/16","token_bound_cidrs":["10.1.2.0/24"]}`, 2, 600},
		{"metadata object", `{"metadata":{"app":"web"}}`, 5, 3600},
		{"metadata pairs", `{"metadata":"app=web,env=dev"}`, 5, 3600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.mustDo(t, engines.UpdateOperation, "role/r/secret-id", tc.opts)
			secret := resp.Data["secret_id"].(string)
			accessor := resp.Data["secret_id_accessor"].(string)
			if resp.Data["secret_id_num_uses"] != tc.uses || resp.Data["secret_id_ttl"] != tc.ttl || len(secret) != 36 || len(accessor) != 36 {
				t.Fatalf("generate: %+v", resp.Data)
			}
			look := h.mustDo(t, engines.UpdateOperation, "role/r/secret-id/lookup", `{"secret_id":"`+secret+`"}`)
			if look.Data["secret_id_accessor"] != accessor || look.Data["secret_id_num_uses"] != tc.uses || look.Data["secret_id_ttl"] != tc.ttl {
				t.Fatalf("lookup: %+v", look.Data)
			}
			if ct := look.Data["creation_time"].(time.Time); !ct.Equal(epoch) {
				t.Fatalf("creation_time %v", ct)
			}
			if et := look.Data["expiration_time"].(time.Time); !et.Equal(epoch.Add(time.Duration(tc.ttl) * time.Second)) {
				t.Fatalf("expiration_time %v", et)
			}
			byAccessor := h.mustDo(t, engines.UpdateOperation, "role/r/secret-id-accessor/lookup", `{"secret_id_accessor":"`+accessor+`"}`)
			jsonEqual(t, byAccessor.Data, mustJSON(t, look.Data))
		})
	}
	look := h.mustDo(t, engines.ListOperation, "role/r/secret-id", "")
	if n := len(look.Data["keys"].([]string)); n != len(cases) {
		t.Fatalf("listed %d accessors, want %d", n, len(cases))
	}
}

func TestSecretIDRejects(t *testing.T) {
	h := mustHarness(t)
	h.mustRole(t, "r", `{"secret_id_num_uses":3,"secret_id_ttl":600,"secret_id_bound_cidrs":"10.0.0.0/8","token_bound_cidrs":"10.0.0.0/8"}`)
	h.mustRole(t, "open", `{"bind_secret_id":false,"secret_id_bound_cidrs":"10.0.0.0/8"}`)
	cases := []struct {
		path, opts string
		code       engines.Code
		msg        string
	}{
		{"role/r/secret-id", `{"num_uses":4}`, engines.CodeInvalidRequest, "num_uses cannot be higher"},
		{"role/r/secret-id", `{"num_uses":0}`, engines.CodeInvalidRequest, "num_uses cannot be higher"},
		{"role/r/secret-id", `{"num_uses":-1}`, engines.CodeInvalidRequest, "negative"},
		{"role/r/secret-id", `{"ttl":601}`, engines.CodeInvalidRequest, "ttl cannot be longer"},
		{"role/r/secret-id", `{"cidr_list":"192.168.0.0/16"}`, engines.CodeInvalidRequest, "subset"},
		{"role/r/secret-id", `{"token_bound_cidrs":"11.0.0.0/8"}`, engines.CodeInvalidRequest, "subset"},
		{"role/r/secret-id", `{"cidr_list":"bogus"}`, engines.CodeInvalidRequest, "invalid cidr_list"},
		{"role/r/secret-id", `{"metadata":"[1,2]"}`, engines.CodeInvalidRequest, `"metadata"`},
		{"role/open/secret-id", `{}`, engines.CodeInvalidRequest, "bind_secret_id is not set"},
		{"role/ghost/secret-id", `{}`, engines.CodeNotFound, `role "ghost" does not exist`},
		{"role/r/custom-secret-id", `{}`, engines.CodeInvalidRequest, "missing secret_id"},
		{"role/r/secret-id/lookup", `{}`, engines.CodeInvalidRequest, "missing secret_id"},
		{"role/r/secret-id-accessor/lookup", `{}`, engines.CodeInvalidRequest, "missing secret_id_accessor"},
		{"role/r/secret-id-accessor/lookup", `{"secret_id_accessor":"nope"}`, engines.CodeNotFound, "failed to find accessor"},
		{"role/r/secret-id-accessor/destroy", `{"secret_id_accessor":"nope"}`, engines.CodeNotFound, "failed to find accessor"},
		{"role/ghost/secret-id/lookup", `{"secret_id":"x"}`, engines.CodeNotFound, "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.path+tc.opts, func(t *testing.T) {
			h.mustFail(t, engines.UpdateOperation, tc.path, tc.opts, tc.code, tc.msg)
		})
	}
	if resp := h.mustDo(t, engines.ListOperation, "role/r/secret-id", ""); resp != nil {
		t.Fatalf("rejected requests created secret IDs: %+v", resp.Data)
	}
}

func TestSecretIDDestroy(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{}`)
	h.mustRole(t, "other", `{}`)
	destroys := []struct {
		name string
		run  func(t *testing.T, secret, accessor string)
	}{
		{"by secret_id (POST)", func(t *testing.T, secret, _ string) {
			h.mustDo(t, engines.UpdateOperation, "role/r/secret-id/destroy", `{"secret_id":"`+secret+`"}`)
		}},
		{"by secret_id (DELETE)", func(t *testing.T, secret, _ string) {
			h.mustDo(t, engines.DeleteOperation, "role/r/secret-id/destroy", `{"secret_id":"`+secret+`"}`)
		}},
		{"by accessor (POST)", func(t *testing.T, _, accessor string) {
			h.mustDo(t, engines.UpdateOperation, "role/r/secret-id-accessor/destroy", `{"secret_id_accessor":"`+accessor+`"}`)
		}},
		{"by accessor (DELETE)", func(t *testing.T, _, accessor string) {
			h.mustDo(t, engines.DeleteOperation, "role/r/secret-id-accessor/destroy", `{"secret_id_accessor":"`+accessor+`"}`)
		}},
	}
	for _, d := range destroys {
		t.Run(d.name, func(t *testing.T) {
			secret, accessor := h.mustSecretID(t, "r", "")
			keep, keepAccessor := h.mustSecretID(t, "r", "")
			// Another role cannot see or destroy it.
			h.mustFail(t, engines.UpdateOperation, "role/other/secret-id-accessor/destroy", `{"secret_id_accessor":"`+accessor+`"}`, engines.CodeNotFound, "")
			if resp := h.mustDo(t, engines.UpdateOperation, "role/other/secret-id/lookup", `{"secret_id":"`+secret+`"}`); resp != nil {
				t.Fatalf("secret ID visible through another role: %+v", resp.Data)
			}
			d.run(t, secret, accessor)
			if resp := h.mustDo(t, engines.UpdateOperation, "role/r/secret-id/lookup", `{"secret_id":"`+secret+`"}`); resp != nil {
				t.Fatalf("lookup after destroy: %+v", resp.Data)
			}
			h.mustFail(t, engines.UpdateOperation, "role/r/secret-id-accessor/lookup", `{"secret_id_accessor":"`+accessor+`"}`, engines.CodeNotFound, "")
			if _, err := h.login(clientAddr, roleID, secret); err == nil {
				t.Fatal("destroyed secret ID logged in")
			}
			list := h.mustDo(t, engines.ListOperation, "role/r/secret-id/", "")
			if !slices.Equal(list.Data["keys"].([]string), []string{keepAccessor}) {
				t.Fatalf("list after destroy: %v, want [%s]", list.Data["keys"], keepAccessor)
			}
			h.mustLogin(t, roleID, keep)
			h.mustDo(t, engines.UpdateOperation, "role/r/secret-id/destroy", `{"secret_id":"`+keep+`"}`)
		})
	}
	// Destroying what is not there is not an error.
	h.mustDo(t, engines.UpdateOperation, "role/r/secret-id/destroy", `{"secret_id":"never-issued"}`)
}

func TestCustomSecretID(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{}`)
	resp := h.mustDo(t, engines.UpdateOperation, "role/r/custom-secret-id", `{"secret_id":"my-secret","num_uses":1}`)
	if resp.Data["secret_id"] != "my-secret" || resp.Data["secret_id_num_uses"] != 1 {
		t.Fatalf("custom secret: %+v", resp.Data)
	}
	h.mustFail(t, engines.UpdateOperation, "role/r/custom-secret-id", `{"secret_id":"my-secret"}`, engines.CodeInvalidRequest, "already registered")
	h.mustLogin(t, roleID, "my-secret")
	if _, err := h.login(clientAddr, roleID, "my-secret"); err == nil {
		t.Fatal("single-use custom secret ID logged in twice")
	}
}

func TestRoleDeleteFlushesSecretIDs(t *testing.T) {
	h := mustHarness(t)
	h.mustRole(t, "r", `{}`)
	secret, _ := h.mustSecretID(t, "r", "")
	h.mustSecretID(t, "r", "")
	h.mustDo(t, engines.DeleteOperation, "role/r", "")
	for _, k := range h.storage.Keys() {
		if strings.HasPrefix(k, "secret_id/") || strings.HasPrefix(k, "accessor/") || strings.HasPrefix(k, "role") {
			t.Fatalf("role delete left %s behind", k)
		}
	}
	// The same name, re-created, does not accept the old secret ID.
	roleID := h.mustRole(t, "r", `{}`)
	if _, err := h.login(clientAddr, roleID, secret); err == nil {
		t.Fatal("secret ID survived its role's deletion")
	}
}

func TestTidy(t *testing.T) {
	h := mustHarness(t)
	h.mustRole(t, "r", `{}`)
	h.mustSecretID(t, "r", `{"ttl":60}`)
	_, keepAccessor := h.mustSecretID(t, "r", `{"ttl":600}`)
	h.clock.Advance(61 * time.Second)
	h.mustDo(t, engines.UpdateOperation, "tidy/secret-id", "")
	list := h.mustDo(t, engines.ListOperation, "role/r/secret-id", "")
	if !slices.Equal(list.Data["keys"].([]string), []string{keepAccessor}) {
		t.Fatalf("after tidy: %v", list.Data["keys"])
	}
	accessors := 0
	for _, k := range h.storage.Keys() {
		if strings.HasPrefix(k, "accessor/") {
			accessors++
		}
	}
	if accessors != 1 {
		t.Fatalf("%d accessor entries after tidy, want 1", accessors)
	}
}

// TestStorageHoldsNoSecretID scans every stored key and value for the
// secret IDs in the encodings a dump could reveal them in.
func TestStorageHoldsNoSecretID(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{"secret_id_num_uses":3}`)
	var secrets []string
	for range 5 {
		s, _ := h.mustSecretID(t, "r", `{"metadata":{"k":"v"}}`)
		secrets = append(secrets, s)
	}
	h.mustDo(t, engines.UpdateOperation, "role/r/custom-secret-id", `{"secret_id":"Custom-Secret-Value-123"}`)
	secrets = append(secrets, "Custom-Secret-Value-123")
	h.mustLogin(t, roleID, secrets[0])
	for _, s := range secrets {
		raw := []byte(s)
		forms := []string{
			s, strings.ToLower(s), strings.ReplaceAll(s, "-", ""),
			hex.EncodeToString(raw),
			base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
			base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		}
		if u, err := hex.DecodeString(strings.ReplaceAll(s, "-", "")); err == nil {
			forms = append(forms, base64.StdEncoding.EncodeToString(u), base64.RawURLEncoding.EncodeToString(u), string(u))
		}
		for k, v := range h.storage.Snapshot() {
			for _, form := range forms {
				if strings.Contains(k, form) || strings.Contains(string(v), form) {
					t.Fatalf("secret ID stored at %s (as %q)", k, form)
				}
			}
		}
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	return string(mustMarshal(tb, v))
}
