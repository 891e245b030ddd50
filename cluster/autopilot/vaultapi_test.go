package autopilot

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// mustVaultServer serves an Autopilot's state and configuration on Vault's
// paths and returns a stock vault/api client for it.
func mustVaultServer(tb testing.TB, ap *Autopilot) *api.Client {
	tb.Helper()
	var mu sync.Mutex
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, data any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	mux.HandleFunc("GET /v1/sys/storage/raft/autopilot/state", func(w http.ResponseWriter, r *http.Request) {
		reply(w, ap.State())
	})
	mux.HandleFunc("GET /v1/sys/storage/raft/autopilot/configuration", func(w http.ResponseWriter, r *http.Request) {
		reply(w, ap.Config().JSON())
	})
	update := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var body map[string]any
		if err := dec.Decode(&body); err != nil {
			http.Error(w, `{"errors":["bad json"]}`, http.StatusBadRequest)
			return
		}
		c, err := ParseConfigUpdate(ap.Config(), body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{err.Error()}})
			return
		}
		ap.SetConfig(c)
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("PUT /v1/sys/storage/raft/autopilot/configuration", update)
	mux.HandleFunc("POST /v1/sys/storage/raft/autopilot/configuration", update)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)

	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatalf("vault client: %v", err)
	}
	c.SetToken("test")
	return c
}

func TestStateDecodesWithVaultClient(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, testConfig(), append(voters("a", "b", "c"), nonvoters("d", "e")...), map[string]spec{
		"a": {version: "1.0.0"},
		"b": {version: "1.0.0", stale: true, contactAt: 58*time.Second + 800*time.Millisecond},
		"c": {version: "1.0.0", dead: true, stale: true},
		"d": {version: "1.1.0", left: true, stale: true, contactAt: 50 * time.Second},
		"e": {version: "1.1.0", lag: 3},
	})
	e.setTime(time.Minute)
	if err := e.ap.Reconcile(context.Background()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	want := e.ap.State()

	got, err := mustVaultServer(t, e.ap).Sys().RaftAutopilotState()
	if err != nil {
		t.Fatalf("RaftAutopilotState: %v", err)
	}
	if got.Healthy != want.Healthy || got.FailureTolerance != want.FailureTolerance ||
		got.OptimisticFailureTolerance != want.OptimisticFailureTolerance || got.Leader != "a" ||
		!slices.Equal(got.Voters, want.Voters) || !slices.Equal(got.NonVoters, want.NonVoters) {
		t.Fatalf("decoded %+v\nwant %+v", got, want)
	}
	if len(got.Servers) != len(want.Servers) {
		t.Fatalf("decoded %d servers, want %d", len(got.Servers), len(want.Servers))
	}
	for id, w := range want.Servers {
		g := got.Servers[id]
		if g == nil {
			t.Fatalf("server %s missing", id)
		}
		lc, err := time.ParseDuration(g.LastContact)
		if err != nil || lc != w.LastContact {
			t.Errorf("%s: last_contact %q, want %v", id, g.LastContact, w.LastContact)
		}
		ss, err := time.Parse(time.RFC3339Nano, g.StableSince)
		if err != nil || !ss.Equal(w.StableSince) {
			t.Errorf("%s: stable_since %q, want %v", id, g.StableSince, w.StableSince)
		}
		if g.ID != w.ID || g.Name != w.Name || g.Address != w.Address || g.NodeStatus != w.NodeStatus ||
			g.LastTerm != w.LastTerm || g.LastIndex != w.LastIndex || g.Healthy != w.Healthy ||
			g.Status != w.Status || g.Version != w.Version || g.NodeType != w.NodeType {
			t.Errorf("%s: decoded %+v\nwant %+v", id, g, w)
		}
	}
	if b := got.Servers["b"]; b.LastContact != "1.2s" {
		t.Errorf("b: last_contact %q, want Vault's duration form 1.2s", b.LastContact)
	}
}

func TestConfigurationWithVaultClient(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, Config{}, voters("a"), healthy("a"))
	client := mustVaultServer(t, e.ap)

	got, err := client.Sys().RaftAutopilotConfiguration()
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	want := api.AutopilotConfig{
		LastContactThreshold:           10 * time.Second,
		DeadServerLastContactThreshold: 24 * time.Hour,
		MaxTrailingLogs:                1000,
		MinQuorum:                      3,
		ServerStabilizationTime:        10 * time.Second,
	}
	if *got != want {
		t.Fatalf("get = %+v, want %+v", *got, want)
	}

	set := api.AutopilotConfig{
		CleanupDeadServers:             true,
		LastContactThreshold:           5 * time.Second,
		DeadServerLastContactThreshold: 10 * time.Minute,
		MaxTrailingLogs:                250,
		MinQuorum:                      5,
		ServerStabilizationTime:        30 * time.Second,
	}
	if err := client.Sys().PutRaftAutopilotConfiguration(&set); err != nil {
		t.Fatalf("put: %v", err)
	}
	wantCfg := Config{
		CleanupDeadServers:             true,
		LastContactThreshold:           5 * time.Second,
		DeadServerLastContactThreshold: 10 * time.Minute,
		MaxTrailingLogs:                250,
		MinQuorum:                      5,
		ServerStabilizationTime:        30 * time.Second,
		Interval:                       time.Second,
	}
	if c := e.ap.Config(); c != wantCfg {
		t.Fatalf("after put = %+v", c)
	}
	if got, err = client.Sys().RaftAutopilotConfiguration(); err != nil || *got != set {
		t.Fatalf("get after put = %+v, %v", got, err)
	}

	// Vault's own rule: cleanup needs min_quorum >= 3. The stock client
	// sends every field, zeros included; zeros keep the current values.
	bad := api.AutopilotConfig{CleanupDeadServers: true, MinQuorum: 2}
	if err := client.Sys().PutRaftAutopilotConfiguration(&bad); err == nil {
		t.Fatal("put with min_quorum 2 and cleanup succeeded")
	}
	if c := e.ap.Config(); c != wantCfg {
		t.Fatalf("rejected put changed the config: %+v", c)
	}
}
