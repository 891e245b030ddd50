package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTokenCreateRequests(t *testing.T) {
	tests := []struct {
		name string
		args []string
		path string
		body map[string]any // fields that must be in the body, with these values
	}{
		{
			name: "defaults",
			path: "auth/token/create",
			body: map[string]any{"renewable": true, "num_uses": json.Number("0"), "display_name": ""},
		},
		{
			name: "every option",
			args: []string{"-policy=app", "-policy=db,ops", "-ttl=1h", "-explicit-max-ttl=2h", "-period=30m",
				"-use-limit=3", "-display-name=ci", "-metadata=team=ops", "-metadata=env=prod", "-no-default-policy"},
			path: "auth/token/create",
			body: map[string]any{"policies": []any{"app", "db", "ops"}, "ttl": "1h0m0s", "explicit_max_ttl": "2h0m0s",
				"period": "30m0s", "num_uses": json.Number("3"), "display_name": "ci",
				"meta": map[string]any{"team": "ops", "env": "prod"}, "no_default_policy": true},
		},
		{name: "ttl in seconds", args: []string{"-ttl=5400"}, path: "auth/token/create", body: map[string]any{"ttl": "1h30m0s"}},
		{name: "num-uses alias", args: []string{"-num-uses=2"}, path: "auth/token/create", body: map[string]any{"num_uses": json.Number("2")}},
		{name: "not renewable", args: []string{"-renewable=false"}, path: "auth/token/create", body: map[string]any{"renewable": false}},
		{name: "orphan", args: []string{"-orphan"}, path: "auth/token/create-orphan", body: map[string]any{"no_parent": true}},
		{name: "role", args: []string{"-role=ci"}, path: "auth/token/create/ci"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustAuthFake(t)
			r := a.mustCLI(t, 0, "", append([]string{"token", "create"}, tt.args...)...)
			req := a.last(t)
			if req.Method != "POST" || req.Path != tt.path || req.Token != "root-token" {
				t.Fatalf("request = %s %s (token %q), want POST %s", req.Method, req.Path, req.Token, tt.path)
			}
			for k, want := range tt.body {
				if got := req.Body[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("body[%s] = %#v, want %#v", k, got, want)
				}
			}
			if !strings.Contains(r.stdout, "token                tok-1\n") {
				t.Fatalf("output:\n%s", r.stdout)
			}
		})
	}
}

func TestTokenCreateOutput(t *testing.T) {
	a := mustAuthFake(t)
	r := a.mustCLI(t, 0, "", "token", "create", "-policy=app", "-ttl=1h", "-metadata=team=ops")
	want := "Key                  Value\n" +
		"---                  -----\n" +
		"token                tok-1\n" +
		"token_accessor       acc-1\n" +
		"token_duration       1h\n" +
		"token_renewable      true\n" +
		"token_policies       [\"app\" \"default\"]\n" +
		"identity_policies    []\n" +
		"policies             [\"app\" \"default\"]\n" +
		"token_meta_team      ops\n"
	if r.stdout != want {
		t.Fatalf("create output:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = a.mustCLI(t, 0, "", "token", "create", "-field=token")
	if r.stdout != "tok-2" {
		t.Fatalf("-field=token = %q", r.stdout)
	}
	r = a.mustCLI(t, 0, "", "token", "create", "-format=json")
	var s struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Auth.ClientToken != "tok-3" {
		t.Fatalf("json create = %s (%v)", r.stdout, err)
	}
	n := len(a.requests(false))
	a.mustCLI(t, 1, "", "token", "create", "-ttl=soon")
	a.mustCLI(t, 1, "", "token", "create", "extra")
	if len(a.requests(false)) != n {
		t.Fatal("a usage error sent a request")
	}
	t.Setenv("VAULT_TOKEN", "made-up")
	r = a.mustCLI(t, 2, "", "token", "create")
	if !strings.HasPrefix(r.stderr, "Error creating token: ") {
		t.Fatalf("stderr = %q", r.stderr)
	}
}

func TestTokenLookup(t *testing.T) {
	a := mustAuthFake(t)
	r := a.mustCLI(t, 0, "", "token", "lookup")
	if req := a.last(t); req.Method != "GET" || req.Path != "auth/token/lookup-self" {
		t.Fatalf("lookup-self request = %+v", req)
	}
	for _, s := range []string{"Key                 Value\n", "accessor            acc-root\n", "id                  root-token\n",
		"policies            [root]\n", "ttl                 0s\n", "explicit_max_ttl    0s\n", "expire_time         <nil>\n"} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("lookup output lacks %q:\n%s", s, r.stdout)
		}
	}
	a.mustCLI(t, 0, "", "token", "create", "-ttl=90s")
	r = a.mustCLI(t, 0, "", "token", "lookup", "tok-1")
	if req := a.last(t); req.Method != "POST" || req.Path != "auth/token/lookup" || !reflect.DeepEqual(req.Body, map[string]any{"token": "tok-1"}) {
		t.Fatalf("lookup request = %+v", req)
	}
	if !strings.Contains(r.stdout, "ttl                 1m30s\n") {
		t.Fatalf("lookup output:\n%s", r.stdout)
	}
	r = a.mustCLI(t, 0, "", "token", "lookup", "-accessor", "-field=policies", "acc-1")
	if req := a.last(t); req.Path != "auth/token/lookup-accessor" || !reflect.DeepEqual(req.Body, map[string]any{"accessor": "acc-1"}) {
		t.Fatalf("lookup-accessor request = %+v", req)
	}
	if r.stdout != "[default]" {
		t.Fatalf("-field=policies = %q", r.stdout)
	}
	r = a.mustCLI(t, 1, "", "token", "lookup", "-accessor")
	if !strings.HasPrefix(r.stderr, "Not enough arguments with -accessor (expected 1, got 0)") {
		t.Fatalf("stderr = %q", r.stderr)
	}
	a.mustCLI(t, 1, "", "token", "lookup", "a", "b")
	r = a.mustCLI(t, 2, "", "token", "lookup", "made-up")
	if !strings.HasPrefix(r.stderr, "Error looking up token: ") {
		t.Fatalf("stderr = %q", r.stderr)
	}
}

