package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeToken is one token in authFake's token store.
type fakeToken struct {
	id, accessor string
	policies     []string
	ttl          int
	renewable    bool
	meta         map[string]string
}

// authFake extends the shared fake server with the endpoints of tokens,
// auth methods (userpass user alice/wonderland, approle role rid/sid),
// ACL policies and capabilities. Requests to those are recorded in the
// shared log; everything else goes to the shared fake's handler.
type authFake struct {
	*fakeServer

	// Guarded by fakeServer.mu.
	tokens   map[string]*fakeToken // by ID
	next     int
	policies map[string]string
	auths    map[string]map[string]any
	caps     map[string][]string // capabilities by path; unlisted paths are "deny"
}

// mustAuthFake starts an authFake with the CLI environment of
// mustFakeServer (VAULT_TOKEN=root-token, an empty HOME) and one token,
// "root-token", with the root policy.
func mustAuthFake(tb testing.TB) *authFake {
	tb.Helper()
	a := &authFake{
		fakeServer: mustFakeServer(tb),
		tokens: map[string]*fakeToken{
			"root-token": {id: "root-token", accessor: "acc-root", policies: []string{"root"}},
		},
		policies: map[string]string{"default": "# default\n", "root": ""},
		auths: map[string]map[string]any{
			"token/": {"type": "token", "accessor": "auth_token_1a2b", "description": "token based credentials",
				"config": map[string]any{"default_lease_ttl": 0, "max_lease_ttl": 0, "token_type": "default-service"},
				"local":  false, "seal_wrap": false, "options": nil},
		},
		caps: map[string][]string{},
	}
	// Swap in a listener of our own before it starts, so the handler's
	// goroutines see the swap; the shared fake's own listener sits idle.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.fakeServer.Server = srv
	srv.Start()
	tb.Cleanup(srv.Close)
	return a
}

// authFakePrefixes are the paths authFake answers itself.
var authFakePrefixes = []string{"auth/", "sys/auth", "sys/policies/", "sys/capabilities", "sys/leases/revoke-prefix/"}

func (a *authFake) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	mine := false
	for _, prefix := range authFakePrefixes {
		mine = mine || strings.HasPrefix(p, prefix)
	}
	if !mine {
		a.fakeServer.serve(w, r)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	req := a.record(r)
	method, caller, body := req.Method, req.Token, req.Body
	switch {
	case strings.HasPrefix(p, "auth/token/"):
		a.tokenRoute(w, method, strings.TrimPrefix(p, "auth/token/"), caller, body)
	case strings.HasPrefix(p, "auth/userpass/login/") || strings.HasPrefix(p, "auth/people/login/"):
		user := p[strings.LastIndex(p, "/")+1:]
		if user != "alice" || body["password"] != "wonderland" {
			a.reply(w, 400, map[string]any{"errors": []string{"invalid username or password"}})
			return
		}
		a.reply(w, 200, map[string]any{"auth": a.authBlock(a.newToken([]string{"default", "dev"}, 2764800, map[string]string{"username": "alice"}))})
	case p == "auth/approle/login":
		if body["role_id"] != "rid" || body["secret_id"] != "sid" {
			a.reply(w, 400, map[string]any{"errors": []string{"invalid role or secret ID"}})
			return
		}
		a.reply(w, 200, map[string]any{"auth": a.authBlock(a.newToken([]string{"app", "default"}, 3600, map[string]string{"role_name": "app"}))})
	case p == "sys/auth":
		a.reply(w, 200, map[string]any{"data": a.auths})
	case strings.HasPrefix(p, "sys/auth/"):
		a.authMountRoute(w, method, strings.Trim(strings.TrimPrefix(p, "sys/auth/"), "/"), body)
	case strings.HasPrefix(p, "sys/policies/acl"):
		a.policyRoute(w, method, strings.Trim(strings.TrimPrefix(p, "sys/policies/acl"), "/"), body)
	case p == "sys/capabilities-self" || p == "sys/capabilities":
		a.capabilitiesRoute(w, p, caller, body)
	case strings.HasPrefix(p, "sys/leases/revoke-prefix/"):
		w.WriteHeader(204)
	default:
		a.reply(w, 404, map[string]any{"errors": []string{}})
	}
}

