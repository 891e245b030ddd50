package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/engines/enginestest"
)

// fakeRequest is one request the fake server saw.
type fakeRequest struct {
	Method string
	Path   string // without /v1/
	Query  string
	Token  string
	Body   map[string]any
}

// kvVersion is one version of a key in the fake KV v2 engine.
type kvVersion struct {
	data      map[string]any
	deleted   bool
	destroyed bool
}

// fakeServer speaks the few Vault endpoints the CLI calls: seal/init/leader,
// sys/mounts, sys/internal/ui/mounts, a KV v2 engine at "secret/" and a KV v1
// engine at "kv1/". It records every request.
type fakeServer struct {
	*httptest.Server

	mu       sync.Mutex
	reqs     []fakeRequest
	sealed   bool
	progress int
	kv2      map[string][]*kvVersion
	kv1      map[string]map[string]any
	mounts   map[string]map[string]any
	noPatch  bool // answer PATCH with 405
	noUIPath bool // answer sys/internal/ui/mounts with 404
}

// mustFakeServer starts a fake server and points the CLI environment at a
// clean state: no address or token variables, an empty HOME.
func mustFakeServer(tb testing.TB) *fakeServer {
	tb.Helper()
	f := &fakeServer{
		kv2: map[string][]*kvVersion{},
		kv1: map[string]map[string]any{},
		mounts: map[string]map[string]any{
			"secret/": {"type": "kv", "accessor": "kv_1234", "description": "key/value secret storage", "options": map[string]any{"version": "2"}},
			"kv1/":    {"type": "kv", "accessor": "kv_5678", "description": "", "options": map[string]any{"version": "1"}},
			"sys/":    {"type": "system", "accessor": "system_0001", "description": "system endpoints"},
		},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	for _, k := range []string{"COFFER_ADDR", "VAULT_ADDR", "COFFER_TOKEN", "VAULT_FORMAT", "VAULT_CACERT", "VAULT_SKIP_VERIFY", "VAULT_NAMESPACE"} {
		tb.Setenv(k, "")
	}
	tb.Setenv("VAULT_TOKEN", "root-token")
	tb.Setenv("VAULT_MAX_RETRIES", "0")
	tb.Setenv("HOME", tb.TempDir())
	return f
}

// requests returns the recorded requests, skipping mount look-ups unless
// withLookups is set.
func (f *fakeServer) requests(withLookups bool) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.reqs {
		if !withLookups && strings.HasPrefix(r.Path, "sys/internal/ui/mounts/") {
			continue
		}
		out = append(out, r)
	}
	return out
}

// last returns the last recorded request other than a mount look-up.
func (f *fakeServer) last(tb testing.TB) fakeRequest {
	tb.Helper()
	rs := f.requests(false)
	if len(rs) == 0 {
		tb.Fatal("no requests recorded")
	}
	return rs[len(rs)-1]
}