func TestTokenRenew(t *testing.T) {
	a := mustAuthFake(t)
	a.mustCLI(t, 0, "", "token", "create", "-ttl=1h")
	tests := []struct {
		args []string
		path string
		body map[string]any
	}{
		{args: nil, path: "auth/token/renew-self", body: map[string]any{"increment": json.Number("0")}},
		{args: []string{"-increment=30m", "tok-1"}, path: "auth/token/renew", body: map[string]any{"token": "tok-1", "increment": json.Number("1800")}},
		{args: []string{"-i=600", "tok-1"}, path: "auth/token/renew", body: map[string]any{"token": "tok-1", "increment": json.Number("600")}},
		{args: []string{"-accessor", "acc-1"}, path: "auth/token/renew-accessor", body: map[string]any{"accessor": "acc-1", "increment": json.Number("0")}},
	}
	for _, tt := range tests {
		a.mustCLI(t, 0, "", append([]string{"token", "renew"}, tt.args...)...)
		if req := a.last(t); req.Path != tt.path || !reflect.DeepEqual(req.Body, tt.body) {
			t.Fatalf("renew %v request = %+v", tt.args, req)
		}
	}
	r := a.mustCLI(t, 0, "", "token", "renew", "-increment=2h", "tok-1")
	if !strings.Contains(r.stdout, "token_duration       2h\n") {
		t.Fatalf("renew output:\n%s", r.stdout)
	}
	a.mustCLI(t, 1, "", "token", "renew", "-increment=forever", "tok-1")
	a.mustCLI(t, 1, "", "token", "renew", "-accessor")
	a.mustCLI(t, 2, "", "token", "renew", "made-up")
}