// newToken adds a token to the store.
func (a *authFake) newToken(policies []string, ttl int, meta map[string]string) *fakeToken {
	a.next++
	t := &fakeToken{id: fmt.Sprintf("tok-%d", a.next), accessor: fmt.Sprintf("acc-%d", a.next),
		policies: policies, ttl: ttl, renewable: ttl > 0, meta: meta}
	a.tokens[t.id] = t
	return t
}

// byAccessor finds a token by accessor.
func (a *authFake) byAccessor(acc any) *fakeToken {
	for _, t := range a.tokens {
		if t.accessor == acc {
			return t
		}
	}
	return nil
}

// authBlock is a token as a login or create response's auth block.
func (a *authFake) authBlock(t *fakeToken) map[string]any {
	return map[string]any{"client_token": t.id, "accessor": t.accessor, "policies": t.policies,
		"token_policies": t.policies, "metadata": t.meta, "lease_duration": t.ttl, "renewable": t.renewable,
		"entity_id": "", "token_type": "service", "orphan": false}
}

// lookupData is a token as a lookup response's data.
func (a *authFake) lookupData(t *fakeToken, id string) map[string]any {
	var meta any
	if t.meta != nil {
		meta = t.meta
	}
	return map[string]any{"id": id, "accessor": t.accessor, "policies": t.policies, "ttl": t.ttl,
		"creation_ttl": t.ttl, "explicit_max_ttl": 0, "renewable": t.renewable, "meta": meta,
		"display_name": "token", "num_uses": 0, "orphan": false, "path": "auth/token/create",
		"type": "service", "expire_time": nil, "entity_id": ""}
}

func (a *authFake) tokenRoute(w http.ResponseWriter, method, op, caller string, body map[string]any) {
	denied := func() { a.reply(w, 403, map[string]any{"errors": []string{"permission denied"}}) }
	self := a.tokens[caller]
	if self == nil {
		denied()
		return
	}
	target := func() *fakeToken {
		switch {
		case strings.HasSuffix(op, "-self"):
			return self
		case strings.HasSuffix(op, "-accessor"):
			return a.byAccessor(body["accessor"])
		}
		id, _ := body["token"].(string)
		return a.tokens[id]
	}
	switch {
	case op == "create" || op == "create-orphan" || strings.HasPrefix(op, "create/"):
		var policies []string
		if list, ok := body["policies"].([]any); ok {
			for _, p := range list {
				policies = append(policies, fmt.Sprint(p))
			}
		}
		if body["no_default_policy"] != true {
			policies = append(policies, "default")
		}
		sort.Strings(policies)
		ttl := 0
		if s, ok := body["ttl"].(string); ok {
			d, _ := time.ParseDuration(s)
			ttl = int(d.Seconds())
		}
		var meta map[string]string
		if m, ok := body["meta"].(map[string]any); ok {
			meta = map[string]string{}
			for k, v := range m {
				meta[k] = fmt.Sprint(v)
			}
		}
		t := a.newToken(policies, ttl, meta)
		if body["renewable"] == false {
			t.renewable = false
		}
		a.reply(w, 200, map[string]any{"auth": a.authBlock(t)})
	case op == "lookup-self" || op == "lookup" || op == "lookup-accessor":
		t := target()
		if t == nil {
			a.reply(w, 400, map[string]any{"errors": []string{"bad token"}})
			return
		}
		id := t.id
		if op == "lookup-accessor" {
			id = ""
		}
		a.reply(w, 200, map[string]any{"data": a.lookupData(t, id)})
	case strings.HasPrefix(op, "renew"):
		t := target()
		if t == nil {
			a.reply(w, 400, map[string]any{"errors": []string{"bad token"}})
			return
		}
		if inc, ok := body["increment"].(json.Number); ok {
			if n, _ := inc.Int64(); n > 0 {
				t.ttl = int(n)
			}
		}
		a.reply(w, 200, map[string]any{"auth": a.authBlock(t)})
	case strings.HasPrefix(op, "revoke"):
		if t := target(); t != nil {
			delete(a.tokens, t.id)
		}
		w.WriteHeader(204)
	default:
		a.reply(w, 404, map[string]any{"errors": []string{}})
	}
}

