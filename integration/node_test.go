package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// binary is the coffer binary built once for the whole test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coffer-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "coffer")
	build := exec.Command("go", "build", "-o", binary, "coffer/cmd/coffer")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build coffer:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Node is one coffer server process under test.
type Node struct {
	t       testing.TB
	Dir     string // data directory
	Config  string // config file path
	Addr    string // API address, host:port
	cmd     *exec.Cmd
	exited  chan struct{}
	logMu   sync.Mutex
	logBuf  bytes.Buffer
	stopped bool
}

// freeAddr returns a loopback address with a free port, and the next port
// free as well (for the cluster listener). The ports come from below the
// kernel's ephemeral range, so no outgoing connection on this machine is
// ever given one of them: a node restarted on its ports never finds them
// taken by a peer's dial (a TCP self-connect) or another process.
func freeAddr(t testing.TB) string {
	t.Helper()
	lo, hi := portsBelowEphemeral()
	for i := 0; i < 200; i++ {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	t.Fatal("no free port pair")
	return ""
}

// portsBelowEphemeral is the range freeAddr draws from: [10000, the first
// ephemeral port - 1), the ephemeral range read from
// /proc/sys/net/ipv4/ip_local_port_range (Linux's default, 32768, if it
// cannot be read).
func portsBelowEphemeral() (lo, hi int) {
	lo, first := 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lo+1000 {
				first = n
			}
		}
	}
	return lo, first - 1
}

// mustStartNode writes a config for a fresh data directory and starts the
// server; it is stopped at the end of the test.
func mustStartNode(t testing.TB) *Node {
	t.Helper()
	return mustStartNodeWith(t, "")
}

// mustStartNodeWith starts a node whose config has extra appended (audit
// devices, say).
func mustStartNodeWith(t testing.TB, extra string) *Node {
	t.Helper()
	dir := t.TempDir()
	n := &Node{t: t, Dir: filepath.Join(dir, "data"), Config: filepath.Join(dir, "coffer.hcl"), Addr: freeAddr(t)}
	cfg := fmt.Sprintf(`
storage "raft" {
  path    = %q
  node_id = "node1"
  # Small thresholds so tests see snapshots and log compaction happen.
  snapshot_threshold = 16
  snapshot_interval  = "200ms"
  trailing_logs      = 8
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr      = "http://%s"
disable_mlock = true
log_level     = "info"
`, n.Dir, n.Addr, n.Addr) + extra
	if err := os.WriteFile(n.Config, []byte(cfg), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	n.start("server", "-config", n.Config)
	t.Cleanup(n.Stop)
	return n
}

// mustStartDevNode starts `coffer server -dev` with a known root token.
func mustStartDevNode(t testing.TB, rootToken string) *Node {
	t.Helper()
	n := &Node{t: t, Addr: freeAddr(t)}
	n.start("server", "-dev", "-dev-root-token-id="+rootToken, "-dev-listen-address="+n.Addr)
	t.Cleanup(n.Stop)
	return n
}

func (n *Node) start(args ...string) {
	n.t.Helper()
	n.cmd = exec.Command(binary, args...)
	n.cmd.Stdout = &lockedWriter{n}
	n.cmd.Stderr = &lockedWriter{n}
	n.exited = make(chan struct{})
	n.stopped = false
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("start coffer: %v", err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	n.waitListening()
}

type lockedWriter struct{ n *Node }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.n.logMu.Lock()
	defer w.n.logMu.Unlock()
	return w.n.logBuf.Write(p)
}

// Log returns what the process printed so far.
func (n *Node) Log() string {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.logBuf.String()
}

func (n *Node) waitListening() {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			n.t.Fatalf("coffer exited during start:\n%s", n.Log())
		default:
		}
		resp, err := http.Get("http://" + n.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("coffer did not start listening on %s:\n%s", n.Addr, n.Log())
}

// Stop sends SIGTERM and waits for a clean exit.
func (n *Node) Stop() {
	if n.stopped || n.cmd == nil {
		return
	}
	n.stopped = true
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("coffer did not exit within 20s of SIGTERM:\n%s", n.Log())
		return
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		n.t.Errorf("coffer exited with %d after SIGTERM:\n%s", code, n.Log())
	}
}

// Restart stops the process and starts it again on the same config.
func (n *Node) Restart() {
	n.t.Helper()
	n.Stop()
	n.start("server", "-config", n.Config)
}

// Client returns a stock Vault API client for the node, with token set.
func (n *Node) Client(token string) *vault.Client {
	n.t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = "http://" + n.Addr
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		n.t.Fatalf("vault client: %v", err)
	}
	c.SetToken(token)
	return c
}

// mustInitUnseal initialises the node with 5 shares, threshold 3, unseals
// it and returns the shares and root token.
func mustInitUnseal(t testing.TB, n *Node) ([]string, string) {
	t.Helper()
	c := n.Client("")
	ctx := context.Background()
	init, err := c.Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	mustUnseal(t, c, init.KeysB64[:3])
	return init.KeysB64, init.RootToken
}

func mustUnseal(t testing.TB, c *vault.Client, keys []string) {
	t.Helper()
	for i, k := range keys {
		st, err := c.Sys().Unseal(k)
		if err != nil {
			t.Fatalf("unseal with key %d: %v", i+1, err)
		}
		if i < len(keys)-1 && !st.Sealed {
			t.Fatalf("unsealed after only %d keys", i+1)
		}
		if i == len(keys)-1 && st.Sealed {
			t.Fatalf("still sealed after %d keys: %+v", len(keys), st)
		}
	}
}

// statusOf returns the HTTP status of a vault/api error, or 0.
func statusOf(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// rawRequest sends a raw HTTP request and returns status and body.
func rawRequest(t testing.TB, method, url, token, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
