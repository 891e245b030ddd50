package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOperatorRaftJoin(t *testing.T) {
	f := mustRaftFake(t)
	ca := mustWriteFile(t, "ca.pem", "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
	key := mustWriteFile(t, "client.key", "-----BEGIN PRIVATE KEY-----\nK\"\\\x01\n-----END PRIVATE KEY-----\n")

	r := f.mustCLI(t, 0, "", "operator", "raft", "join", "-retry", "-leader-ca-cert=@"+ca,
		"-leader-client-cert=INLINE-CERT", "-leader-client-key=@"+key, "-leader-tls-servername=leader.coffer", "https://10.0.0.1:8200")
	if r.stdout != "Key       Value\n---       -----\nJoined    true\n" {
		t.Fatalf("join output = %q", r.stdout)
	}
	req := f.last(t)
	want := map[string]any{
		"leader_api_addr": "https://10.0.0.1:8200", "leader_ca_cert": "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
		"leader_client_cert": "INLINE-CERT", "leader_client_key": "-----BEGIN PRIVATE KEY-----\nK\"\\\x01\n-----END PRIVATE KEY-----\n",
		"leader_tls_servername": "leader.coffer", "retry": true, "non_voter": false,
	}
	if req.Method != "POST" || req.Path != "sys/storage/raft/join" || req.Token != "root-token" || !reflect.DeepEqual(req.Body, want) {
		t.Fatalf("join request = %s %s %v", req.Method, req.Path, req.Body)
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Fatalf("join printed the client key")
	}

	r = f.mustCLI(t, 0, "", "operator", "raft", "join", "-format=json", "-non-voter", "https://10.0.0.1:8200")
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["joined"] != true {
		t.Fatalf("join json = %s (%v)", r.stdout, err)
	}
	if b := f.last(t).Body; b["non_voter"] != true || b["leader_client_key"] != "" || b["leader_tls_servername"] != nil {
		t.Fatalf("join body = %v", b)
	}

	f.mu.Lock()
	f.failJoin = true
	f.mu.Unlock()
	r = f.mustCLI(t, 2, "", "operator", "raft", "join", "https://10.0.0.1:8200")
	if !strings.HasPrefix(r.stderr, "Error joining the node to the Raft cluster: ") || !strings.Contains(r.stderr, "leader unreachable") {
		t.Fatalf("join error stderr = %s", r.stderr)
	}

	n := len(f.requests(false))
	f.mustCLI(t, 1, "", "operator", "raft", "join", "-leader-ca-cert=@"+filepath.Join(t.TempDir(), "missing"), "https://x")
	f.mustCLI(t, 1, "", "operator", "raft", "join", "a", "b")
	if len(f.requests(false)) != n {
		t.Fatalf("a usage error sent a request")
	}
}

func TestEncodeJoinBody(t *testing.T) {
	tests := []struct {
		name string
		body raftJoinBody
		key  string
	}{
		{"empty", raftJoinBody{}, ""},
		{"pem", raftJoinBody{LeaderAPIAddr: "https://a:8200", Retry: true}, "-----BEGIN KEY-----\nabc+/=\n-----END KEY-----\n"},
		{"escapes", raftJoinBody{LeaderCACert: "x"}, "q\"b\\s\t\r\x00\x1f<>&é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := encodeJoinBody(tt.body, []byte(tt.key))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("invalid json %q: %v", raw, err)
			}
			if got["leader_client_key"] != tt.key || got["leader_api_addr"] != tt.body.LeaderAPIAddr || got["retry"] != tt.body.Retry {
				t.Fatalf("decoded %v", got)
			}
		})
	}
	if _, err := encodeJoinBody(raftJoinBody{}, []byte{0xff}); err == nil {
		t.Fatal("invalid UTF-8 key accepted")
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c\n\x00\x7f", "é✓\u2028"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if !utf8.Valid(s) {
			return
		}
		buf := make([]byte, 0, 2+6*len(s))
		out := appendJSONString(buf, s)
		if len(s) > 0 && &out[0] != &buf[:1][0] {
			t.Fatalf("appendJSONString reallocated")
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil || got != string(s) {
			t.Fatalf("round trip of %q: %q, %v", s, got, err)
		}
	})
}

