package integration

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

const metricsPolicy = `
path "sys/metrics" {
  capabilities = ["read"]
}
path "sys/pprof/*" {
  capabilities = ["read"]
}
`

// TestMetrics checks sys/metrics (Prometheus text and JSON) and
// sys/pprof on a real process: metrics need a token allowed to read them;
// profiles need sudo, which only root has here.
func TestMetrics(t *testing.T) {
	n := mustStartDevNode(t, "root-metrics")
	ctx := t.Context()
	root := n.Client("root-metrics")
	kv := root.KVv2("secret")
	for _, p := range []string{"app/a", "app/b"} {
		if _, err := kv.Put(ctx, p, map[string]any{"v": p}); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
		if _, err := kv.Get(ctx, p); err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
	}
	base := "http://" + n.Addr + "/v1/"

	status, body := rawRequest(t, http.MethodGet, base+"sys/metrics?format=prometheus", "root-metrics", "", "")
	if status != http.StatusOK {
		t.Fatalf("metrics: %d %s", status, body)
	}
	for _, re := range []string{
		`(?m)^coffer_http_requests_total\{code="200",mount="secret/",operation="read"\} [1-9]`,
		`(?m)^coffer_http_requests_total\{code="200",mount="secret/",operation="(create|update)"\} [1-9]`,
		`(?m)^coffer_http_request_duration_seconds_count\{mount="secret/",operation="read"\} [1-9]`,
		`(?m)^coffer_sealed 0$`,
		`(?m)^coffer_leader 1$`,
		`(?m)^coffer_raft_applied_index [1-9]`,
		`(?m)^coffer_raft_commit_duration_seconds_count [1-9]`,
		`(?m)^coffer_fsm_apply_batch_entries_count [1-9]`,
		`(?m)^coffer_leases 0$`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("metrics lack %s", re)
		}
	}

	status, body = rawRequest(t, http.MethodGet, base+"sys/metrics", "root-metrics", "", "")
	var summary struct {
		Gauges []struct {
			Name  string
			Value float64
		}
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &summary) != nil || len(summary.Gauges) == 0 {
		t.Fatalf("JSON metrics: %d %.300s", status, body)
	}

	if status, _ := rawRequest(t, http.MethodGet, base+"sys/metrics?format=prometheus", "", "", ""); status != http.StatusForbidden {
		t.Errorf("metrics without a token: %d, want 403", status)
	}

	status, body = rawRequest(t, http.MethodGet, base+"sys/pprof/goroutine", "root-metrics", "", "")
	if status != http.StatusOK || len(body) == 0 {
		t.Errorf("pprof goroutine as root: %d, %d bytes", status, len(body))
	}
	status, body = rawRequest(t, http.MethodGet, base+"sys/pprof/goroutine?debug=1", "root-metrics", "", "")
	if status != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("pprof goroutine text as root: %d %.200s", status, body)
	}
	status, body = rawRequest(t, http.MethodGet, base+"sys/pprof/profile?seconds=1", "root-metrics", "", "")
	if status != http.StatusOK || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("one-second CPU profile as root: %d, %d bytes", status, len(body))
	}

	if err := root.Sys().PutPolicyWithContext(ctx, "metrics-read", metricsPolicy); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	sec, err := root.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{Policies: []string{"metrics-read"}})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	tok := sec.Auth.ClientToken
	if status, body := rawRequest(t, http.MethodGet, base+"sys/metrics?format=prometheus", tok, "", ""); status != http.StatusOK || !strings.Contains(body, "coffer_sealed 0") {
		t.Errorf("metrics with read on sys/metrics: %d %.200s", status, body)
	}
	for _, p := range []string{"sys/pprof/goroutine", "sys/pprof/", "sys/pprof/cmdline"} {
		if status, _ := rawRequest(t, http.MethodGet, base+p, tok, "", ""); status != http.StatusForbidden {
			t.Errorf("%s without sudo: %d, want 403", p, status)
		}
	}
}
