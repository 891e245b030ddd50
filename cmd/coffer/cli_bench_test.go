package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// benchCall is one request the bench fake saw.
type benchCall struct {
	method, path string
	body         map[string]any
}

// benchFake is a tiny Vault-compatible server for `coffer bench`: KV v2 at
// secret/, KV v1 at kv1/, and canned answers for the token, AppRole,
// database, transit and PKI endpoints. It records every request.
type benchFake struct {
	*httptest.Server

	mu         sync.Mutex
	calls      []benchCall
	kv         map[string]bool   // written KV paths
	mounts     map[string]string // mount path (no slash) -> type
	enableable map[string]bool   // engine types sys/mounts may enable
	fail       map[string]int    // "METHOD path" -> error status to answer
}

// mustBenchFake starts a bench fake and points the CLI environment at it.
func mustBenchFake(tb testing.TB) *benchFake {
	tb.Helper()
	f := &benchFake{
		kv:         map[string]bool{},
		mounts:     map[string]string{"secret": "kv", "kv1": "kv", "database": "database"},
		enableable: map[string]bool{"transit": true, "pki": true},
		fail:       map[string]int{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	for _, k := range []string{"COFFER_ADDR", "VAULT_ADDR", "COFFER_TOKEN", "VAULT_FORMAT", "VAULT_CACERT", "VAULT_SKIP_VERIFY", "VAULT_NAMESPACE"} {
		tb.Setenv(k, "")
	}
	tb.Setenv("VAULT_TOKEN", "root-token")
	tb.Setenv("HOME", tb.TempDir())
	return f
}

func (f *benchFake) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	body := map[string]any{}
	_ = json.Unmarshal(raw, &body)
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, benchCall{method: r.Method, path: p, body: body})
	if r.Header.Get("X-Vault-Token") != "root-token" {
		f.reply(w, 403, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	if code := f.fail[r.Method+" "+p]; code != 0 {
		f.reply(w, code, map[string]any{"errors": []string{"boom"}})
		return
	}
	m := r.Method
	switch {
	case strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		mount := strings.TrimPrefix(p, "sys/internal/ui/mounts/")
		if t, ok := f.mounts[mount]; ok {
			f.reply(w, 200, map[string]any{"data": map[string]any{"type": t, "path": mount + "/"}})
			return
		}
		f.reply(w, 400, map[string]any{"errors": []string{"no mount"}})
	case strings.HasPrefix(p, "sys/mounts/") && m == http.MethodPost:
		kind, _ := body["type"].(string)
		if !f.enableable[kind] {
			f.reply(w, 400, map[string]any{"errors": []string{"plugin not found in the catalog: " + kind}})
			return
		}
		f.mounts[strings.TrimPrefix(p, "sys/mounts/")] = kind
		w.WriteHeader(204)
	case strings.HasPrefix(p, "sys/mounts/") && m == http.MethodDelete:
		delete(f.mounts, strings.TrimPrefix(p, "sys/mounts/"))
		w.WriteHeader(204)
	case strings.HasSuffix(p, "/role-id"):
		f.reply(w, 200, map[string]any{"data": map[string]any{"role_id": "rid"}})
	case strings.HasSuffix(p, "/secret-id"):
		f.reply(w, 200, map[string]any{"data": map[string]any{"secret_id": "sid", "secret_id_accessor": "acc"}})
	case strings.HasSuffix(p, "/login"):
		if body["role_id"] != "rid" || body["secret_id"] != "sid" {
			f.reply(w, 400, map[string]any{"errors": []string{"invalid role or secret ID"}})
			return
		}
		f.reply(w, 200, map[string]any{"auth": map[string]any{"client_token": "tok"}})
	case p == "auth/token/create":
		f.reply(w, 200, map[string]any{"auth": map[string]any{"client_token": "tok"}})
	case strings.HasPrefix(p, "database/creds/"):
		f.reply(w, 200, map[string]any{"lease_id": p + "/lease1", "lease_duration": 3600, "data": map[string]any{"username": "u", "password": "p"}})
	case strings.HasPrefix(p, "secret/data/") || strings.HasPrefix(p, "kv1/"):
		switch m {
		case http.MethodPost, http.MethodPut:
			f.kv[p] = true
			f.reply(w, 200, map[string]any{"data": map[string]any{"version": 1}})
		case http.MethodGet:
			if !f.kv[p] {
				f.reply(w, 404, map[string]any{"errors": []string{}})
				return
			}
			f.reply(w, 200, map[string]any{"data": map[string]any{"data": map[string]any{"value": "x"}}})
		default:
			delete(f.kv, p)
			w.WriteHeader(204)
		}
	case strings.HasPrefix(p, "secret/metadata/") && m == http.MethodDelete:
		delete(f.kv, "secret/data/"+strings.TrimPrefix(p, "secret/metadata/"))
		w.WriteHeader(204)
	default:
		f.reply(w, 200, map[string]any{"data": map[string]any{}})
	}
}

func (f *benchFake) reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// matching returns the recorded calls whose method is method and whose path
// starts with prefix.
func (f *benchFake) matching(method, prefix string) []benchCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []benchCall
	for _, c := range f.calls {
		if c.method == method && strings.HasPrefix(c.path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// sequence is the "METHOD path" of each recorded call, with KV key numbers
// and temporary mount names masked and consecutive repeats collapsed.
func (f *benchFake) sequence() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		p := c.path
		if i := strings.Index(p, benchKeyPrefix); i >= 0 {
			p = p[:i+len(benchKeyPrefix)] + "N"
		}
		if i := strings.Index(p, "coffer-bench-approle-"); i >= 0 {
			rest := p[i+len("coffer-bench-approle-"):]
			_, after, _ := strings.Cut(rest, "/")
			p = p[:i] + "TMP"
			if after != "" {
				p += "/" + after
			}
		}
		s := c.method + " " + p
		if len(out) > 0 && out[len(out)-1] == s {
			continue
		}
		out = append(out, s)
	}
	return out
}

// runBench runs `coffer bench` with args against the fake.
func (f *benchFake) runBench(tb testing.TB, args ...string) cliResult {
	tb.Helper()
	full := append([]string{"bench", "-address=" + f.URL}, args...)
	var out, errb bytes.Buffer
	code := run(full, strings.NewReader(""), &out, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustBenchJSON runs bench with -format=json, expects exit code want and
// decodes the report.
func (f *benchFake) mustBenchJSON(tb testing.TB, want int, args ...string) benchReport {
	tb.Helper()
	r := f.runBench(tb, append([]string{"-format=json"}, args...)...)
	if r.code != want {
		tb.Fatalf("bench %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, want, r.stdout, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		tb.Fatalf("decode report: %v\n%s", err, r.stdout)
	}
	return rep
}

func TestBenchWorkloads(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		prepare  func(f *benchFake)
		op       string                          // "METHOD path-prefix" of the measured operation
		opCount  int                             // times the op is sent (default 20)
		checkOp  func(t *testing.T, c benchCall) // checks one op request
		sequence []string                        // expected calls, repeats collapsed
		prefix   bool                            // sequence is only how the calls start
	}{
		{
			name: "kv-write",
			args: []string{"kv-write"},
			op:   "POST secret/data/coffer-bench/key-",
			checkOp: func(t *testing.T, c benchCall) {
				data, _ := c.body["data"].(map[string]any)
				if v, _ := data["value"].(string); len(v) != 128 {
					t.Errorf("value = %q, want 128 bytes", v)
				}
			},
			sequence: []string{"POST secret/data/coffer-bench/key-N"},
		},
		{
			name: "kv-write v1 value size",
			args: []string{"-mount=kv1", "-kv-version=1", "-value-size=16", "kv-write"},
			op:   "POST kv1/coffer-bench/key-",
			checkOp: func(t *testing.T, c benchCall) {
				if v, _ := c.body["value"].(string); len(v) != 16 {
					t.Errorf("value = %q, want 16 bytes", v)
				}
			},
			sequence: []string{"POST kv1/coffer-bench/key-N"},
		},
		{
			name: "kv-write setup cleans up",
			args: []string{"-setup", "-keys=3", "kv-write"},
			op:   "POST secret/data/coffer-bench/key-",
			sequence: []string{"POST secret/data/coffer-bench/key-N",
				"DELETE secret/metadata/coffer-bench/key-N"},
		},
		{
			name:    "kv-read setup",
			args:    []string{"-setup", "-keys=5", "kv-read"},
			op:      "GET secret/data/coffer-bench/key-",
			opCount: 20,
			sequence: []string{"POST secret/data/coffer-bench/key-N", "GET secret/data/coffer-bench/key-N",
				"DELETE secret/metadata/coffer-bench/key-N"},
		},
		{
			name:     "kv-read no cleanup",
			args:     []string{"-setup", "-no-cleanup", "-keys=5", "kv-read"},
			op:       "GET secret/data/coffer-bench/key-",
			sequence: []string{"POST secret/data/coffer-bench/key-N", "GET secret/data/coffer-bench/key-N"},
		},
		{
			name:     "kv-read v1 setup",
			args:     []string{"-setup", "-keys=5", "-mount=kv1", "-kv-version=1", "kv-read"},
			op:       "GET kv1/coffer-bench/key-",
			sequence: []string{"POST kv1/coffer-bench/key-N", "GET kv1/coffer-bench/key-N", "DELETE kv1/coffer-bench/key-N"},
		},
		{
			name: "token-create",
			args: []string{"-ttl=10m", "token-create"},
			op:   "POST auth/token/create",
			checkOp: func(t *testing.T, c benchCall) {
				if c.body["ttl"] != "10m" || c.body["display_name"] != "coffer-bench" {
					t.Errorf("body = %v", c.body)
				}
			},
			sequence: []string{"POST auth/token/create"},
		},
		{
			name: "approle-login setup",
			args: []string{"-setup", "approle-login"},
			op:   "POST auth/coffer-bench-approle-",
			checkOp: func(t *testing.T, c benchCall) {
				if !strings.HasSuffix(c.path, "/login") {
					return
				}
				if c.body["role_id"] != "rid" || c.body["secret_id"] != "sid" {
					t.Errorf("login body = %v", c.body)
				}
			},
			opCount: -1, // role and secret-id writes share the prefix
			sequence: []string{"POST sys/auth/TMP", "POST auth/TMP/role/coffer-bench", "GET auth/TMP/role/coffer-bench/role-id",
				"POST auth/TMP/role/coffer-bench/secret-id", "POST auth/TMP/login", "DELETE sys/auth/TMP"},
		},
		{
			name:     "approle-login given ids",
			args:     []string{"-role-id=rid", "-secret-id=sid", "approle-login"},
			op:       "POST auth/approle/login",
			sequence: []string{"POST auth/approle/login"},
		},
		{
			name:     "db-creds",
			args:     []string{"-role=ro", "db-creds"},
			op:       "GET database/creds/ro",
			sequence: []string{"GET sys/internal/ui/mounts/database", "GET database/creds/ro"},
		},
		{
			name: "db-creds revoke",
			args: []string{"-role=ro", "-revoke", "-c=1", "db-creds"},
			op:   "PUT sys/leases/revoke",
			checkOp: func(t *testing.T, c benchCall) {
				if c.body["lease_id"] != "database/creds/ro/lease1" {
					t.Errorf("revoke body = %v", c.body)
				}
			},
			sequence: []string{"GET sys/internal/ui/mounts/database", "GET database/creds/ro", "PUT sys/leases/revoke",
				"GET database/creds/ro", "PUT sys/leases/revoke"},
			prefix: true,
		},
		{
			name:    "transit-encrypt on an existing mount",
			args:    []string{"-setup", "-value-size=10", "transit-encrypt"},
			prepare: func(f *benchFake) { f.mounts["transit"] = "transit" },
			op:      "POST transit/encrypt/coffer-bench",
			checkOp: func(t *testing.T, c benchCall) {
				s, _ := c.body["plaintext"].(string)
				if b, err := base64.StdEncoding.DecodeString(s); err != nil || len(b) != 10 {
					t.Errorf("plaintext = %q (%d bytes, %v), want 10 bytes", s, len(b), err)
				}
			},
			sequence: []string{"GET sys/internal/ui/mounts/transit", "POST transit/keys/coffer-bench",
				"POST transit/encrypt/coffer-bench", "POST transit/keys/coffer-bench/config", "DELETE transit/keys/coffer-bench"},
		},
		{
			name: "transit-encrypt setup enables the engine",
			args: []string{"-setup", "-transit-key=k1", "transit-encrypt"},
			op:   "POST transit/encrypt/k1",
			sequence: []string{"GET sys/internal/ui/mounts/transit", "POST sys/mounts/transit", "POST transit/keys/k1",
				"POST transit/encrypt/k1", "DELETE sys/mounts/transit"},
		},
		{
			name: "pki-issue setup enables the engine",
			args: []string{"-setup", "pki-issue"},
			op:   "POST pki/issue/coffer-bench",
			checkOp: func(t *testing.T, c benchCall) {
				if c.body["common_name"] == "" || c.body["ttl"] != "1h" {
					t.Errorf("issue body = %v", c.body)
				}
			},
			sequence: []string{"GET sys/internal/ui/mounts/pki", "POST sys/mounts/pki", "POST pki/root/generate/internal",
				"POST pki/roles/coffer-bench", "POST pki/issue/coffer-bench", "DELETE sys/mounts/pki"},
		},
		{
			name:     "pki-issue existing role",
			args:     []string{"-role=web", "-mount=ca", "pki-issue"},
			prepare:  func(f *benchFake) { f.mounts["ca"] = "pki" },
			op:       "POST ca/issue/web",
			sequence: []string{"GET sys/internal/ui/mounts/ca", "POST ca/issue/web"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustBenchFake(t)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			rep := f.mustBenchJSON(t, 0, append([]string{"-n=20", "-c=4", "-warmup=0"}, tt.args...)...)
			if rep.Ops != 20 || rep.Errors != 0 || rep.FirstError != "" {
				t.Fatalf("report = %+v, want 20 ops and no errors", rep)
			}
			if rep.Workload != tt.args[len(tt.args)-1] {
				t.Errorf("report workload = %q", rep.Workload)
			}
			method, prefix, _ := strings.Cut(tt.op, " ")
			ops := f.matching(method, prefix)
			want := tt.opCount
			if want == 0 {
				want = 20
			}
			if want > 0 && len(ops) != want {
				t.Errorf("%s sent %d times, want %d", tt.op, len(ops), want)
			}
			if tt.checkOp != nil {
				for _, c := range ops {
					tt.checkOp(t, c)
				}
			}
			got := f.sequence()
			if tt.prefix && len(got) > len(tt.sequence) {
				got = got[:len(tt.sequence)]
			}
			if !reflect.DeepEqual(got, tt.sequence) {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(f.sequence(), "\n"), strings.Join(tt.sequence, "\n"))
			}
		})
	}
}

func TestBenchMixedSplitsReadsAndWrites(t *testing.T) {
	f := mustBenchFake(t)
	rep := f.mustBenchJSON(t, 0, "-n=400", "-c=4", "-warmup=0", "-setup", "-keys=5", "kv-mixed")
	if rep.Ops != 400 || rep.Errors != 0 {
		t.Fatalf("report = %+v", rep)
	}
	reads := len(f.matching("GET", "secret/data/"))
	writes := len(f.matching("POST", "secret/data/")) - 5 // minus setup
	if reads+writes != 400 {
		t.Fatalf("reads %d + writes %d != 400", reads, writes)
	}
	// 10% writes: 40 expected; a binomial(400, 0.1) is within [10, 80]
	// with overwhelming probability.
	if writes < 10 || writes > 80 {
		t.Fatalf("writes = %d of 400, want about 40", writes)
	}
}

func TestBenchErrors(t *testing.T) {
	t.Run("all fail", func(t *testing.T) {
		f := mustBenchFake(t)
		f.fail["POST secret/data/coffer-bench/key-0"] = 500
		rep := f.mustBenchJSON(t, exitRemote, "-n=15", "-c=3", "-warmup=0", "-keys=1", "kv-write")
		if rep.Ops != 0 || rep.Errors != 15 {
			t.Fatalf("report = %+v, want 0 ops and 15 errors", rep)
		}
		if want := "POST /v1/secret/data/coffer-bench/key-0: 500: boom"; rep.FirstError != want {
			t.Fatalf("first_error = %q, want %q", rep.FirstError, want)
		}
	})
	t.Run("some fail", func(t *testing.T) {
		f := mustBenchFake(t)
		f.fail["POST secret/data/coffer-bench/key-0"] = 503
		rep := f.mustBenchJSON(t, 0, "-n=200", "-c=4", "-warmup=0", "-keys=2", "kv-write")
		if rep.Ops+rep.Errors != 200 || rep.Ops == 0 || rep.Errors == 0 {
			t.Fatalf("report = %+v, want 200 ops and errors in all, some of each", rep)
		}
		if got := int64(len(f.matching("POST", "secret/data/coffer-bench/key-0"))); got != rep.Errors {
			t.Fatalf("errors = %d, failed requests = %d", rep.Errors, got)
		}
	})
	t.Run("read without setup", func(t *testing.T) {
		f := mustBenchFake(t)
		rep := f.mustBenchJSON(t, exitRemote, "-n=5", "-c=1", "-warmup=0", "kv-read")
		if rep.Errors != 5 || !strings.Contains(rep.FirstError, ": 404") || !strings.Contains(rep.FirstError, "-setup") {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		f := mustBenchFake(t)
		t.Setenv("VAULT_TOKEN", "wrong")
		rep := f.mustBenchJSON(t, exitRemote, "-n=3", "-c=1", "-warmup=0", "token-create")
		if !strings.Contains(rep.FirstError, "403: permission denied") || strings.Contains(rep.FirstError, "wrong") {
			t.Fatalf("first_error = %q", rep.FirstError)
		}
	})
}

func TestBenchPrepareErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		prepare func(f *benchFake)
		want    string
	}{
		{"transit missing", []string{"transit-encrypt"}, nil,
			"no transit engine mounted at transit/ (the server answered 400; -setup enables one; -mount names another)"},
		{"transit unavailable", []string{"-setup", "transit-encrypt"}, func(f *benchFake) { delete(f.enableable, "transit") },
			"enable transit at transit/ (the server may not have this engine): POST /v1/sys/mounts/transit: 400: plugin not found in the catalog: transit"},
		{"pki on a kv mount", []string{"-setup", "-mount=secret", "pki-issue"}, nil,
			`no pki engine mounted at secret/ (it is a "kv" engine; -mount names another)`},
		{"pki without role", []string{"pki-issue"}, func(f *benchFake) { f.mounts["pki"] = "pki" },
			"pki-issue needs -role, or -setup"},
		{"db without role", []string{"db-creds"}, nil, "db-creds needs -role"},
		{"db missing", []string{"-role=ro", "-mount=db2", "db-creds"}, nil, "no database engine mounted at db2/"},
		{"approle without ids", []string{"approle-login"}, nil, "approle-login needs -role-id and -secret-id, or -setup"},
		{"kv setup fails", []string{"-setup", "-keys=1", "kv-read"}, func(f *benchFake) { f.fail["POST secret/data/coffer-bench/key-0"] = 500 },
			"write 1 keys: POST /v1/secret/data/coffer-bench/key-0: 500: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustBenchFake(t)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			r := f.runBench(t, append([]string{"-n=1", "-warmup=0"}, tt.args...)...)
			if r.code != exitRemote || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Fatalf("exit %d, stderr %q, stdout %q; want exit 2 and %q", r.code, r.stderr, r.stdout, tt.want)
			}
		})
	}
}

func TestBenchFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no workload", nil, "Expected one workload, got 0 arguments"},
		{"two workloads", []string{"kv-write", "kv-read"}, "Expected one workload, got 2 arguments"},
		{"unknown workload", []string{"kv-delete"}, `Unknown workload "kv-delete"`},
		{"zero concurrency", []string{"-c=0", "kv-write"}, "-c must be at least 1"},
		{"n and d", []string{"-n=5", "-d=1s", "kv-write"}, "Use -d or -n, not both"},
		{"kv version", []string{"-kv-version=3", "kv-write"}, "-kv-version must be 1 or 2"},
		{"bad format", []string{"-format=yaml", "kv-write"}, "Invalid output format: yaml"},
		{"flag after workload", []string{"kv-write", "-bogus"}, "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustBenchFake(t)
			r := f.runBench(t, tt.args...)
			if r.code != exitLocal || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, tt.want)
			}
			if f.calls != nil {
				t.Fatalf("requests sent: %v", f.sequence())
			}
		})
	}
}

func TestBenchNBoundsOps(t *testing.T) {
	for _, tc := range []struct{ n, c int }{{1, 1}, {37, 4}, {5, 32}} {
		f := mustBenchFake(t)
		// Flags after the workload work too.
		rep := f.mustBenchJSON(t, 0, "token-create", "-n="+strconv.Itoa(tc.n), "-c="+strconv.Itoa(tc.c), "-warmup=0")
		got := len(f.matching("POST", "auth/token/create"))
		if rep.Ops != int64(tc.n) || got != tc.n {
			t.Fatalf("-n=%d -c=%d: report ops %d, server saw %d", tc.n, tc.c, rep.Ops, got)
		}
	}
}

