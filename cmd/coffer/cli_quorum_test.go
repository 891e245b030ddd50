package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// quorumFake answers the generate-root and rekey endpoints with a
// threshold of 2 and records the requests.
type quorumFake struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []fakeRequest
	started  map[string]bool // by endpoint prefix
	progress map[string]int
	token    string // what generate-root completes with
	otp      string
}

func mustQuorumFake(tb testing.TB) *quorumFake {
	tb.Helper()
	f := &quorumFake{started: map[string]bool{}, progress: map[string]int{},
		token: "hvs.abcdefghijklmnopqrstuvwxyz012345", otp: "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	for _, k := range []string{"COFFER_ADDR", "VAULT_ADDR", "COFFER_TOKEN", "VAULT_TOKEN", "VAULT_FORMAT", "VAULT_CACERT", "VAULT_SKIP_VERIFY", "VAULT_NAMESPACE"} {
		tb.Setenv(k, "")
	}
	tb.Setenv("VAULT_MAX_RETRIES", "0")
	tb.Setenv("HOME", tb.TempDir())
	return f
}

func (f *quorumFake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := fakeRequest{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/v1/")}
	_ = json.NewDecoder(r.Body).Decode(&req.Body)
	f.reqs = append(f.reqs, req)
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	kind, op, _ := strings.Cut(strings.TrimPrefix(req.Path, "sys/"), "/")
	status := func() map[string]any {
		return map[string]any{"started": f.started[kind], "nonce": "n-" + kind, "progress": f.progress[kind],
			"required": 2, "otp_length": 36, "t": 2, "n": 3}
	}
	switch {
	case r.Method == http.MethodDelete:
		f.started[kind], f.progress[kind] = false, 0
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet:
		reply(status())
	case op == "attempt" || op == "init":
		f.started[kind] = true
		st := status()
		if kind == "generate-root" {
			st["otp"] = f.otp
		}
		reply(st)
	case req.Body["nonce"] != "n-"+kind:
		w.WriteHeader(http.StatusBadRequest)
		reply(map[string]any{"errors": []string{"incorrect nonce"}})
	default:
		f.progress[kind]++
		if f.progress[kind] < 2 {
			reply(status())
			return
		}
		f.started[kind], f.progress[kind] = false, 0
		if kind == "generate-root" {
			x := []byte(f.token)
			for i := range x {
				x[i] ^= f.otp[i]
			}
			enc := base64.RawStdEncoding.EncodeToString(x)
			reply(map[string]any{"started": true, "complete": true, "nonce": "n-" + kind, "progress": 2, "required": 2, "encoded_token": enc, "encoded_root_token": enc})
			return
		}
		reply(map[string]any{"complete": true, "nonce": "n-" + kind, "keys": []string{"aa", "bb", "cc"}, "keys_base64": []string{"qg==", "uw==", "zA=="}})
	}
}

func (f *quorumFake) cli(tb testing.TB, stdin string, args ...string) cliResult {
	tb.Helper()
	full := append(append(append([]string{}, args[:2]...), "-address="+f.URL), args[2:]...)
	var out, errb bytes.Buffer
	code := run(full, strings.NewReader(stdin), &out, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func (f *quorumFake) lastReq(tb testing.TB) fakeRequest {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		tb.Fatal("no request")
	}
	return f.reqs[len(f.reqs)-1]
}

func TestOperatorGenerateRoot(t *testing.T) {
	f := mustQuorumFake(t)
	steps := []struct {
		name, stdin string
		args        []string
		code        int
		method      string // of the last request; empty: no request expected to check
		path        string
		out         []string
	}{
		{"init", "", []string{"-init"}, 0, "PUT", "sys/generate-root/attempt", []string{"OTP           0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "Progress      0/2", "One-Time-Password"}},
		{"status", "", []string{"-status"}, 0, "GET", "sys/generate-root/attempt", []string{"Started       true", "OTP Length    36"}},
		{"first key as argument", "", []string{"key-one"}, 0, "PUT", "sys/generate-root/update", []string{"Progress      1/2"}},
		{"second key from stdin", "key-two\n", []string{"-nonce=n-generate-root"}, 0, "PUT", "sys/generate-root/update", []string{"Complete         true", "Encoded Token"}},
		{"cancel", "", []string{"-cancel"}, 0, "DELETE", "sys/generate-root/attempt", []string{"canceled"}},
		{"no key", "", []string{"-nonce=x"}, 1, "", "", nil},
		{"two modes", "", []string{"-init", "-status"}, 1, "", "", nil},
		{"decode without otp", "", []string{"-decode=abc"}, 1, "", "", nil},
		{"pgp key", "", []string{"-init", "-pgp-key=k"}, 1, "", "", nil},
	}
	for _, s := range steps {
		r := f.cli(t, s.stdin, append([]string{"operator", "generate-root"}, s.args...)...)
		if r.code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, r.code, s.code, r.stdout, r.stderr)
		}
		if s.method != "" {
			if req := f.lastReq(t); req.Method != s.method || req.Path != s.path {
				t.Fatalf("%s: last request %s %s, want %s %s", s.name, req.Method, req.Path, s.method, s.path)
			}
		}
		for _, want := range s.out {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("%s: output lacks %q:\n%s", s.name, want, r.stdout)
			}
		}
	}
	for _, req := range f.reqs {
		if req.Path == "sys/generate-root/update" && req.Body["nonce"] != "n-generate-root" {
			t.Fatalf("update without the looked-up nonce: %+v", req)
		}
		if req.Method == "PUT" && req.Path == "sys/generate-root/attempt" && (req.Body["otp"] != "" || req.Body["pgp_key"] != "") {
			t.Fatalf("init body %+v", req.Body)
		}
	}

	// Decode: the encoded token of the completed attempt, with its OTP.
	x := []byte(f.token)
	for i := range x {
		x[i] ^= f.otp[i]
	}
	enc := base64.RawStdEncoding.EncodeToString(x)
	r := f.cli(t, "", "operator", "generate-root", "-decode="+enc, "-otp="+f.otp)
	if r.code != 0 || r.stdout != f.token+"\n" {
		t.Fatalf("decode: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = f.cli(t, "", "operator", "generate-root", "-format=json", "-decode="+enc+"=", "-otp="+f.otp)
	var out map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["token"] != f.token {
		t.Fatalf("decode json (padded input): %q %v", r.stdout, err)
	}
	if r := f.cli(t, "", "operator", "generate-root", "-decode="+enc, "-otp=short"); r.code != 1 {
		t.Fatalf("decode with a wrong OTP: exit %d", r.code)
	}
}

func TestOperatorRekey(t *testing.T) {
	f := mustQuorumFake(t)
	steps := []struct {
		name, stdin string
		args        []string
		code        int
		method      string
		path        string
		out         []string
	}{
		{"init", "", []string{"-init", "-key-shares=3", "-key-threshold=2"}, 0, "PUT", "sys/rekey/init", []string{"Rekey Progress           0/2", "New Shares               3"}},
		{"first key", "", []string{"k1"}, 0, "GET", "sys/rekey/init", []string{"Rekey Progress           1/2"}},
		{"second key", "k2\n", nil, 0, "PUT", "sys/rekey/update", []string{"Key 1: qg==", "Key 3: zA==", "Operation nonce: n-rekey", "key threshold of 2"}},
		{"recovery init", "", []string{"-target=recovery", "-init", "-key-shares=3", "-key-threshold=2"}, 0, "PUT", "sys/rekey-recovery-key/init", nil},
		{"recovery status", "", []string{"-target=recovery", "-status"}, 0, "GET", "sys/rekey-recovery-key/init", []string{"Started                  true"}},
		{"recovery cancel", "", []string{"-target=recovery", "-cancel"}, 0, "DELETE", "sys/rekey-recovery-key/init", []string{"Canceled"}},
		{"unknown target", "", []string{"-target=other", "-status"}, 1, "", "", nil},
		{"backup", "", []string{"-init", "-backup"}, 1, "", "", nil},
		{"not started", "", []string{"k1"}, 2, "", "", nil},
	}
	for _, s := range steps {
		r := f.cli(t, s.stdin, append([]string{"operator", "rekey"}, s.args...)...)
		if r.code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, r.code, s.code, r.stdout, r.stderr)
		}
		if s.method != "" {
			if req := f.lastReq(t); req.Method != s.method || req.Path != s.path {
				t.Fatalf("%s: last request %s %s, want %s %s", s.name, req.Method, req.Path, s.method, s.path)
			}
		}
		for _, want := range s.out {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("%s: output lacks %q:\n%s", s.name, want, r.stdout)
			}
		}
	}
	for _, req := range f.reqs {
		if req.Method == "PUT" && strings.HasSuffix(req.Path, "/init") {
			if req.Body["secret_shares"] != 3.0 || req.Body["secret_threshold"] != 2.0 {
				t.Fatalf("init body %+v", req.Body)
			}
		}
	}
}

// FuzzDecodeEncodedToken: decoding never panics, and a token encoded the
// server's way with an OTP of its length decodes back.
func FuzzDecodeEncodedToken(f *testing.F) {
	f.Add("hvs.abcdefghijklmnopqrstuvwxyz012345", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "PzVHSRMXERYIFCl9IhIMKwUoMz8OJBEgXAIIdQ")
	f.Add("", "", "===")
	f.Fuzz(func(t *testing.T, token, otp, junk string) {
		_, _ = decodeEncodedToken(junk, otp)
		if len(token) != len(otp) {
			return
		}
		x := []byte(token)
		for i := range x {
			x[i] ^= otp[i]
		}
		got, err := decodeEncodedToken(base64.RawStdEncoding.EncodeToString(x), otp)
		if err != nil || got != token {
			t.Fatalf("round trip: %q %v", got, err)
		}
	})
}
