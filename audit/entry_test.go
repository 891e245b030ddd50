package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"coffer/engines"
)

// formatFor formats in as the device with opts would and decodes the JSON.
func formatFor(t *testing.T, opts map[string]string, salt []byte, in *Input, typ string) map[string]any {
	t.Helper()
	o := map[string]string{"file_path": "x"}
	for k, v := range opts {
		o[k] = v
	}
	parsed, err := parseOptions(DeviceConfig{Type: "file", Options: o})
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(DeviceConfig{Type: "file", Name: "t/"}, parsed, salt, nil)
	t.Cleanup(func() { _ = d.close() })
	body, err := d.form.format(in, typ)
	if err != nil {
		t.Fatalf("format: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(append(body, '}'), &m); err != nil {
		t.Fatalf("entry is not JSON: %v", err)
	}
	return m
}

// field walks a dotted path through decoded JSON.
func field(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func refHMAC(salt []byte, s string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(s))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

func TestHasherMatchesCryptoHMAC(t *testing.T) {
	for _, saveStates := range []bool{true, false} {
		for _, n := range []int{16, 32, 64, 65, 200} {
			key := make([]byte, n)
			for i := range key {
				key[i] = byte(i * 7)
			}
			h := newHasherWith(key, saveStates)
			if h.states != saveStates {
				t.Fatalf("states = %v, want %v", h.states, saveStates)
			}
			for _, s := range []string{"", "a", "hunter2", strings.Repeat("x", 255), strings.Repeat("y", 256), strings.Repeat("z", 1000)} {
				if got, want := h.hashString(s), refHMAC(key, s); got != want {
					t.Fatalf("key %d, %q: got %s want %s", n, s, got, want)
				}
				var sum [sha256.Size]byte
				if !h.sum(&sum, []byte(s[:len(s)/2]), []byte(s[len(s)/2:])) || hmacPrefix+hex.EncodeToString(sum[:]) != refHMAC(key, s) {
					t.Fatalf("key %d, %q: sum differs", n, s)
				}
				hs, ok := h.session()
				if !ok {
					t.Fatal("no session")
				}
				got := string(hs.appendBytes(hs.appendString(nil, s), []byte(s)))
				hs.close()
				if want := `"` + refHMAC(key, s) + `""` + refHMAC(key, s) + `"`; got != want {
					t.Fatalf("key %d, %q: session got %s want %s", n, s, got, want)
				}
			}
			h.zero()
			if got := h.hashString("a"); got != redactedUnavailable {
				t.Fatalf("after zero: %s", got)
			}
			var sum [sha256.Size]byte
			if h.sum(&sum, []byte("a")) {
				t.Fatal("sum after zero")
			}
			if _, ok := h.session(); ok {
				t.Fatal("session after zero")
			}
			if got := string((&hmacSession{}).appendString(nil, "a")); got != `"`+redactedUnavailable+`"` {
				t.Fatalf("zero session: %s", got)
			}
			for _, b := range append(append([]byte{}, h.inner...), h.outer...) {
				if b != 0 {
					t.Fatal("key state not zeroed")
				}
			}
		}
	}
}

// TestHasherZeroWaitsForSessions checks that zero waits for an open
// session (an entry being formatted) instead of wiping the key under it.
func TestHasherZeroWaitsForSessions(t *testing.T) {
	key := make([]byte, 32)
	h := newHasher(key)
	hs, ok := h.session()
	if !ok {
		t.Fatal("no session")
	}
	zeroed := make(chan struct{})
	go func() {
		h.zero()
		close(zeroed)
	}()
	// zero is blocked on the session: the hash is still right.
	if got, want := hs.hashString("v"), refHMAC(key, "v"); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	select {
	case <-zeroed:
		t.Fatal("zero did not wait for the open session")
	default:
	}
	hs.close()
	<-zeroed
	if got := h.hashString("v"); got != redactedUnavailable {
		t.Fatalf("after zero: %s", got)
	}
}

func TestFormatRedaction(t *testing.T) {
	salt := testSalt(t)
	H := func(s string) string { return refHMAC(salt, s) }
	type check struct {
		path string
		want any
	}
	tests := []struct {
		name   string
		opts   map[string]string
		typ    string
		modify func(in *Input)
		checks []check
	}{
		{
			name: "request defaults",
			typ:  typeRequest,
			checks: []check{
				{"type", "request"},
				{"time", "2025-01-02T03:04:06Z"},
				{"request.path", "secret/data/app"},
				{"request.operation", "read"},
				{"request.mount_type", "kv"},
				{"request.mount_point", "secret/"},
				{"request.mount_accessor", "kv_1234"},
				{"request.remote_address", "127.0.0.1"},
				{"request.remote_port", float64(51234)},
				{"request.namespace.id", "root"},
				{"request.id", "req-1"},
				{"request.client_token", H("s.clienttoken")},
				{"request.client_token_accessor", H("tokenaccessor")},
				{"request.data.version", H("1")},
				{"auth.client_token", H("s.clienttoken")},
				{"auth.accessor", H("tokenaccessor")},
				{"auth.display_name", "token-app"},
				{"auth.token_type", "service"},
				{"auth.token_ttl", float64(3600)},
				{"auth.token_issue_time", "2025-01-02T03:04:05Z"},
				{"response", nil},
			},
		},
		{
			name: "hmac_accessor off",
			opts: map[string]string{"hmac_accessor": "false"},
			typ:  typeRequest,
			checks: []check{
				{"request.client_token_accessor", "tokenaccessor"},
				{"auth.accessor", "tokenaccessor"},
				{"request.client_token", H("s.clienttoken")},
			},
		},
		{
			name: "nested data: strings and client numbers hashed; keys, Go numbers and bools kept",
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Response.Data = map[string]any{
					"data": map[string]any{
						"list":  []any{"a", json.Number("7"), true, map[string]any{"deep": "d"}},
						"strs":  []string{"s1"},
						"mss":   map[string]string{"k": "v"},
						"bytes": []byte("raw"),
						"n":     42,
						"nil":   nil,
						"when":  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
						"st": struct {
							Field string
							N     int
						}{"sv", 5},
					},
				}
			},
			checks: []check{
				{"response.data.data.strs", []any{H("s1")}},
				{"response.data.data.mss.k", H("v")},
				{"response.data.data.bytes", H("raw")},
				{"response.data.data.n", float64(42)},
				{"response.data.data.when", "2025-01-01T00:00:00Z"},
				{"response.data.data.st.Field", H("sv")},
				{"response.data.data.list", []any{H("a"), H("7"), true, map[string]any{"deep": H("d")}}},
				{"response.data.data.st.N", float64(5)},
				{"response.mount_type", "kv"},
			},
		},
		{
			name: "lease id and response auth",
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Response.Secret = &engines.Secret{LeaseID: "database/creds/ro/abc"}
				in.Response.Auth = &engines.Auth{ClientToken: "s.newtoken", Accessor: "newacc", Policies: []string{"p"}, LeaseDuration: time.Minute,
					Metadata: map[string]string{"role": "r1"}}
			},
			checks: []check{
				{"response.secret.lease_id", H("database/creds/ro/abc")},
				{"response.auth.client_token", H("s.newtoken")},
				{"response.auth.accessor", H("newacc")},
				{"response.auth.policies", []any{"p"}},
				{"response.auth.token_ttl", float64(60)},
				{"response.auth.metadata.role", H("r1")},
			},
		},
		{
			name: "log_raw logs everything as is",
			opts: map[string]string{"log_raw": "true"},
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Response.Secret = &engines.Secret{LeaseID: "lease"}
			},
			checks: []check{
				{"request.client_token", "s.clienttoken"},
				{"request.client_token_accessor", "tokenaccessor"},
				{"response.data.data.password", "hunter2"},
				{"response.secret.lease_id", "lease"},
			},
		},
		{
			name: "Sensitive forces hashing under log_raw",
			opts: map[string]string{"log_raw": "true"},
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Sensitive = true
				in.Response.Data = map[string]any{"keys": []any{"unseal-share"}, "root_token": "s.root"}
			},
			checks: []check{
				{"request.client_token", H("s.clienttoken")},
				{"response.data.keys", []any{H("unseal-share")}},
				{"response.data.root_token", H("s.root")},
			},
		},
		{
			name: "a new token is hashed under log_raw",
			opts: map[string]string{"log_raw": "true"},
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Response.Auth = &engines.Auth{ClientToken: "s.login", Accessor: "acc"}
			},
			checks: []check{
				{"response.auth.client_token", H("s.login")},
				{"response.auth.accessor", H("acc")},
			},
		},
		{
			name: "elide_list_responses on a list",
			opts: map[string]string{"elide_list_responses": "true"},
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Request.Operation = engines.ListOperation
				in.Response.Data = map[string]any{"keys": []string{"a", "b", "c"}, "key_info": map[string]any{"a": 1}, "other": "x"}
			},
			checks: []check{
				{"response.data.keys", float64(3)},
				{"response.data.key_info", float64(1)},
				{"response.data.other", H("x")},
			},
		},
		{
			name: "elide_list_responses leaves reads alone",
			opts: map[string]string{"elide_list_responses": "true"},
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Response.Data = map[string]any{"keys": []string{"a"}}
			},
			checks: []check{{"response.data.keys", []any{H("a")}}},
		},
		{
			name: "list keys hashed without elision",
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Request.Operation = engines.ListOperation
				in.Response.Data = map[string]any{"keys": []string{"a"}}
			},
			checks: []check{{"response.data.keys", []any{H("a")}}},
		},
		{
			name: "errors: client-safe message, echoed values scrubbed",
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Request.Data = map[string]any{"ttl": "notaduration"}
				in.Response = nil
				in.Err = engines.BadRequest("error converting input for field %q: parsing %q", "ttl", "notaduration")
			},
			checks: []check{
				{"error", `error converting input for field "ttl": parsing "` + H("notaduration") + `"`},
				{"response.mount_type", "kv"},
			},
		},
		{
			name: "internal errors are never detailed",
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Response = nil
				in.Err = errString("disk path /var/secret failed")
			},
			checks: []check{{"error", "internal error"}},
		},
		{
			name: "warnings scrubbed",
			typ:  typeResponse,
			modify: func(in *Input) {
				in.Response.Warnings = []string{"value hunter2 was ignored"}
			},
			checks: []check{{"response.warnings", []any{"value " + H("hunter2") + " was ignored"}}},
		},
		{
			name: "unauthenticated request",
			typ:  typeRequest,
			modify: func(in *Input) {
				in.Token = nil
				in.Request.ClientToken = ""
				in.Request.Data = map[string]any{"password": "pw"}
			},
			checks: []check{
				{"auth", nil},
				{"request.client_token", nil},
				{"request.data.password", H("pw")},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput()
			if tc.modify != nil {
				tc.modify(in)
			}
			got := formatFor(t, tc.opts, salt, in, tc.typ)
			for _, c := range tc.checks {
				if g := field(got, c.path); !jsonEqual(g, c.want) {
					t.Errorf("%s = %#v, want %#v", c.path, g, c.want)
				}
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestFormatDoesNotModifyInput(t *testing.T) {
	in := testInput()
	in.Request.Operation = engines.ListOperation
	in.Response.Data = map[string]any{"keys": []string{"a"}, "m": map[string]any{"x": "y"}}
	before, _ := json.Marshal(in.Response.Data)
	beforeReq, _ := json.Marshal(in.Request.Data)
	formatFor(t, map[string]string{"elide_list_responses": "true"}, testSalt(t), in, typeResponse)
	formatFor(t, nil, testSalt(t), in, typeResponse)
	after, _ := json.Marshal(in.Response.Data)
	afterReq, _ := json.Marshal(in.Request.Data)
	if string(before) != string(after) || string(beforeReq) != string(afterReq) {
		t.Fatalf("input modified: %s -> %s", before, after)
	}
}

func TestFormatUnloggableValueFails(t *testing.T) {
	in := testInput()
	in.Response.Data = map[string]any{"ch": make(chan int)}
	o, _ := parseOptions(DeviceConfig{Type: "file", Options: map[string]string{"file_path": "x"}})
	d := newDevice(DeviceConfig{Type: "file", Name: "t/"}, o, testSalt(t), nil)
	t.Cleanup(func() { _ = d.close() })
	if _, err := d.form.format(in, typeResponse); err == nil {
		t.Fatal("want an error for a value JSON cannot encode")
	}
}
