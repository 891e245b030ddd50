package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

// TestBadInput checks that malformed requests get a 4xx with Vault's
// {"errors": [...]} body and that the node keeps serving afterwards.
func TestBadInput(t *testing.T) {
	n := mustStartDevNode(t, "root-token-bad-input")
	base := "http://" + n.Addr + "/v1/"
	tok := "root-token-bad-input"
	cases := []struct {
		name, method, path, token, ctype, body string
		want                                   int
	}{
		{"kv write without data", "PUT", "secret/data/a", tok, "", `{"password":"x"}`, 400},
		{"kv write with data not an object", "PUT", "secret/data/a", tok, "", `{"data":"x"}`, 400},
		{"malformed JSON", "PUT", "secret/data/a", tok, "", `{"data":`, 400},
		{"JSON not an object", "PUT", "secret/data/a", tok, "", `[1,2,3]`, 400},
		{"trailing garbage", "PUT", "secret/data/a", tok, "", `{"data":{}} x`, 400},
		{"too deep", "PUT", "secret/data/a", tok, "", `{"data":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}`, 400},
		{"wrong verb", "TRACE", "secret/data/a", tok, "", ``, 405},
		{"unknown mount", "GET", "nosuchmount/x", tok, "", ``, 404},
		{"unknown kv path", "GET", "secret/bogus/a", tok, "", ``, 404},
		{"bad version", "GET", "secret/data/a?version=abc", tok, "", ``, 400},
		{"no token", "GET", "secret/data/a", "", "", ``, 403},
		{"wrong token", "GET", "secret/data/a", "hvs.wrong", "", ``, 403},
		{"patch without merge-patch content type", "PATCH", "secret/data/a", tok, "application/json", `{"data":{"a":"b"}}`, 415},
		{"mount without type", "POST", "sys/mounts/x", tok, "", `{}`, 400},
		{"mount reserved path", "POST", "sys/mounts/sys", tok, "", `{"type":"kv"}`, 400},
		{"unknown engine type", "POST", "sys/mounts/y", tok, "", `{"type":"nope"}`, 400},
		{"init twice", "PUT", "sys/init", "", "", `{"secret_shares":1,"secret_threshold":1}`, 400},
		{"unseal without key", "PUT", "sys/unseal", "", "", `{}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawRequest(t, tc.method, base+tc.path, tc.token, tc.ctype, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d; body %s", code, tc.want, body)
			}
			var e struct {
				Errors []string `json:"errors"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Errors == nil {
				t.Fatalf("body is not Vault's error shape: %q (%v)", body, err)
			}
		})
	}
	// A body over the default 32 MiB limit is refused with 413.
	big := `{"data":{"v":"` + strings.Repeat("a", 33<<20) + `"}}`
	if code, _ := rawRequest(t, "PUT", base+"secret/data/big", tok, "", big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: got %d, want 413", code)
	}
	// The token may come as a Bearer token too.
	req, _ := http.NewRequest("GET", base+"sys/mounts", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("bearer request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Authorization: Bearer: status %d, want 200", resp.StatusCode)
	}
	// Still serving.
	if _, err := n.Client(tok).KVv2("secret").Put(t.Context(), "after", map[string]any{"ok": "yes"}); err != nil {
		t.Fatalf("write after bad input: %v", err)
	}
}

// TestHealthOverrides checks sys/health's query overrides and HEAD.
func TestHealthOverrides(t *testing.T) {
	n := mustStartNode(t)
	base := "http://" + n.Addr + "/v1/sys/health"
	check := func(query string, want int) {
		t.Helper()
		for _, m := range []string{"GET", "HEAD"} {
			if code, _ := rawRequest(t, m, base+query, "", "", ""); code != want {
				t.Errorf("%s health%s: got %d, want %d", m, query, code, want)
			}
		}
	}
	check("", 501)
	check("?uninitcode=200", 200)
	c := n.Client("")
	init, err := c.Sys().Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	check("", 503)
	check("?sealedcode=299", 299)
	mustUnseal(t, c, init.KeysB64)
	check("", 200)
	check("?activecode=204", 204)
	h, err := c.Sys().Health()
	if err != nil || !h.Initialized || h.Sealed || h.Standby {
		t.Fatalf("health body: %+v %v", h, err)
	}
	l, err := n.Client(init.RootToken).Sys().Leader()
	if err != nil || !l.IsSelf || !l.HAEnabled || l.LeaderAddress != "http://"+n.Addr {
		t.Fatalf("leader: %+v %v", l, err)
	}
}
