package userpass

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"coffer/engines"
)

func TestLoginAuth(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"s3cret","token_policies":"dev,ops","token_ttl":"30m",
		"token_max_ttl":"2h","token_num_uses":4,"token_period":0,"token_bound_cidrs":"192.0.2.0/24","token_no_default_policy":true}`)
	h.mustDo(t, engines.UpdateOperation, "users/bob", `{"password":"pw","token_period":"24h","token_explicit_max_ttl":"48h"}`)
	cases := []struct {
		user string
		want engines.Auth
	}{
		{"Alice", engines.Auth{
			Policies: []string{"dev", "ops"}, Metadata: map[string]string{"username": "alice"}, DisplayName: "userpass-alice",
			LeaseDuration: 30 * time.Minute, ExplicitMaxTTL: 2 * time.Hour, NumUses: 4, BoundCIDRs: []string{"192.0.2.0/24"},
			Renewable: true, NoDefaultPolicy: true, TokenType: "service",
		}},
		{"bob", engines.Auth{
			Policies: []string{}, Metadata: map[string]string{"username": "bob"}, DisplayName: "userpass-bob",
			Period: 24 * time.Hour, ExplicitMaxTTL: 48 * time.Hour, Renewable: true, TokenType: "service",
		}},
	}
	pw := map[string]string{"Alice": "s3cret", "bob": "pw"}
	for _, tc := range cases {
		got := h.mustLogin(t, tc.user, pw[tc.user])
		if !reflect.DeepEqual(*got, tc.want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", tc.user, *got, tc.want)
		}
	}
}

// TestLoginFailuresLookAlike checks that every way of getting a login
// wrong gives the same status and message.
func TestLoginFailuresLookAlike(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"right"}`)
	cases := []struct{ name, user, password string }{
		{"wrong password", "alice", "wrong"},
		{"password of another case", "alice", "RIGHT"},
		{"unknown user", "mallory", "right"},
		{"impossible username", "-bad-", "right"},
		{"long username", strings.Repeat("a", 600), "right"},
	}
	for _, tc := range cases {
		_, err := h.login(clientAddr, tc.user, tc.password)
		code, msg := engines.CodeOf(err)
		if err == nil || code != engines.CodeInvalidRequest || msg != "invalid username or password" {
			t.Fatalf("%s: got %v (code %d)", tc.name, err, code)
		}
	}
	h.mustFail(t, engines.UpdateOperation, "login/alice", `{}`, engines.CodeInvalidRequest, "missing password")
	h.mustFail(t, engines.UpdateOperation, "login/mallory", `{}`, engines.CodeInvalidRequest, "missing password")
}

// TestUnknownUserCostsAHash checks the unknown-user path runs the same
// argon2id work as a wrong password, by counting hashes through the
// semaphore rather than timing.
func TestUnknownUserCostsAHash(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"right"}`)
	// Fill the semaphore: a login that hashes must now wait, and give up
	// when its context ends.
	for range cap(h.backend.hasher.sem) {
		h.backend.hasher.sem <- struct{}{}
	}
	t.Cleanup(func() {
		for range cap(h.backend.hasher.sem) {
			<-h.backend.hasher.sem
		}
	})
	for _, user := range []string{"alice", "mallory", "-bad-"} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.backend.HandleRequest(ctx, &engines.Request{
			Operation: engines.UpdateOperation, Path: "login/" + user, RemoteAddr: clientAddr,
			Data: map[string]any{"password": "guess"},
		})
		if err != context.Canceled {
			t.Fatalf("login %s did not wait for a hash slot: %v", user, err)
		}
	}
}

func TestLoginBoundCIDRs(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"pw","token_bound_cidrs":"192.0.2.0/24"}`)
	if _, err := h.login("192.0.2.200:1234", "alice", "pw"); err != nil {
		t.Fatalf("login from inside: %v", err)
	}
	_, err := h.login("198.51.100.1:1234", "alice", "pw")
	assertCode(t, err, engines.CodePermissionDenied, "permission denied")
	// A wrong password from outside is still just a wrong password.
	_, err = h.login("198.51.100.1:1234", "alice", "nope")
	assertCode(t, err, engines.CodeInvalidRequest, "invalid username or password")
}

// TestDefaultKDFCost checks the production parameters are what the hash
// records, and that they are not trivially cheap.
func TestDefaultKDFCost(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with the production parameters")
	}
	h := mustHarness(t, defaultKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"pw"}`)
	raw, _ := h.storage.Get(context.Background(), "user/alice")
	if !strings.Contains(string(raw), "$argon2id$v=19$m=19456,t=2,p=2$") {
		t.Fatalf("stored hash parameters: %s", raw)
	}
	h.mustLogin(t, "alice", "pw")
}

func BenchmarkUserpassLogin(b *testing.B) {
	for _, bc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"success", "alice", "pw", true},
		{"wrong-password", "alice", "nope", false},
		{"unknown-user", "mallory", "pw", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := mustHarness(b, defaultKDF)
			h.mustDo(b, engines.UpdateOperation, "users/alice", `{"password":"pw","token_policies":"dev"}`)
			ctx := context.Background()
			for b.Loop() {
				_, err := h.backend.HandleRequest(ctx, &engines.Request{
					Operation: engines.UpdateOperation, Path: "login/" + bc.user, RemoteAddr: clientAddr,
					Data: map[string]any{"password": bc.password},
				})
				if (err == nil) != bc.ok {
					b.Fatalf("login: %v", err)
				}
			}
		})
	}
}