func TestBenchWarmupNotCounted(t *testing.T) {
	t.Run("n", func(t *testing.T) {
		f := mustBenchFake(t)
		rep := f.mustBenchJSON(t, 0, "-n=10", "-c=2", "-warmup=50ms", "token-create")
		got := len(f.matching("POST", "auth/token/create"))
		if rep.Ops != 10 || got <= 10 {
			t.Fatalf("report ops %d, server saw %d; want 10 counted and more sent", rep.Ops, got)
		}
	})
	t.Run("duration", func(t *testing.T) {
		f := mustBenchFake(t)
		rep := f.mustBenchJSON(t, 0, "-d=50ms", "-c=2", "-warmup=50ms", "token-create")
		got := len(f.matching("POST", "auth/token/create"))
		if rep.Ops == 0 || int64(got) <= rep.Ops {
			t.Fatalf("report ops %d, server saw %d; want fewer counted than sent", rep.Ops, got)
		}
		if rep.DurationSeconds < 0.05 {
			t.Fatalf("duration_seconds = %v, want at least the measured 50ms", rep.DurationSeconds)
		}
	})
}

func TestBenchJSONShape(t *testing.T) {
	f := mustBenchFake(t)
	r := f.runBench(t, "-format=json", "-n=3", "-c=1", "-warmup=0", "kv-write")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	want := []string{"concurrency", "duration_seconds", "errors", "first_error", "latency_ms", "ops", "ops_per_second", "workload"}
	if got := keys(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	lat, _ := m["latency_ms"].(map[string]any)
	if got := keys(lat); !reflect.DeepEqual(got, []string{"max", "p50", "p90", "p99"}) {
		t.Fatalf("latency_ms keys = %v", got)
	}
	if lat["p50"].(float64) <= 0 || lat["max"].(float64) < lat["p99"].(float64) || m["ops_per_second"].(float64) <= 0 {
		t.Fatalf("report = %s", r.stdout)
	}
}

func TestBenchTableOutput(t *testing.T) {
	f := mustBenchFake(t)
	r := f.runBench(t, "-n=3", "-c=2", "-warmup=0", "kv-write")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"Key            Value\n", "workload       kv-write\n", "concurrency    2\n", "ops            3\n",
		"ops/s", "latency p50", "latency p99", "latency max", "errors         0\n", "first error    -\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestFormatBenchProgress(t *testing.T) {
	if got := formatBenchProgress(2500e6, true, 0, 0, 0); got != "warming up  2s" {
		t.Errorf("warm-up line = %q", got)
	}
	if got := formatBenchProgress(4200e6, false, 12345, 3012.4, 2); got != "elapsed 4s  ops 12345  ops/s 3012  errors 2" {
		t.Errorf("progress line = %q", got)
	}
}

func TestBenchResponseError(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{200, `{"errors":["x"]}`, ""},
		{204, ``, ""},
		{404, `{"errors":[]}`, "GET /v1/p: 404"},
		{400, `{"errors":["a","b"]}`, "GET /v1/p: 400: a; b"},
		{502, `<html>bad gateway</html>`, "GET /v1/p: 502"},
	}
	for _, tt := range tests {
		err := benchResponseError("GET", "p", tt.status, []byte(tt.body))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("status %d body %q: %q, want %q", tt.status, tt.body, got, tt.want)
		}
	}
}