// record reads r, appends it to the request log and returns it: the path
// without /v1/, a GET with list=true as LIST, the body decoded as JSON with
// numbers kept as json.Number. The caller holds f.mu.
func (f *fakeServer) record(r *http.Request) fakeRequest {
	body := map[string]any{}
	raw, _ := io.ReadAll(r.Body)
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&body)
	}
	method := r.Method
	if method == http.MethodGet && r.URL.Query().Get("list") == "true" {
		method = "LIST"
	}
	req := fakeRequest{Method: method, Path: strings.TrimPrefix(r.URL.Path, "/v1/"), Query: r.URL.RawQuery,
		Token: r.Header.Get("X-Vault-Token"), Body: body}
	f.reqs = append(f.reqs, req)
	return req
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := f.record(r)
	p, method, body := req.Path, req.Method, req.Body

	switch {
	case p == "sys/seal-status":
		f.reply(w, 200, f.sealStatus())
	case p == "sys/leader":
		if f.sealed {
			f.reply(w, 503, map[string]any{"errors": []string{"Coffer is sealed"}})
			return
		}
		f.reply(w, 200, map[string]any{"ha_enabled": true, "is_self": true, "leader_address": f.URL,
			"leader_cluster_address": "https://127.0.0.1:8201", "raft_committed_index": 42, "raft_applied_index": 42,
			"active_time": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	case p == "sys/init" && method == http.MethodGet:
		f.reply(w, 200, map[string]any{"initialized": true})
	case p == "sys/init":
		f.reply(w, 200, map[string]any{"keys": []string{"aa", "bb", "cc"}, "keys_base64": []string{"qg==", "uw==", "zA=="}, "root_token": "s.root"})
	case p == "sys/unseal":
		if body["reset"] == true {
			f.progress = 0
		} else if body["key"] != "" {
			f.progress++
			if f.progress >= 2 {
				f.sealed, f.progress = false, 0
			}
		}
		f.reply(w, 200, f.sealStatus())
	case p == "sys/seal":
		f.sealed = true
		w.WriteHeader(204)
	case p == "sys/mounts":
		f.reply(w, 200, map[string]any{"data": f.mounts})
	case strings.HasPrefix(p, "sys/mounts/"):
		name := strings.TrimPrefix(p, "sys/mounts/") + "/"
		if method == http.MethodDelete {
			delete(f.mounts, name)
		} else {
			f.mounts[name] = map[string]any{"type": body["type"], "description": body["description"],
				"options": body["options"], "accessor": "kv_new"}
		}
		w.WriteHeader(204)
	case strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		f.uiMount(w, strings.TrimPrefix(p, "sys/internal/ui/mounts/"))
	case p == "secret" || strings.HasPrefix(p, "secret/"):
		f.kv2Route(w, method, strings.TrimPrefix(strings.TrimPrefix(p, "secret"), "/"), r.URL.Query().Get("version"), body)
	case p == "kv1" || strings.HasPrefix(p, "kv1/"):
		f.kv1Route(w, method, strings.TrimPrefix(strings.TrimPrefix(p, "kv1"), "/"), body)
	case p == "forbidden/thing":
		f.reply(w, 403, map[string]any{"errors": []string{"permission denied"}})
	default:
		f.reply(w, 404, map[string]any{"errors": []string{}})
	}
}

func (f *fakeServer) sealStatus() map[string]any {
	return map[string]any{"type": "shamir", "initialized": true, "sealed": f.sealed, "t": 2, "n": 3,
		"progress": f.progress, "nonce": "", "version": "0.1.0", "build_date": "", "storage_type": "raft"}
}

func (f *fakeServer) reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeServer) uiMount(w http.ResponseWriter, p string) {
	if f.noUIPath {
		f.reply(w, 404, map[string]any{"errors": []string{}})
		return
	}
	for _, m := range []string{"secret/", "kv1/"} {
		if p+"/" == m || strings.HasPrefix(p, m) {
			f.reply(w, 200, map[string]any{"data": map[string]any{"path": m, "type": "kv", "options": f.mounts[m]["options"]}})
			return
		}
	}
	f.reply(w, 400, map[string]any{"errors": []string{"no mount for path"}})
}

// versionMeta is the KV v2 metadata of version n (1-based) of vs.
func versionMeta(vs []*kvVersion, n int) map[string]any {
	v := vs[n-1]
	dt := ""
	if v.deleted {
		dt = "2025-01-02T03:04:05Z"
	}
	return map[string]any{"version": n, "created_time": "2025-01-01T00:00:00Z", "deletion_time": dt,
		"destroyed": v.destroyed, "custom_metadata": nil}
}

