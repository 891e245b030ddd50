package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestAuthEnableListDisable(t *testing.T) {
	a := mustAuthFake(t)
	r := a.mustCLI(t, 0, "", "auth", "enable", "userpass")
	if r.stdout != "Success! Enabled userpass auth method at: userpass/\n" {
		t.Fatalf("enable output = %q", r.stdout)
	}
	req := a.last(t)
	if req.Method != "POST" || req.Path != "sys/auth/userpass" || req.Body["type"] != "userpass" || req.Body["description"] != "" {
		t.Fatalf("enable request = %+v", req)
	}
	r = a.mustCLI(t, 0, "", "auth", "enable", "-path=machines/", "-description=CI runners", "-default-lease-ttl=1h", "-options=x=y", "approle")
	if r.stdout != "Success! Enabled approle auth method at: machines/\n" {
		t.Fatalf("enable output = %q", r.stdout)
	}
	req = a.last(t)
	if req.Path != "sys/auth/machines" || req.Body["type"] != "approle" || req.Body["description"] != "CI runners" ||
		!reflect.DeepEqual(req.Body["options"], map[string]any{"x": "y"}) {
		t.Fatalf("enable request = %+v", req)
	}
	if cfg, _ := req.Body["config"].(map[string]any); cfg["default_lease_ttl"] != "1h" {
		t.Fatalf("enable config = %v", req.Body["config"])
	}

	r = a.mustCLI(t, 0, "", "auth", "list")
	if req := a.last(t); req.Method != "GET" || req.Path != "sys/auth" {
		t.Fatalf("list request = %+v", req)
	}
	want := "Path         Type        Accessor              Description\n" +
		"----         ----        --------              -----------\n" +
		"machines/    approle     auth_approle_3c4d     CI runners\n" +
		"token/       token       auth_token_1a2b       token based credentials\n" +
		"userpass/    userpass    auth_userpass_3c4d    n/a\n"
	if r.stdout != want {
		t.Fatalf("list output:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = a.mustCLI(t, 0, "", "auth", "list", "-detailed")
	lines := strings.Split(r.stdout, "\n")
	if !strings.HasPrefix(lines[0], "Path         Plugin      Accessor              Default TTL    Max TTL    Token Type         Replication") ||
		!strings.HasPrefix(lines[2], "machines/    approle     auth_approle_3c4d     3600           system     default-service    replicated") {
		t.Fatalf("detailed list:\n%s", r.stdout)
	}
	r = a.mustCLI(t, 0, "", "auth", "list", "-format=json")
	var auths map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &auths); err != nil || auths["machines/"]["type"] != "approle" {
		t.Fatalf("json list = %s (%v)", r.stdout, err)
	}

	r = a.mustCLI(t, 0, "", "auth", "disable", "machines")
	if req := a.last(t); req.Method != "DELETE" || req.Path != "sys/auth/machines" {
		t.Fatalf("disable request = %+v", req)
	}
	if r.stdout != "Success! Disabled the auth method (if it existed) at: machines/\n" {
		t.Fatalf("disable output = %q", r.stdout)
	}
	if r = a.mustCLI(t, 0, "", "auth", "list"); strings.Contains(r.stdout, "machines/") {
		t.Fatalf("disabled method still listed:\n%s", r.stdout)
	}

	r = a.mustCLI(t, 2, "", "auth", "enable", "github")
	if !strings.HasPrefix(r.stderr, "Error enabling github auth: ") || !strings.Contains(r.stderr, "unknown auth method type") {
		t.Fatalf("enable error stderr = %q", r.stderr)
	}
	n := len(a.requests(false))
	a.mustCLI(t, 1, "", "auth", "enable")
	a.mustCLI(t, 1, "", "auth", "disable")
	a.mustCLI(t, 1, "", "auth", "list", "extra")
	if len(a.requests(false)) != n {
		t.Fatal("a usage error sent a request")
	}
}

func TestAuthCommandsInHelp(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"help"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("help exit %d", code)
	}
	for _, s := range []string{"    login     Authenticate locally\n", "    auth ", "    policy ", "    token "} {
		if !strings.Contains(out.String(), s) {
			t.Fatalf("help lacks %q:\n%s", s, out.String())
		}
	}
	for _, group := range []string{"token", "policy", "auth"} {
		out.Reset()
		if code := run([]string{group, "-h"}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("%s -h exit %d", group, code)
		}
	}
	if !strings.Contains(out.String(), "enable ") || !strings.Contains(out.String(), "disable ") {
		t.Fatalf("auth -h:\n%s", out.String())
	}
}