func FuzzBenchResponseError(f *testing.F) {
	f.Add(400, []byte(`{"errors":["boom"]}`))
	f.Add(500, []byte(`{"errors":null}`))
	f.Add(503, []byte(`{`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		err := benchResponseError("GET", "p", status, body)
		if (err != nil) != (status >= 400) {
			t.Fatalf("status %d: error %v", status, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "GET /v1/p: ") {
			t.Fatalf("error %q", err)
		}
	})
}

func TestBenchFsync(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"bench", "fsync", dir, "-n", "5", "-size", "512", "-format=json"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep benchFsyncReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Dir != dir || rep.Ops != 5 || rep.SizeBytes != 512 || rep.FsyncsPerSecond <= 0 || rep.LatencyMS.Max <= 0 {
		t.Fatalf("report = %+v", rep)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("temp file left behind: %v", ents)
	}

	out.Reset()
	if code := run([]string{"bench", "fsync", "-n=3", dir}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "fsyncs/s") {
		t.Fatalf("table: exit %d\n%s", code, out.String())
	}
	errb.Reset()
	if code := run([]string{"bench", "fsync", dir + "/missing"}, nil, &out, &errb); code != exitLocal || !strings.Contains(errb.String(), "Error measuring fsync") {
		t.Fatalf("missing dir: exit %d, stderr %q", code, errb.String())
	}
	if code := run([]string{"bench", "fsync"}, nil, &out, &errb); code != exitLocal {
		t.Fatalf("no dir: exit %d", code)
	}
}
