package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coffer/audit"
	"coffer/cluster"
	"coffer/engines"
	"coffer/engines/kv"
	"coffer/engines/system"
	"coffer/seal"
	apihttp "coffer/transport/http"
)

// stack is a whole single node in one process: Raft storage in a temp dir,
// the barrier, the system backend and the HTTP handler.
type stack struct {
	handler http.Handler
	token   string
}

func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func mustStack(tb testing.TB) *stack {
	tb.Helper()
	return mustStackWith(tb, nil)
}

// mustStackWith builds the stack with the given audit devices enabled.
func mustStackWith(tb testing.TB, devices []audit.DeviceConfig) *stack {
	tb.Helper()
	ctx := context.Background()
	node, err := cluster.Open(ctx, cluster.Config{Dir: tb.TempDir(), NodeID: "bench", BindAddr: freePort(tb), RaftLogLevel: "error"})
	if err != nil {
		tb.Fatalf("open cluster: %v", err)
	}
	tb.Cleanup(func() { node.Close() })
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := node.Bootstrap(wctx); err != nil {
		tb.Fatalf("leader: %v", err)
	}
	sys := system.New(system.Config{
		Barrier:      seal.NewBarrier(node, nil),
		Cluster:      node,
		Factories:    map[string]engines.Factory{"kv": kv.Factory},
		AuditDevices: devices,
	})
	tb.Cleanup(sys.Seal)
	res, err := sys.Init(ctx, system.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		tb.Fatalf("init: %v", err)
	}
	if err := sys.Unseal(ctx, res.Shares[0], false); err != nil {
		tb.Fatalf("unseal: %v", err)
	}
	if err := sys.Mount(ctx, engines.MountEntry{Path: "secret/", Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		tb.Fatalf("mount: %v", err)
	}
	return &stack{handler: apihttp.New(apihttp.Config{Node: sys}), token: res.RootToken}
}

// withPolicyToken writes a policy granting KV v2 access under secret/ and
// switches the stack to a token that holds only it (and default).
func (s *stack) withPolicyToken(tb testing.TB) {
	tb.Helper()
	pol := `{"policy":"path \"secret/data/*\" { capabilities = [\"create\", \"read\", \"update\"] }\npath \"secret/data/admin/*\" { capabilities = [\"deny\"] }\npath \"secret/metadata/+/x\" { capabilities = [\"list\"] }"}`
	if code := s.do(tb, "PUT", "sys/policies/acl/bench", pol); code != http.StatusNoContent {
		tb.Fatalf("write policy: status %d", code)
	}
	req := httptest.NewRequest("POST", "/v1/auth/token/create", strings.NewReader(`{"policies":["bench"]}`))
	req.Header.Set("X-Vault-Token", s.token)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	var out struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Auth.ClientToken == "" {
		tb.Fatalf("create token: %d %s", rec.Code, rec.Body.String())
	}
	s.token = out.Auth.ClientToken
}

func (s *stack) do(tb testing.TB, method, path, body string) int {
	req := httptest.NewRequest(method, "/v1/"+path, strings.NewReader(body))
	req.Header.Set("X-Vault-Token", s.token)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec.Code
}

var value128 = strings.Repeat("v", 128)

// BenchmarkKVv2Put is the single-node write path: an HTTP KV v2 put
// through the handler, the router, the KV engine, the barrier and a Raft
// commit (fsynced) into the FSM, with 1 and 32 concurrent writers.
func BenchmarkKVv2Put(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchPut(b, mustStack(b), clients) })
	}
}

// runClients runs b.N calls of op spread over exactly clients goroutines,
// failing the benchmark on any status other than 200.
func runClients(b *testing.B, clients int, op func(i int64) int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if code := op(i); code != http.StatusOK {
					b.Errorf("status %d", code)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkKVv2Get is the single-node read path: a linearizable KV v2
// read through the handler, with the root token and with a token whose
// policy is checked on every request (the difference is the ACL's cost).
func BenchmarkKVv2Get(b *testing.B) {
	b.Run("token=root", func(b *testing.B) { benchGet(b, mustStack(b), false) })
	b.Run("token=policy", func(b *testing.B) { benchGet(b, mustStack(b), true) })
}

// BenchmarkAudit is the KV v2 read and write paths with one audit file
// device enabled (compare with BenchmarkKVv2Get and BenchmarkKVv2Put).
func BenchmarkAudit(b *testing.B) {
	withFile := func(b *testing.B) *stack {
		return mustStackWith(b, []audit.DeviceConfig{{Type: "file", Name: "file1", Options: map[string]string{"file_path": filepath.Join(b.TempDir(), "audit.log")}}})
	}
	b.Run("op=get/clients=32", func(b *testing.B) { benchGet(b, withFile(b), false) })
	b.Run("op=put/clients=1", func(b *testing.B) { benchPut(b, withFile(b), 1) })
	b.Run("op=put/clients=32", func(b *testing.B) { benchPut(b, withFile(b), 32) })
}

func benchPut(b *testing.B, s *stack, clients int) {
	body := `{"data":{"value":"` + value128 + `"}}`
	b.ResetTimer()
	runClients(b, clients, func(i int64) int {
		return s.do(b, "PUT", fmt.Sprintf("secret/data/k%d", i%1000), body)
	})
}

func benchGet(b *testing.B, s *stack, policyToken bool) {
	body := `{"data":{"value":"` + value128 + `"}}`
	for i := 0; i < 100; i++ {
		if code := s.do(b, "PUT", fmt.Sprintf("secret/data/k%d", i), body); code != http.StatusOK {
			b.Fatalf("seed put: %d", code)
		}
	}
	if policyToken {
		s.withPolicyToken(b)
	}
	b.ResetTimer()
	runClients(b, 32, func(i int64) int {
		return s.do(b, "GET", fmt.Sprintf("secret/data/k%d", i%100), "")
	})
}
