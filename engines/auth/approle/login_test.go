package approle_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/engines"
)

func TestLoginAuth(t *testing.T) {
	cases := []struct {
		name, role, secretOpts string
		want                   engines.Auth
	}{
		{
			name: "defaults",
			role: `{}`,
			want: engines.Auth{Policies: []string{}, Metadata: map[string]string{"role_name": "r"}},
		},
		{
			name:       "everything",
			role:       `{"token_policies":"web,db","token_ttl":"20m","token_max_ttl":"1h","token_period":0,"token_num_uses":7,"token_bound_cidrs":"10.0.0.0/8","token_no_default_policy":true}`,
			secretOpts: `{"metadata":{"team":"infra"}}`,
			want: engines.Auth{
				Policies: []string{"db", "web"}, Metadata: map[string]string{"role_name": "r", "team": "infra"},
				LeaseDuration: 20 * time.Minute, ExplicitMaxTTL: time.Hour, NumUses: 7,
				BoundCIDRs: []string{"10.0.0.0/8"}, NoDefaultPolicy: true,
			},
		},
		{
			name:       "secret ID narrows token CIDRs; explicit max TTL below max TTL wins",
			role:       `{"token_bound_cidrs":"10.0.0.0/8","token_max_ttl":"2h","token_explicit_max_ttl":"90m"}`,
			secretOpts: `{"token_bound_cidrs":"10.1.0.0/16"}`,
			want: engines.Auth{
				Policies: []string{}, Metadata: map[string]string{"role_name": "r"},
				ExplicitMaxTTL: 90 * time.Minute, BoundCIDRs: []string{"10.1.0.0/16"},
			},
		},
		{
			name: "periodic, legacy policies",
			role: `{"period":"24h","policies":"ops"}`,
			want: engines.Auth{Policies: []string{"ops"}, Metadata: map[string]string{"role_name": "r"}, Period: 24 * time.Hour},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t)
			roleID := h.mustRole(t, "r", tc.role)
			secret, _ := h.mustSecretID(t, "r", tc.secretOpts)
			got := h.mustLogin(t, roleID, secret)
			want := tc.want
			want.DisplayName = "approle"
			want.Renewable = true
			want.TokenType = "service"
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("auth\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestLoginWithoutSecretID(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "open", `{"bind_secret_id":false,"secret_id_bound_cidrs":"10.1.0.0/16","token_policies":"p"}`)
	auth := h.mustLogin(t, roleID, "")
	if auth.Metadata["role_name"] != "open" || auth.Policies[0] != "p" {
		t.Fatalf("auth: %+v", auth)
	}
	_, err := h.login("10.2.0.1:1", roleID, "")
	assertCode(t, err, engines.CodeInvalidRequest, "unauthorized by CIDR restrictions on the role")
}

func TestLoginFailuresLookAlike(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{}`)
	otherID := h.mustRole(t, "other", `{}`)
	secret, _ := h.mustSecretID(t, "r", "")
	otherSecret, _ := h.mustSecretID(t, "other", "")
	cases := []struct{ name, roleID, secretID string }{
		{"wrong secret ID", roleID, secret[:35] + "x"},
		{"unknown role ID", "no-such-role-id", secret},
		{"another role's secret ID", roleID, otherSecret},
		{"role ID of the other role", otherID, secret},
		{"accessor as secret ID", roleID, strings.Repeat("a", 36)},
		{"huge secret ID", roleID, strings.Repeat("s", 5000)},
	}
	var first string
	for _, tc := range cases {
		_, err := h.login(clientAddr, tc.roleID, tc.secretID)
		code, msg := engines.CodeOf(err)
		if err == nil || code != engines.CodeInvalidRequest || msg != "invalid role or secret ID" {
			t.Fatalf("%s: got %v (code %d)", tc.name, err, code)
		}
		if first == "" {
			first = msg
		} else if msg != first {
			t.Fatalf("%s: message %q differs from %q", tc.name, msg, first)
		}
	}
	h.mustLogin(t, roleID, secret) // failures consumed nothing
	for _, tc := range []struct{ body, msg string }{
		{`{}`, "missing role_id"},
		{`{"role_id":"` + roleID + `"}`, "missing secret_id"},
	} {
		h.mustFail(t, engines.UpdateOperation, "login", tc.body, engines.CodeInvalidRequest, tc.msg)
	}
}

func TestSecretIDNumUses(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{"secret_id_num_uses":3}`)
	secret, accessor := h.mustSecretID(t, "r", "")
	for want := 2; want >= 1; want-- {
		h.mustLogin(t, roleID, secret)
		look := h.mustDo(t, engines.UpdateOperation, "role/r/secret-id/lookup", `{"secret_id":"`+secret+`"}`)
		if look.Data["secret_id_num_uses"] != want {
			t.Fatalf("uses left %v, want %d", look.Data["secret_id_num_uses"], want)
		}
	}
	h.mustLogin(t, roleID, secret)
	if _, err := h.login(clientAddr, roleID, secret); err == nil {
		t.Fatal("fourth login with a three-use secret ID succeeded")
	}
	// The last use removed the secret ID and its accessor.
	h.mustFail(t, engines.UpdateOperation, "role/r/secret-id-accessor/lookup", `{"secret_id_accessor":"`+accessor+`"}`, engines.CodeNotFound, "")
}

// TestSingleUseSecretIDConcurrent races 16 logins on a one-use secret ID:
// exactly one may win, every time.
func TestSingleUseSecretIDConcurrent(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{}`)
	for round := range 20 {
		secret, _ := h.mustSecretID(t, "r", `{"num_uses":1}`)
		var wins, losses atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := h.login(clientAddr, roleID, secret)
				switch {
				case err == nil && resp != nil && resp.Auth != nil:
					wins.Add(1)
				case err != nil:
					if _, msg := engines.CodeOf(err); msg == "invalid role or secret ID" {
						losses.Add(1)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || losses.Load() != 15 {
			t.Fatalf("round %d: %d wins, %d clean losses; want 1 and 15", round, wins.Load(), losses.Load())
		}
	}
}

func TestSecretIDExpiry(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{"secret_id_ttl":"60s"}`)
	secret, _ := h.mustSecretID(t, "r", "")
	short, _ := h.mustSecretID(t, "r", `{"ttl":10}`)
	h.clock.Advance(10 * time.Second)
	if _, err := h.login(clientAddr, roleID, short); err == nil {
		t.Fatal("secret ID logged in at its expiry time")
	}
	h.clock.Advance(49 * time.Second)
	h.mustLogin(t, roleID, secret)
	h.clock.Advance(time.Second)
	_, err := h.login(clientAddr, roleID, secret)
	assertCode(t, err, engines.CodeInvalidRequest, "invalid role or secret ID")
	if resp := h.mustDo(t, engines.UpdateOperation, "role/r/secret-id/lookup", `{"secret_id":"`+secret+`"}`); resp != nil {
		t.Fatalf("expired secret ID still looks up: %+v", resp.Data)
	}
}