func TestOperatorRaftListPeers(t *testing.T) {
	f := mustRaftFake(t)
	r := f.mustCLI(t, 0, "", "operator", "raft", "list-peers")
	want := "Node    Address          State       Voter\n" +
		"----    -------          -----       -----\n" +
		"n1      10.0.0.1:8201    leader      true\n" +
		"n2      10.0.0.2:8201    follower    true\n" +
		"n3      10.0.0.3:8201    follower    false\n"
	if r.stdout != want {
		t.Fatalf("list-peers output:\n%s\nwant:\n%s", r.stdout, want)
	}
	if req := f.last(t); req.Method != "GET" || req.Path != "sys/storage/raft/configuration" {
		t.Fatalf("list-peers request = %+v", req)
	}
	r = f.mustCLI(t, 0, "", "operator", "raft", "list-peers", "-format=json")
	var s struct {
		RequestID string `json:"request_id"`
		Data      struct {
			Config struct {
				Servers []map[string]any `json:"servers"`
			} `json:"config"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.RequestID != "req-1" || len(s.Data.Config.Servers) != 3 ||
		s.Data.Config.Servers[0]["node_id"] != "n1" {
		t.Fatalf("list-peers json = %s (%v)", r.stdout, err)
	}
	f.mustCLI(t, 1, "", "operator", "raft", "list-peers", "extra")
}

func TestParseRaftPeers(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []raftPeer
		err  bool
	}{
		{"ok", `{"config":{"servers":[{"node_id":"a","address":"x:1","leader":true,"voter":true}]}}`,
			[]raftPeer{{NodeID: "a", Address: "x:1", Leader: true, Voter: true}}, false},
		{"empty", `{"config":{"servers":[]}}`, []raftPeer{}, false},
		{"odd types", `{"config":{"servers":[{"node_id":1,"leader":"yes"}]}}`, []raftPeer{{}}, false},
		{"no config", `{}`, nil, true},
		{"servers not a list", `{"config":{"servers":{}}}`, nil, true},
		{"server not an object", `{"config":{"servers":[1]}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var data map[string]any
			if err := json.Unmarshal([]byte(tt.json), &data); err != nil {
				t.Fatal(err)
			}
			got, err := parseRaftPeers(data)
			if (err != nil) != tt.err || (err != nil && !errors.Is(err, errBadPeers)) {
				t.Fatalf("err = %v", err)
			}
			if !tt.err && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseRaftPeers(f *testing.F) {
	f.Add([]byte(`{"config":{"servers":[{"node_id":"a","address":"x:1","leader":true,"voter":true}]}}`))
	f.Add([]byte(`{"config":{"servers":[null,1,"x"]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var data map[string]any
		if json.Unmarshal(raw, &data) != nil {
			return
		}
		_, _ = parseRaftPeers(data) // must not panic
	})
}

func TestOperatorRaftRemovePeer(t *testing.T) {
	f := mustRaftFake(t)
	r := f.mustCLI(t, 0, "", "operator", "raft", "remove-peer", "n3")
	if r.stdout != "Peer removed successfully!\n" {
		t.Fatalf("remove-peer output = %q", r.stdout)
	}
	if req := f.last(t); req.Method != "POST" || req.Path != "sys/storage/raft/remove-peer" ||
		!reflect.DeepEqual(req.Body, map[string]any{"server_id": "n3"}) {
		t.Fatalf("remove-peer request = %+v", req)
	}
	r = f.mustCLI(t, 2, "", "operator", "raft", "remove-peer", "n3")
	if !strings.HasPrefix(r.stderr, "Error removing the peer from raft cluster: ") || !strings.Contains(r.stderr, "no such server") {
		t.Fatalf("remove-peer error = %s", r.stderr)
	}
	f.mustCLI(t, 1, "", "operator", "raft", "remove-peer")
	f.mustCLI(t, 1, "", "operator", "raft", "remove-peer", " ")
	f.mustCLI(t, 1, "", "operator", "raft", "remove-peer", "a", "b")
}

func TestOperatorRaftAutopilotState(t *testing.T) {
	f := mustRaftFake(t)
	r := f.mustCLI(t, 0, "", "operator", "raft", "autopilot", "state")
	if req := f.last(t); req.Method != "GET" || req.Path != "sys/storage/raft/autopilot/state" {
		t.Fatalf("state request = %+v", req)
	}
	for _, s := range []string{
		"Healthy:                         true\nFailure Tolerance:               0\nLeader:                          n1\n",
		"Voters:\n   n1\n   n2\nNon Voters:\n   n3\nServers:\n   n1\n",
		"   n2\n      Name:              n2\n      Address:           10.0.0.2:8201\n      Status:            voter\n" +
			"      Node Status:       alive\n      Healthy:           true\n      Last Contact:      1.2s\n" +
			"      Last Term:         3\n      Last Index:        120\n      Version:           0.1.0\n   n3\n",
		"      Status:            non-voter\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("state output lacks %q:\n%s", s, r.stdout)
		}
	}
	r = f.mustCLI(t, 0, "", "operator", "raft", "autopilot", "state", "-format=json")
	var st struct {
		Healthy bool
		Leader  string
		Servers map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Healthy || st.Leader != "n1" || st.Servers["n3"].Status != "non-voter" {
		t.Fatalf("state json = %s (%v)", r.stdout, err)
	}
	f.mu.Lock()
	f.stateEmpty = true
	f.mu.Unlock()
	r = f.mustCLI(t, 2, "", "operator", "raft", "autopilot", "state")
	if !strings.HasPrefix(r.stderr, "Error checking autopilot state: ") {
		t.Fatalf("state 404 stderr = %s", r.stderr)
	}
}

func TestOperatorRaftAutopilotConfig(t *testing.T) {
	f := mustRaftFake(t)
	r := f.mustCLI(t, 0, "", "operator", "raft", "autopilot", "get-config")
	want := "Key                                   Value\n" +
		"---                                   -----\n" +
		"Cleanup Dead Servers                  false\n" +
		"Last Contact Threshold                10s\n" +
		"Dead Server Last Contact Threshold    24h0m0s\n" +
		"Server Stabilization Time             10s\n" +
		"Min Quorum                            0\n" +
		"Max Trailing Logs                     1000\n" +
		"Disable Upgrade Migration             false\n"
	if r.stdout != want {
		t.Fatalf("get-config output:\n%s", r.stdout)
	}
	if req := f.last(t); req.Method != "GET" || req.Path != "sys/storage/raft/autopilot/configuration" {
		t.Fatalf("get-config request = %+v", req)
	}

	r = f.mustCLI(t, 0, "", "operator", "raft", "autopilot", "set-config", "-cleanup-dead-servers",
		"-dead-server-last-contact-threshold=10m", "-min-quorum=3", "-max-trailing-logs=500")
	if r.stdout != "" {
		t.Fatalf("set-config output = %q", r.stdout)
	}
	req := f.last(t)
	wantBody := map[string]any{"cleanup_dead_servers": true, "dead_server_last_contact_threshold": "10m0s",
		"min_quorum": json.Number("3"), "max_trailing_logs": json.Number("500")}
	if req.Method != "POST" || req.Path != "sys/storage/raft/autopilot/configuration" || !reflect.DeepEqual(req.Body, wantBody) {
		t.Fatalf("set-config request = %s %s %v", req.Method, req.Path, req.Body)
	}
	f.mustCLI(t, 0, "", "operator", "raft", "autopilot", "set-config", "-cleanup-dead-servers=false",
		"-last-contact-threshold=5s", "-server-stabilization-time=1m")
	wantBody = map[string]any{"cleanup_dead_servers": false, "last_contact_threshold": "5s", "server_stabilization_time": "1m0s"}
	if b := f.last(t).Body; !reflect.DeepEqual(b, wantBody) {
		t.Fatalf("set-config body = %v", b)
	}

	r = f.mustCLI(t, 0, "", "operator", "raft", "autopilot", "get-config", "-format=json")
	var conf map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &conf); err != nil {
		t.Fatalf("get-config json: %v\n%s", err, r.stdout)
	}
	if conf["cleanup_dead_servers"] != false || conf["min_quorum"] != float64(3) || conf["last_contact_threshold"] != "5s" ||
		conf["dead_server_last_contact_threshold"] != "10m0s" || conf["max_trailing_logs"] != float64(500) {
		t.Fatalf("get-config json = %v", conf)
	}

	n := len(f.requests(false))
	f.mustCLI(t, 1, "", "operator", "raft", "autopilot", "set-config", "-min-quorum=-1")
	f.mustCLI(t, 1, "", "operator", "raft", "autopilot", "set-config", "-last-contact-threshold=soon")
	f.mustCLI(t, 1, "", "operator", "raft", "autopilot", "get-config", "extra")
	if len(f.requests(false)) != n {
		t.Fatalf("a usage error sent a request")
	}
}

func TestOperatorStepDown(t *testing.T) {
	f := mustRaftFake(t)
	r := f.mustCLI(t, 0, "", "operator", "step-down")
	if r.stdout != "Success! Stepped down: "+f.URL+"\n" {
		t.Fatalf("step-down output = %q", r.stdout)
	}
	if req := f.last(t); req.Method != "PUT" || req.Path != "sys/step-down" {
		t.Fatalf("step-down request = %+v", req)
	}
	f.mustCLI(t, 1, "", "operator", "step-down", "extra")
	// A server that refuses: the API error on stderr, exit 2.
	g := mustFakeServer(t) // answers sys/step-down with 404
	r = g.mustCLI(t, 2, "", "operator", "step-down")
	if !strings.HasPrefix(r.stderr, "Error stepping down: ") || !strings.Contains(r.stderr, "Code: 404") {
		t.Fatalf("step-down error = %s", r.stderr)
	}
}

func TestOperatorMembers(t *testing.T) {
	f := mustRaftFake(t)
	r := f.mustCLI(t, 0, "", "operator", "members")
	want := "Host Name    API Address              Cluster Address          Active Node    Version    Upgrade Version    Redundancy Zone    Last Echo\n" +
		"---------    -----------              ---------------          -----------    -------    ---------------    ---------------    ---------\n" +
		"host-a       https://10.0.0.1:8200    https://10.0.0.1:8201    true           0.1.0      n/a                n/a                n/a\n" +
		"host-b       https://10.0.0.2:8200    https://10.0.0.2:8201    false          0.1.0      n/a                n/a                2025-01-02T03:04:05Z\n"
	if r.stdout != want {
		t.Fatalf("members output:\n%s\nwant:\n%s", r.stdout, want)
	}
	if req := f.last(t); req.Method != "GET" || req.Path != "sys/ha-status" {
		t.Fatalf("members request = %+v", req)
	}
	r = f.mustCLI(t, 0, "", "operator", "members", "-format=json")
	var out struct {
		Nodes []struct {
			Hostname   string  `json:"hostname"`
			ActiveNode bool    `json:"active_node"`
			LastEcho   *string `json:"last_echo"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Nodes) != 2 || out.Nodes[0].Hostname != "host-a" ||
		!out.Nodes[0].ActiveNode || out.Nodes[1].LastEcho == nil {
		t.Fatalf("members json = %s (%v)", r.stdout, err)
	}
}

func TestOperatorRaftHelp(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"operator", "-h"}, 0, "    raft ", ""},
		{[]string{"operator", "raft"}, 1, "", "Usage: coffer operator raft <subcommand>"},
		{[]string{"operator", "raft", "-h"}, 0, "    remove-peer    Removes a node from the Raft cluster\n", ""},
		{[]string{"operator", "raft", "snapshot", "-h"}, 0, "    inspect ", ""},
		{[]string{"operator", "raft", "autopilot", "-h"}, 0, "    set-config ", ""},
		{[]string{"help", "operator", "raft", "join"}, 0, "", "-leader-tls-servername"},
		{[]string{"operator", "raft", "snapshot", "save", "-h"}, 0, "", "Usage: coffer operator raft snapshot save"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
		})
	}
}
