package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/cluster"
	"coffer/engines"
	"coffer/engines/kv"
	"coffer/engines/system"
	"coffer/seal"
	apihttp "coffer/transport/http"
)

// countingBackend issues a leased dummy secret on every read of
// creds/<ttl-seconds> and counts revocations: a cheap engine for lease
// volume (the database engine's cost is PostgreSQL's).
type countingBackend struct{ revoked atomic.Int64 }

func (b *countingBackend) HandleRequest(_ context.Context, req *engines.Request) (*engines.Response, error) {
	ttl, err := strconv.Atoi(strings.TrimPrefix(req.Path, "creds/"))
	if err != nil || req.Operation != engines.ReadOperation {
		return nil, engines.ErrUnsupportedPath
	}
	return &engines.Response{
		Data:   map[string]any{"user": "u"},
		Secret: &engines.Secret{LeaseDuration: time.Duration(ttl) * time.Second, Renewable: true, InternalData: map[string]any{"user": "u"}},
	}, nil
}

func (b *countingBackend) RevokeSecret(context.Context, *engines.SecretRequest) error {
	b.revoked.Add(1)
	return nil
}

func (b *countingBackend) RenewSecret(context.Context, *engines.SecretRequest) error { return nil }

// TestLeaseScale issues COFFER_SCALE leases (100,000 for the figures in
// BENCHMARKS.md) expiring across a minute, and measures: the issue rate,
// the foreground KV read latency during the revocation wave, and the
// unseal-to-active time with those leases stored (and with none). It is a
// measurement, run by `make scale`, not part of `make test`.
func TestLeaseScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("COFFER_SCALE"))
	if n <= 0 {
		t.Skip("set COFFER_SCALE=100000 (make scale) to run the lease scale measurement")
	}
	ctx := context.Background()
	node, err := cluster.Open(ctx, cluster.Config{Dir: t.TempDir(), NodeID: "scale", BindAddr: freePort(t), RaftLogLevel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	if err := node.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	backend := &countingBackend{}
	sys := system.New(system.Config{
		Barrier: seal.NewBarrier(node, nil),
		Cluster: node,
		Factories: map[string]engines.Factory{
			"kv":    kv.Factory,
			"count": func(context.Context, *engines.BackendConfig) (engines.Backend, error) { return backend, nil },
		},
	})
	t.Cleanup(sys.Seal)
	res, err := sys.Init(ctx, system.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	share := append([]byte(nil), res.Shares[0]...)
	if err := sys.Unseal(ctx, res.Shares[0], false); err != nil {
		t.Fatal(err)
	}
	emptyUnseal := timeUnseal(t, sys, share)
	for _, m := range []engines.MountEntry{{Path: "secret/", Type: "kv", Options: map[string]string{"version": "2"}}, {Path: "count/", Type: "count"}} {
		if err := sys.Mount(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	s := &stack{handler: apihttp.New(apihttp.Config{Node: sys}), token: res.RootToken}
	if code := s.do(t, "PUT", "secret/data/k", `{"data":{"v":"`+value128+`"}}`); code != http.StatusOK {
		t.Fatalf("kv put: %d", code)
	}

	// Issue n leases with TTLs spread over a minute (60..119 s), 64 at a time.
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				path := fmt.Sprintf("count/creds/%d", 60+i%60)
				if code := s.do(t, "GET", path, ""); code != http.StatusOK {
					t.Errorf("issue %d: status %d", i, code)
					return
				}
			}
		}()
	}
	wg.Wait()
	issue := time.Since(start)
	t.Logf("issued %d leases in %v (%.0f/s)", n, issue.Round(time.Millisecond), float64(n)/issue.Seconds())

	// Unseal-to-active with the leases stored.
	fullUnseal := timeUnseal(t, sys, share)
	t.Logf("unseal to active: %v with 0 leases, %v with %d leases", emptyUnseal, fullUnseal, n)

	// Foreground KV reads while the leases expire.
	var lat []time.Duration
	deadline := time.Now().Add(3 * time.Minute)
	waveStart := time.Now()
	for backend.revoked.Load() < int64(n) && time.Now().Before(deadline) {
		t0 := time.Now()
		req := httptest.NewRequest("GET", "/v1/secret/data/k", nil)
		req.Header.Set("X-Vault-Token", s.token)
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("kv read during the wave: %d", rec.Code)
		}
		if backend.revoked.Load() > 0 {
			lat = append(lat, time.Since(t0))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if got := backend.revoked.Load(); got != int64(n) {
		t.Fatalf("revoked %d of %d leases within the deadline", got, n)
	}
	t.Logf("all %d leases revoked %v after the first issue (wave %v)", n, time.Since(start).Round(time.Second), time.Since(waveStart).Round(time.Second))
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		q := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
		t.Logf("KV reads during the wave: %d, p50 %v, p99 %v, max %v", len(lat), q(0.5), q(0.99), lat[len(lat)-1])
	}
	var count struct {
		Data struct {
			LeaseCount int `json:"lease_count"`
		} `json:"data"`
	}
	req := httptest.NewRequest("GET", "/v1/sys/leases/count", nil)
	req.Header.Set("X-Vault-Token", s.token)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	if err := json.Unmarshal(rec.Body.Bytes(), &count); err != nil || count.Data.LeaseCount != 0 {
		t.Fatalf("leases left: %s", rec.Body.String())
	}
}

// timeUnseal seals the system and measures unseal-to-active.
func timeUnseal(t *testing.T, sys *system.System, share []byte) time.Duration {
	t.Helper()
	sys.Seal()
	key := append([]byte(nil), share...)
	start := time.Now()
	if err := sys.Unseal(context.Background(), key, false); err != nil {
		t.Fatal(err)
	}
	for !sys.Active() {
		time.Sleep(time.Millisecond)
	}
	return time.Since(start).Round(time.Microsecond)
}