func (a *authFake) authMountRoute(w http.ResponseWriter, method, name string, body map[string]any) {
	switch method {
	case http.MethodDelete:
		delete(a.auths, name+"/")
		w.WriteHeader(204)
	case http.MethodPost, http.MethodPut:
		typ, _ := body["type"].(string)
		if typ != "userpass" && typ != "approle" {
			a.reply(w, 400, map[string]any{"errors": []string{fmt.Sprintf("unknown auth method type %q", typ)}})
			return
		}
		a.auths[name+"/"] = map[string]any{"type": typ, "description": body["description"],
			"accessor": "auth_" + typ + "_3c4d", "uuid": "uuid-" + typ,
			"config":  map[string]any{"default_lease_ttl": 3600, "max_lease_ttl": 0, "token_type": "default-service"},
			"options": body["options"], "local": body["local"], "seal_wrap": false}
		w.WriteHeader(204)
	default:
		a.reply(w, 405, map[string]any{"errors": []string{"unsupported operation"}})
	}
}

func (a *authFake) policyRoute(w http.ResponseWriter, method, name string, body map[string]any) {
	switch method {
	case "LIST":
		keys := make([]string, 0, len(a.policies))
		for k := range a.policies {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		a.reply(w, 200, map[string]any{"data": map[string]any{"keys": keys}})
	case http.MethodGet:
		rules, ok := a.policies[name]
		if !ok {
			a.reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		a.reply(w, 200, map[string]any{"data": map[string]any{"name": name, "policy": rules}})
	case http.MethodPut, http.MethodPost:
		a.policies[name], _ = body["policy"].(string)
		w.WriteHeader(204)
	case http.MethodDelete:
		if name == "root" || name == "default" {
			a.reply(w, 400, map[string]any{"errors": []string{fmt.Sprintf("cannot delete %q policy", name)}})
			return
		}
		delete(a.policies, name)
		w.WriteHeader(204)
	}
}

func (a *authFake) capabilitiesRoute(w http.ResponseWriter, p, caller string, body map[string]any) {
	if p == "sys/capabilities" {
		caller, _ = body["token"].(string)
	}
	if a.tokens[caller] == nil {
		a.reply(w, 400, map[string]any{"errors": []string{"invalid token"}})
		return
	}
	paths, _ := body["paths"].([]any)
	data := map[string]any{}
	for _, raw := range paths {
		path := fmt.Sprint(raw)
		caps := a.caps[path]
		if caps == nil {
			caps = []string{"deny"}
		}
		data[path] = caps
		if len(paths) == 1 {
			data["capabilities"] = caps
		}
	}
	a.reply(w, 200, map[string]any{"data": data})
}

// tokenFileContent is the token helper file's content and mode, or "" and 0
// if there is none.
func tokenFileContent(tb testing.TB) (string, os.FileMode) {
	tb.Helper()
	p := filepath.Join(os.Getenv("HOME"), tokenFileName)
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return "", 0
	}
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b), fi.Mode().Perm()
}

func TestLoginToken(t *testing.T) {
	a := mustAuthFake(t)
	t.Setenv("VAULT_TOKEN", "")
	r := a.mustCLI(t, 0, "", "login", "root-token")
	want := "Success! You are now authenticated. The token information displayed below is\n" +
		"already stored in the token helper. You do NOT need to run \"coffer login\"\n" +
		"again. Future Coffer requests will automatically use this token.\n\n" +
		"Key                  Value\n" +
		"---                  -----\n" +
		"token                root-token\n" +
		"token_accessor       acc-root\n" +
		"token_duration       ∞\n" +
		"token_renewable      false\n" +
		"token_policies       [\"root\"]\n" +
		"identity_policies    []\n" +
		"policies             [\"root\"]\n"
	if r.stdout != want {
		t.Fatalf("login output:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.stderr != "" {
		t.Fatalf("login stderr: %q", r.stderr)
	}
	if req := a.last(t); req.Method != "GET" || req.Path != "auth/token/lookup-self" || req.Token != "root-token" {
		t.Fatalf("login request = %+v", req)
	}
	if tok, mode := tokenFileContent(t); tok != "root-token" || mode != 0o600 {
		t.Fatalf("token file = %q mode %v", tok, mode)
	}
	// The next command finds the token through the helper.
	a.mustCLI(t, 0, "", "token", "lookup")
	if got := a.last(t).Token; got != "root-token" {
		t.Fatalf("token sent after login = %q", got)
	}

	// A bad token: nothing stored, exit 2.
	r = a.mustCLI(t, 2, "", "login", "made-up")
	if !strings.HasPrefix(r.stderr, "Error authenticating: error looking up token: ") || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("bad token stderr = %q", r.stderr)
	}
	if tok, _ := tokenFileContent(t); tok != "root-token" {
		t.Fatalf("token file after failed login = %q", tok)
	}
}