func (f *fakeServer) kv2Route(w http.ResponseWriter, method, p, version string, body map[string]any) {
	op, key, _ := strings.Cut(p, "/")
	vs := f.kv2[key]
	switch {
	case op == "data" && (method == http.MethodPut || method == http.MethodPost):
		data, _ := body["data"].(map[string]any)
		if opts, _ := body["options"].(map[string]any); opts != nil {
			if cas, ok := opts["cas"].(json.Number); ok {
				if n, _ := cas.Int64(); int(n) != len(vs) {
					f.reply(w, 400, map[string]any{"errors": []string{"check-and-set parameter did not match the current version"}})
					return
				}
			}
		}
		f.kv2[key] = append(vs, &kvVersion{data: data})
		f.reply(w, 200, map[string]any{"data": versionMeta(f.kv2[key], len(f.kv2[key]))})
	case op == "data" && method == http.MethodPatch:
		if f.noPatch {
			f.reply(w, 405, map[string]any{"errors": []string{"unsupported operation"}})
			return
		}
		if len(vs) == 0 {
			f.reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		merged := map[string]any{}
		for k, v := range vs[len(vs)-1].data {
			merged[k] = v
		}
		patch, _ := body["data"].(map[string]any)
		for k, v := range patch {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		f.kv2[key] = append(vs, &kvVersion{data: merged})
		f.reply(w, 200, map[string]any{"data": versionMeta(f.kv2[key], len(f.kv2[key]))})
	case op == "data" && method == http.MethodGet:
		n := len(vs)
		if version != "" {
			n, _ = strconv.Atoi(version)
		}
		if n == 0 || n > len(vs) {
			f.reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		v := vs[n-1]
		if v.deleted || v.destroyed {
			f.reply(w, 404, map[string]any{"data": map[string]any{"data": nil, "metadata": versionMeta(vs, n)}})
			return
		}
		f.reply(w, 200, map[string]any{"data": map[string]any{"data": v.data, "metadata": versionMeta(vs, n)}})
	case op == "data" && method == http.MethodDelete:
		if len(vs) > 0 {
			vs[len(vs)-1].deleted = true
		}
		w.WriteHeader(204)
	case op == "delete" || op == "undelete" || op == "destroy":
		list, _ := body["versions"].([]any)
		for _, raw := range list {
			n, _ := raw.(json.Number).Int64()
			if int(n) < 1 || int(n) > len(vs) {
				continue
			}
			switch op {
			case "delete":
				vs[n-1].deleted = true
			case "undelete":
				vs[n-1].deleted = false
			case "destroy":
				vs[n-1].destroyed, vs[n-1].data = true, nil
			}
		}
		w.WriteHeader(204)
	case op == "metadata" && method == "LIST":
		prefix := strings.TrimSuffix(key, "/")
		if prefix != "" {
			prefix += "/"
		}
		keys := enginestest.Children(f.kv2, prefix)
		if len(keys) == 0 {
			f.reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		f.reply(w, 200, map[string]any{"data": map[string]any{"keys": keys}})
	case op == "metadata" && method == http.MethodGet:
		if vs == nil {
			f.reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		versions := map[string]any{}
		for i := range vs {
			m := versionMeta(vs, i+1)
			delete(m, "version")
			delete(m, "custom_metadata")
			versions[strconv.Itoa(i+1)] = m
		}
		f.reply(w, 200, map[string]any{"data": map[string]any{"current_version": len(vs), "max_versions": 0,
			"cas_required": false, "delete_version_after": "0s", "versions": versions}})
	case op == "metadata" && method == http.MethodDelete:
		delete(f.kv2, key)
		w.WriteHeader(204)
	case op == "metadata":
		if f.kv2[key] == nil {
			f.kv2[key] = []*kvVersion{}
		}
		w.WriteHeader(204)
	default:
		f.reply(w, 404, map[string]any{"errors": []string{}})
	}
}

func (f *fakeServer) kv1Route(w http.ResponseWriter, method, key string, body map[string]any) {
	switch method {
	case http.MethodPut, http.MethodPost:
		f.kv1[key] = body
		w.WriteHeader(204)
	case http.MethodGet:
		d, ok := f.kv1[key]
		if !ok {
			f.reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		f.reply(w, 200, map[string]any{"data": d, "lease_duration": 2764800})
	case http.MethodDelete:
		delete(f.kv1, key)
		w.WriteHeader(204)
	case "LIST":
		keys := []string{}
		for k := range f.kv1 {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		f.reply(w, 200, map[string]any{"data": map[string]any{"keys": keys}})
	}
}

// cliResult is what one CLI invocation produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the whole CLI (as main does) with the given stdin and args
// against the fake server's address.
func (f *fakeServer) runCLI(tb testing.TB, stdin string, args ...string) cliResult {
	tb.Helper()
	// Insert -address right after the command words, before the flags.
	words := 0
	for words < len(args) && !strings.HasPrefix(args[words], "-") && isCommandWord(args[:words+1]) {
		words++
	}
	full := append(append(append([]string{}, args[:words]...), "-address="+f.URL), args[words:]...)
	var out, errb bytes.Buffer
	code := run(full, strings.NewReader(stdin), &out, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// isCommandWord reports whether path names a node of the command tree.
func isCommandWord(path []string) bool {
	node := commandTree()
	for _, w := range path {
		if node.sub == nil {
			return false
		}
		next, ok := node.sub[w]
		if !ok {
			return false
		}
		node = next
	}
	return true
}