func TestLoginCIDRBinding(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{"secret_id_bound_cidrs":["10.0.0.0/8","2001:db8::/32"]}`)
	bound, _ := h.mustSecretID(t, "r", `{"cidr_list":"10.1.0.0/16","num_uses":1}`)
	free, _ := h.mustSecretID(t, "r", "")
	cases := []struct {
		name, remote, secret string
		ok                   bool
		msg                  string
	}{
		{"role blocks outsider", "192.168.1.1:5000", free, false, "CIDR restrictions on the role"},
		{"unparsable address", "garbage", free, false, "CIDR restrictions on the role"},
		{"no address", "", free, false, "CIDR restrictions on the role"},
		{"secret ID blocks role member outside its list", "10.2.0.1:5000", bound, false, "CIDR restrictions on the secret ID"},
		{"role admits member", "10.200.0.1:5000", free, true, ""},
		{"IPv6 member", "[2001:db8::1]:443", free, true, ""},
		{"IPv4-mapped IPv6", "[::ffff:10.9.9.9]:443", free, true, ""},
		{"secret ID admits member", "10.1.7.7:5000", bound, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.login(tc.remote, roleID, tc.secret)
			if tc.ok {
				if err != nil || resp.Auth == nil {
					t.Fatalf("login from %s: %v", tc.remote, err)
				}
				return
			}
			assertCode(t, err, engines.CodeInvalidRequest, tc.msg)
		})
	}
	// The refused attempts from outside did not use up the one-use ID:
	// the successful login above was its only use.
	if _, err := h.login("10.1.7.7:5000", roleID, bound); err == nil {
		t.Fatal("one-use secret ID used twice")
	}
}

func TestCIDRRefusalConsumesNoUse(t *testing.T) {
	h := mustHarness(t)
	roleID := h.mustRole(t, "r", `{}`)
	secret, _ := h.mustSecretID(t, "r", `{"cidr_list":"10.0.0.0/24","num_uses":1}`)
	for range 3 {
		if _, err := h.login("10.0.1.1:1", roleID, secret); err == nil {
			t.Fatal("login from outside cidr_list succeeded")
		}
	}
	if _, err := h.login("10.0.0.9:1", roleID, secret); err != nil {
		t.Fatalf("login from inside after refusals: %v", err)
	}
}

func BenchmarkAppRoleLogin(b *testing.B) {
	h := mustHarness(b)
	roleID := h.mustRole(b, "r", `{"token_policies":"web","token_ttl":"1h"}`)
	secret, _ := h.mustSecretID(b, "r", "")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := h.backend.HandleRequest(ctx, &engines.Request{
			Operation: engines.UpdateOperation, Path: "login", RemoteAddr: clientAddr,
			Data: map[string]any{"role_id": roleID, "secret_id": secret},
		})
		if err != nil || resp.Auth == nil {
			b.Fatalf("login: %v", err)
		}
	}
}