func TestLoginTokenInput(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string // stored token
	}{
		{name: "line from stdin when no terminal", stdin: "root-token\nignored\n", args: []string{"login"}, want: "root-token"},
		{name: "dash reads stdin", stdin: "root-token\n", args: []string{"login", "-"}, want: "root-token"},
		{name: "token= form", args: []string{"login", "token=root-token"}, want: "root-token"},
		{name: "no lookup", args: []string{"login", "token=anything", "lookup=false"}, want: "anything"},
		{name: "empty stdin", args: []string{"login"}, code: 1},
		{name: "bad lookup flag", args: []string{"login", "token=x", "lookup=maybe"}, code: 1},
		{name: "unknown method", args: []string{"login", "-method=github"}, code: 1},
		{name: "no-store with no-print", args: []string{"login", "-no-store", "-no-print", "root-token"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustAuthFake(t)
			t.Setenv("VAULT_TOKEN", "")
			a.mustCLI(t, tt.code, tt.stdin, tt.args...)
			if tok, _ := tokenFileContent(t); tok != tt.want {
				t.Fatalf("stored token = %q, want %q", tok, tt.want)
			}
		})
	}
}

func TestLoginNoStoreAndOutputFlags(t *testing.T) {
	a := mustAuthFake(t)
	t.Setenv("VAULT_TOKEN", "")
	r := a.mustCLI(t, 0, "", "login", "-no-store", "root-token")
	if !strings.HasPrefix(r.stderr, "The token was not stored in token helper.") || !strings.Contains(r.stdout, "token                root-token") {
		t.Fatalf("-no-store:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if tok, _ := tokenFileContent(t); tok != "" {
		t.Fatalf("-no-store stored %q", tok)
	}
	r = a.mustCLI(t, 0, "", "login", "-token-only", "-method=userpass", "username=alice", "password=wonderland")
	if r.stdout != "tok-1" || r.stderr != "" {
		t.Fatalf("-token-only: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if tok, _ := tokenFileContent(t); tok != "" {
		t.Fatalf("-token-only stored %q", tok)
	}
	r = a.mustCLI(t, 0, "", "login", "-no-print", "root-token")
	if r.stdout != "" {
		t.Fatalf("-no-print printed %q", r.stdout)
	}
	if tok, _ := tokenFileContent(t); tok != "root-token" {
		t.Fatalf("-no-print stored %q", tok)
	}
	r = a.mustCLI(t, 0, "", "login", "-field=token_accessor", "root-token")
	if r.stdout != "acc-root" {
		t.Fatalf("-field output %q", r.stdout)
	}
	r = a.mustCLI(t, 0, "", "login", "-format=json", "root-token")
	var s struct {
		Auth struct {
			ClientToken string   `json:"client_token"`
			Policies    []string `json:"policies"`
		} `json:"auth"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Auth.ClientToken != "root-token" || !reflect.DeepEqual(s.Auth.Policies, []string{"root"}) {
		t.Fatalf("json login = %s (%v)", r.stdout, err)
	}
}

func TestLoginUserpass(t *testing.T) {
	a := mustAuthFake(t)
	t.Setenv("VAULT_TOKEN", "env-token")
	r := a.mustCLI(t, 0, "", "login", "-method=userpass", "username=alice", "password=wonderland")
	req := a.last(t)
	if req.Method != "PUT" || req.Path != "auth/userpass/login/alice" || req.Token != "" ||
		!reflect.DeepEqual(req.Body, map[string]any{"password": "wonderland"}) {
		t.Fatalf("userpass request = %+v", req)
	}
	for _, s := range []string{"token                  tok-1\n", "token_duration         768h\n", "token_renewable        true\n",
		"policies               [\"default\" \"dev\"]\n", "token_meta_username    alice\n"} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("userpass output lacks %q:\n%s", s, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "WARNING! The VAULT_TOKEN environment variable is set!") {
		t.Fatalf("no VAULT_TOKEN warning: %q", r.stderr)
	}
	if tok, mode := tokenFileContent(t); tok != "tok-1" || mode != 0o600 {
		t.Fatalf("token file = %q mode %v", tok, mode)
	}

	// The password is prompted for (one stdin line when not a terminal);
	// -path names where the method is enabled.
	t.Setenv("VAULT_TOKEN", "")
	a.mustCLI(t, 0, "wonderland\n", "login", "-method=userpass", "-path=people", "username=alice")
	if req := a.last(t); req.Path != "auth/people/login/alice" || req.Body["password"] != "wonderland" {
		t.Fatalf("prompted login request = %+v", req)
	}
	r = a.mustCLI(t, 2, "", "login", "-method=userpass", "username=alice", "password=wrong")
	if !strings.HasPrefix(r.stderr, "Error authenticating: ") || !strings.Contains(r.stderr, "invalid username or password") {
		t.Fatalf("wrong password stderr = %q", r.stderr)
	}
	if tok, _ := tokenFileContent(t); tok != "tok-2" {
		t.Fatalf("failed login replaced the token: %q", tok)
	}
	for _, env := range []string{"LOGNAME", "USER", "LNAME", "USERNAME"} {
		t.Setenv(env, "")
	}
	r = a.mustCLI(t, 1, "", "login", "-method=userpass", "password=x")
	if !strings.Contains(r.stderr, "'username' must be specified") {
		t.Fatalf("no username stderr = %q", r.stderr)
	}
}

func TestLoginAppRole(t *testing.T) {
	a := mustAuthFake(t)
	t.Setenv("VAULT_TOKEN", "")
	r := a.mustCLI(t, 0, "", "login", "-method=approle", "role_id=rid", "secret_id=sid")
	req := a.last(t)
	if req.Path != "auth/approle/login" || req.Token != "" || !reflect.DeepEqual(req.Body, map[string]any{"role_id": "rid", "secret_id": "sid"}) {
		t.Fatalf("approle request = %+v", req)
	}
	if !strings.Contains(r.stdout, "token_meta_role_name    app\n") {
		t.Fatalf("approle output:\n%s", r.stdout)
	}
	if tok, _ := tokenFileContent(t); tok != "tok-1" {
		t.Fatalf("stored token = %q", tok)
	}
	a.mustCLI(t, 2, "", "login", "-method=approle", "role_id=rid", "secret_id=nope")
	a.mustCLI(t, 1, "", "login", "-method=approle", "secret_id=sid")
}

// TestWriteAuthBlock checks `write` prints a login response's auth block
// as Vault does.
func TestWriteAuthBlock(t *testing.T) {
	a := mustAuthFake(t)
	r := a.mustCLI(t, 0, "", "write", "auth/approle/login", "role_id=rid", "secret_id=sid")
	want := "Key                     Value\n" +
		"---                     -----\n" +
		"token                   tok-1\n" +
		"token_accessor          acc-1\n" +
		"token_duration          1h\n" +
		"token_renewable         true\n" +
		"token_policies          [\"app\" \"default\"]\n" +
		"identity_policies       []\n" +
		"policies                [\"app\" \"default\"]\n" +
		"token_meta_role_name    app\n"
	if r.stdout != want {
		t.Fatalf("write output:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = a.mustCLI(t, 0, "", "write", "-field=token", "auth/approle/login", "role_id=rid", "secret_id=sid")
	if r.stdout != "tok-2" {
		t.Fatalf("write -field=token = %q", r.stdout)
	}
}