func TestTokenRevoke(t *testing.T) {
	tests := []struct {
		args []string
		code int
		path string
		body map[string]any
	}{
		{args: []string{"tok-1"}, path: "auth/token/revoke", body: map[string]any{"token": "tok-1"}},
		{args: []string{"-mode=orphan", "tok-1"}, path: "auth/token/revoke-orphan", body: map[string]any{"token": "tok-1"}},
		{args: []string{"-accessor", "acc-1"}, path: "auth/token/revoke-accessor", body: map[string]any{"accessor": "acc-1"}},
		{args: []string{"-mode=path", "auth/userpass/"}, path: "sys/leases/revoke-prefix/auth/userpass", body: map[string]any{}},
		{args: []string{"-self"}, path: "auth/token/revoke-self", body: map[string]any{}},
		{args: nil, code: 1},
		{args: []string{"a", "b"}, code: 1},
		{args: []string{"-self", "tok-1"}, code: 1},
		{args: []string{"-self", "-accessor"}, code: 1},
		{args: []string{"-self", "-mode=orphan"}, code: 1},
		{args: []string{"-accessor", "-mode=orphan", "acc-1"}, code: 1},
		{args: []string{"-mode=everything", "tok-1"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			a := mustAuthFake(t)
			a.mustCLI(t, 0, "", "token", "create")
			n := len(a.requests(false))
			r := a.mustCLI(t, tt.code, "", append([]string{"token", "revoke"}, tt.args...)...)
			if tt.code != 0 {
				if len(a.requests(false)) != n {
					t.Fatal("a usage error sent a request")
				}
				return
			}
			if r.stdout != "Success! Revoked token (if it existed)\n" {
				t.Fatalf("output = %q", r.stdout)
			}
			if req := a.last(t); req.Method != "PUT" && req.Method != "POST" || req.Path != tt.path || !reflect.DeepEqual(req.Body, tt.body) {
				t.Fatalf("request = %+v, want %s %v", req, tt.path, tt.body)
			}
		})
	}
}

// TestTokenRevokedIsRefused runs the life of a token through the CLI:
// create, use, revoke, refused.
func TestTokenRevokedIsRefused(t *testing.T) {
	a := mustAuthFake(t)
	a.mustCLI(t, 0, "", "token", "create")
	t.Setenv("VAULT_TOKEN", "tok-1")
	a.mustCLI(t, 0, "", "token", "lookup")
	a.mustCLI(t, 0, "", "token", "revoke", "-self")
	a.mustCLI(t, 2, "", "token", "lookup")
}

func TestTokenCapabilities(t *testing.T) {
	a := mustAuthFake(t)
	a.mu.Lock()
	a.caps["secret/data/app/config"] = []string{"read", "list"}
	a.mu.Unlock()
	r := a.mustCLI(t, 0, "", "token", "capabilities", "secret/data/app/config")
	if r.stdout != "list, read\n" {
		t.Fatalf("capabilities output = %q", r.stdout)
	}
	req := a.last(t)
	if req.Path != "sys/capabilities-self" || req.Token != "root-token" ||
		!reflect.DeepEqual(req.Body, map[string]any{"paths": []any{"secret/data/app/config"}}) {
		t.Fatalf("capabilities-self request = %+v", req)
	}
	a.mustCLI(t, 0, "", "token", "create")
	r = a.mustCLI(t, 0, "", "token", "capabilities", "tok-1", "secret/data/other")
	if r.stdout != "deny\n" {
		t.Fatalf("capabilities output = %q", r.stdout)
	}
	req = a.last(t)
	if req.Path != "sys/capabilities" || !reflect.DeepEqual(req.Body, map[string]any{"token": "tok-1", "paths": []any{"secret/data/other"}}) {
		t.Fatalf("capabilities request = %+v", req)
	}
	r = a.mustCLI(t, 0, "", "token", "capabilities", "-format=json", "secret/data/app/config")
	var caps []string
	if err := json.Unmarshal([]byte(r.stdout), &caps); err != nil || !reflect.DeepEqual(caps, []string{"read", "list"}) {
		t.Fatalf("json capabilities = %s (%v)", r.stdout, err)
	}
	r = a.mustCLI(t, 2, "", "token", "capabilities", "made-up", "secret/x")
	if !strings.HasPrefix(r.stderr, "Error listing capabilities: ") {
		t.Fatalf("stderr = %q", r.stderr)
	}
	a.mustCLI(t, 1, "", "token", "capabilities")
	a.mustCLI(t, 1, "", "token", "capabilities", "a", "b", "c")
}

func TestDurationFlag(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "1h", want: time.Hour},
		{in: "90", want: 90 * time.Second},
		{in: " 1h30m ", want: 90 * time.Minute},
		{in: "0", want: 0},
		{in: "soon", bad: true},
		{in: "1d", bad: true},
	}
	for _, tt := range tests {
		var d durationFlag
		err := d.Set(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && time.Duration(d) != tt.want) {
			t.Errorf("Set(%q) = %v, %v", tt.in, time.Duration(d), err)
		}
	}
	var zero durationFlag
	if zero.String() != "" {
		t.Errorf("zero duration String = %q, want empty (omitted from requests)", zero.String())
	}
}
