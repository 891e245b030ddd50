package main

import (
	"coffer/cluster"

	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// raftFake extends the shared fake server with the cluster endpoints:
// sys/storage/raft/..., sys/step-down and sys/ha-status. Requests to those
// are recorded in the shared log (raw bodies too, for snapshots);
// everything else goes to the shared fake's handler.
type raftFake struct {
	*fakeServer

	// Guarded by fakeServer.mu.
	raw        map[string][]byte // last raw request body by path
	snapshot   []byte            // what GET .../snapshot streams
	snapAbort  int               // >0: abort the snapshot stream after this many bytes
	peers      []map[string]any
	autopilot  map[string]any
	haNodes    []map[string]any
	failJoin   bool
	stateEmpty bool // answer autopilot state with 404
}

// mustRaftFake starts a raftFake with the CLI environment of mustFakeServer:
// three peers (n1 the leader, n3 a non-voter), a healthy autopilot state
// and two HA nodes.
func mustRaftFake(tb testing.TB) *raftFake {
	tb.Helper()
	f := &raftFake{
		fakeServer: mustFakeServer(tb),
		raw:        map[string][]byte{},
		peers: []map[string]any{
			{"node_id": "n1", "address": "10.0.0.1:8201", "leader": true, "voter": true, "protocol_version": "3"},
			{"node_id": "n2", "address": "10.0.0.2:8201", "leader": false, "voter": true, "protocol_version": "3"},
			{"node_id": "n3", "address": "10.0.0.3:8201", "leader": false, "voter": false, "protocol_version": "3"},
		},
		autopilot: map[string]any{"cleanup_dead_servers": false, "last_contact_threshold": "10s",
			"dead_server_last_contact_threshold": "24h0m0s", "max_trailing_logs": 1000, "min_quorum": 0,
			"server_stabilization_time": "10s", "disable_upgrade_migration": false},
		haNodes: []map[string]any{
			{"hostname": "host-a", "api_address": "https://10.0.0.1:8200", "cluster_address": "https://10.0.0.1:8201",
				"active_node": true, "version": "0.1.0", "last_echo": nil},
			{"hostname": "host-b", "api_address": "https://10.0.0.2:8200", "cluster_address": "https://10.0.0.2:8201",
				"active_node": false, "version": "0.1.0", "last_echo": "2025-01-02T03:04:05Z"},
		},
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.fakeServer.Server = srv
	srv.Start()
	tb.Cleanup(srv.Close)
	return f
}

func (f *raftFake) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	if !strings.HasPrefix(p, "sys/storage/raft/") && p != "sys/step-down" && p != "sys/ha-status" {
		f.fakeServer.serve(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	f.raw[p] = raw
	r.Body = io.NopCloser(bytes.NewReader(raw))
	req := f.record(r)
	method, body := req.Method, req.Body
	switch {
	case p == "sys/storage/raft/join":
		if f.failJoin {
			f.reply(w, 500, map[string]any{"errors": []string{"join failed: leader unreachable"}})
			return
		}
		f.reply(w, 200, map[string]any{"joined": true})
	case p == "sys/storage/raft/configuration" && method == http.MethodGet:
		servers := make([]any, len(f.peers))
		for i, s := range f.peers {
			servers[i] = s
		}
		f.reply(w, 200, map[string]any{"request_id": "req-1", "data": map[string]any{"config": map[string]any{"index": 42, "servers": servers}}})
	case p == "sys/storage/raft/remove-peer":
		for i, s := range f.peers {
			if s["node_id"] == body["server_id"] {
				f.peers = append(f.peers[:i], f.peers[i+1:]...)
				w.WriteHeader(204)
				return
			}
		}
		f.reply(w, 400, map[string]any{"errors": []string{"no such server"}})
	case p == "sys/storage/raft/autopilot/state":
		if f.stateEmpty {
			f.reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		f.reply(w, 200, map[string]any{"data": fakeAutopilotState()})
	case p == "sys/storage/raft/autopilot/configuration" && method == http.MethodGet:
		f.reply(w, 200, map[string]any{"data": f.autopilot})
	case p == "sys/storage/raft/autopilot/configuration":
		for k, v := range body {
			f.autopilot[k] = v
		}
		w.WriteHeader(204)
	case p == "sys/storage/raft/snapshot" && method == http.MethodGet:
		w.Header().Set("Content-Type", "application/octet-stream")
		if f.snapAbort > 0 {
			w.WriteHeader(200)
			_, _ = w.Write(f.snapshot[:f.snapAbort])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection is cut mid-stream
		}
		_, _ = w.Write(f.snapshot)
	case p == "sys/storage/raft/snapshot" || p == "sys/storage/raft/snapshot-force":
		if _, err := cluster.ReadArchive(bytes.NewReader(raw), nil); err != nil {
			f.reply(w, 400, map[string]any{"errors": []string{"invalid snapshot archive"}})
			return
		}
		w.WriteHeader(204)
	case p == "sys/step-down":
		w.WriteHeader(204)
	case p == "sys/ha-status":
		f.reply(w, 200, map[string]any{"nodes": f.haNodes})
	default:
		f.reply(w, 404, map[string]any{"errors": []string{}})
	}
}

// rawBody is the last raw body sent to path.
func (f *raftFake) rawBody(path string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.raw[path]
}

// fakeAutopilotState is a three-server autopilot state in Vault's shape.
func fakeAutopilotState() map[string]any {
	server := func(id string, voter bool) map[string]any {
		status := "voter"
		if !voter {
			status = "non-voter"
		}
		return map[string]any{"id": id, "name": id, "address": "10.0.0." + id[1:] + ":8201", "node_status": "alive",
			"last_contact": "1.2s", "last_term": 3, "last_index": 120, "healthy": true, "stable_since": "2025-01-02T03:04:05Z",
			"status": status, "version": "0.1.0"}
	}
	return map[string]any{"healthy": true, "failure_tolerance": 0, "leader": "n1",
		"voters": []string{"n1", "n2"}, "non_voters": []string{"n3"},
		"servers": map[string]any{"n2": server("n2", true), "n1": server("n1", true), "n3": server("n3", false)}}
}
