package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

// Cluster harness: n coffer processes on loopback forming one Raft
// cluster, driven only through the Vault HTTP API. Every wait is a poll
// with a deadline.

const (
	clusterShares    = 3
	clusterThreshold = 2
	// clusterWait bounds every wait for the cluster to reach a state.
	clusterWait = 60 * time.Second
)

type nodeState int

const (
	nodeRunning nodeState = iota
	nodePaused            // SIGSTOPped
	nodeDead              // killed or exited
)

// clusterNode is one server of a cluster: the single-node harness's Node
// plus its Raft identity and cluster listener.
type clusterNode struct {
	*Node
	ID          string // Raft node_id
	ClusterAddr string // host:port of the node-to-node listener
	state       nodeState
}

// Cluster is a set of coffer processes joined into one Raft cluster.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex // guards the nodes' process fields and state
	Nodes []*clusterNode
	Keys  []string // unseal key shares, base64
	Token string   // root token
}

// raftServer is one entry of GET sys/storage/raft/configuration.
type raftServer struct {
	NodeID          string `json:"node_id"`
	Address         string `json:"address"`
	Leader          bool   `json:"leader"`
	Voter           bool   `json:"voter"`
	ProtocolVersion string `json:"protocol_version"`
}

// usedPorts are the ports handed out to cluster nodes by this test binary,
// so that two nodes never get overlapping API/cluster port pairs.
var usedPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// freeClusterAddrs returns an API address and a cluster address (the next
// port) that no other node of this run uses.
func freeClusterAddrs(t testing.TB) (api, cluster string) {
	t.Helper()
	usedPorts.Lock()
	defer usedPorts.Unlock()
	for i := 0; i < 100; i++ {
		addr := freeAddr(t)
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if usedPorts.m[port] || usedPorts.m[port+1] {
			continue
		}
		usedPorts.m[port], usedPorts.m[port+1] = true, true
		return addr, fmt.Sprintf("127.0.0.1:%d", port+1)
	}
	t.Fatal("no free port pair for a cluster node")
	return "", ""
}

// newClusterNode writes the config of a fresh node (its own temp dir) and
// returns it, not started. extraStorage goes inside the storage block.
func newClusterNode(t testing.TB, id, extraStorage string) *clusterNode {
	t.Helper()
	dir := t.TempDir()
	api, clus := freeClusterAddrs(t)
	n := &clusterNode{
		Node:        &Node{t: t, Dir: filepath.Join(dir, "data"), Config: filepath.Join(dir, "coffer.hcl"), Addr: api},
		ID:          id,
		ClusterAddr: clus,
		state:       nodeDead,
	}
	cfg := fmt.Sprintf(`
storage "raft" {
  path    = %q
  node_id = %q
%s}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr      = "http://%s"
cluster_addr  = "https://%s"
disable_mlock = true
log_level     = "debug"
`, n.Dir, id, extraStorage, api, clus, api, clus)
	if err := os.WriteFile(n.Config, []byte(cfg), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(func() { killProcess(n) })
	return n
}

// killProcess SIGKILLs the node's process, if any, and waits for it.
func killProcess(n *clusterNode) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGCONT)
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// launch starts the node's process on its config and waits until its API
// answers. It does not fail the test: chaos goroutines call it.
func (c *Cluster) launch(n *clusterNode) error {
	cmd := exec.Command(binary, "server", "-config", n.Config)
	cmd.Stdout = &lockedWriter{n.Node}
	cmd.Stderr = &lockedWriter{n.Node}
	exited := make(chan struct{})
	c.mu.Lock()
	if n.cmd != nil {
		fmt.Fprintf(&lockedWriter{n.Node}, "\n==== harness: starting %s again at %s ====\n", n.ID, time.Now().Format(time.StampMilli))
	}
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	n.cmd, n.exited, n.state, n.stopped = cmd, exited, nodeRunning, false
	c.mu.Unlock()
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			c.mu.Lock()
			n.state = nodeDead
			c.mu.Unlock()
			return fmt.Errorf("%s exited during start", n.ID)
		default:
		}
		if _, err := healthCode(n.Addr, ""); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within 30s", n.ID, n.Addr)
}

// healthClient has a short timeout so that a SIGSTOPped node cannot hang
// a poll.
var healthClient = &http.Client{Timeout: 2 * time.Second}

// healthCode returns the status of GET sys/health?query on addr.
func healthCode(addr, query string) (int, error) {
	url := "http://" + addr + "/v1/sys/health"
	if query != "" {
		url += "?" + query
	}
	resp, err := healthClient.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// newVaultClient is a stock client for addr with the token set, no
// retries and the given overall timeout.
func newVaultClient(addr, token string, timeout time.Duration) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address = "http://" + addr
	cfg.MaxRetries = 0
	cfg.Timeout = timeout
	cl, err := vault.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	cl.SetToken(token)
	return cl, nil
}

// startCluster starts n nodes, initialises and unseals the first, joins
// and unseals the others, lowers autopilot's stabilization time and waits
// until the Raft configuration holds n voters and every node is unsealed.
func startCluster(t *testing.T, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	for i := 0; i < n; i++ {
		c.Nodes = append(c.Nodes, newClusterNode(t, fmt.Sprintf("node%d", i+1), ""))
	}
	t.Cleanup(func() {
		c.KillAll()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	for _, node := range c.Nodes {
		if err := c.launch(node); err != nil {
			t.Fatalf("%v", err)
		}
	}
	ctx := context.Background()
	first := c.anon(0)
	init, err := first.Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: clusterShares, SecretThreshold: clusterThreshold})
	if err != nil {
		t.Fatalf("init node1: %v", err)
	}
	c.Keys, c.Token = init.KeysB64, init.RootToken
	if err := c.unseal(ctx, 0, c.Keys[:clusterThreshold]); err != nil {
		t.Fatalf("%v", err)
	}
	c.waitFor(clusterWait, "node1 active (sys/health 200)", func() bool {
		code, err := healthCode(c.Nodes[0].Addr, "")
		return err == nil && code == http.StatusOK
	})
	c.mustSetAutopilot(0)
	for i := 1; i < n; i++ {
		c.mustJoin(i, 0)
		if err := c.unseal(ctx, i, c.Keys[:clusterThreshold]); err != nil {
			t.Fatalf("%v", err)
		}
	}
	c.WaitVoters(n)
	c.WaitHealthy()
	return c
}

// mustSetAutopilot lowers server_stabilization_time so joiners are
// promoted quickly, and keeps dead servers in the configuration: the
// tests kill and restart nodes and expect them back as voters.
func (c *Cluster) mustSetAutopilot(i int) {
	c.t.Helper()
	cl := c.Client(i)
	req := cl.NewRequest(http.MethodPost, "/v1/sys/storage/raft/autopilot/configuration")
	if err := req.SetJSONBody(map[string]any{
		"server_stabilization_time": "1s",
		"cleanup_dead_servers":      false,
		"min_quorum":                3,
	}); err != nil {
		c.t.Fatalf("autopilot body: %v", err)
	}
	resp, err := cl.RawRequestWithContext(context.Background(), req)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		c.t.Fatalf("POST sys/storage/raft/autopilot/configuration on %s: %v", c.Nodes[i].ID, err)
	}
}

// mustJoin asks node i to join the cluster led through node leaderIdx's API.
func (c *Cluster) mustJoin(i, via int) {
	c.t.Helper()
	resp, err := c.anon(i).Sys().RaftJoin(&vault.RaftJoinRequest{LeaderAPIAddr: "http://" + c.Nodes[via].Addr})
	if err != nil {
		c.t.Fatalf("%s: raft join via %s: %v", c.Nodes[i].ID, c.Nodes[via].ID, err)
	}
	if !resp.Joined {
		c.t.Fatalf("%s: raft join via %s: joined=false", c.Nodes[i].ID, c.Nodes[via].ID)
	}
}

// unseal submits keys to node i and waits until it reports unsealed.
func (c *Cluster) unseal(ctx context.Context, i int, keys []string) error {
	n := c.Nodes[i]
	cl, err := newVaultClient(n.Addr, "", 30*time.Second)
	if err != nil {
		return err
	}
	for k, key := range keys {
		if _, err := cl.Sys().UnsealWithContext(ctx, key); err != nil {
			return fmt.Errorf("%s: unseal with share %d: %w", n.ID, k+1, err)
		}
	}
	deadline := time.Now().Add(clusterWait)
	for time.Now().Before(deadline) {
		if code, err := healthCode(n.Addr, "standbyok=true"); err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: not unsealed within %s of its shares", n.ID, clusterWait)
}

// waitFor polls cond until it holds, failing the test at the deadline.
func (c *Cluster) waitFor(limit time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns a stock client for node i carrying the root token.
func (c *Cluster) Client(i int) *vault.Client {
	c.t.Helper()
	cl, err := newVaultClient(c.Nodes[i].Addr, c.Token, 30*time.Second)
	if err != nil {
		c.t.Fatalf("vault client: %v", err)
	}
	return cl
}

func (c *Cluster) anon(i int) *vault.Client {
	c.t.Helper()
	cl, err := newVaultClient(c.Nodes[i].Addr, "", 30*time.Second)
	if err != nil {
		c.t.Fatalf("vault client: %v", err)
	}
	return cl
}

// running reports whether node i's process is up and not paused.
func (c *Cluster) running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Nodes[i].state == nodeRunning
}

// alive reports whether node i's process exists (running or paused).
func (c *Cluster) alive(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Nodes[i].state != nodeDead
}

// Leader returns the index of the running node that answers sys/health
// with 200 (active), or -1 if there is not exactly one.
func (c *Cluster) Leader(excluding ...int) int {
	leader := -1
	for i, n := range c.Nodes {
		if contains(excluding, i) || !c.running(i) {
			continue
		}
		if code, err := healthCode(n.Addr, ""); err == nil && code == http.StatusOK {
			if leader >= 0 {
				return -1
			}
			leader = i
		}
	}
	return leader
}

// waitLeader waits for a single active node outside excluding.
func (c *Cluster) waitLeader(ctx context.Context, limit time.Duration, excluding ...int) (int, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if l := c.Leader(excluding...); l >= 0 {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return -1, fmt.Errorf("no single active node (excluding %v) within %s", excluding, limit)
}

// WaitLeader waits for a leader among the nodes not excluded and returns
// its index.
func (c *Cluster) WaitLeader(excluding ...int) int {
	c.t.Helper()
	l, err := c.waitLeader(context.Background(), clusterWait, excluding...)
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	return l
}

// Standbys returns the indexes of the running nodes other than leader.
func (c *Cluster) Standbys(leader int) []int {
	var s []int
	for i := range c.Nodes {
		if i != leader && c.running(i) {
			s = append(s, i)
		}
	}
	return s
}

// waitHealthy waits until every running node answers
// sys/health?standbyok=true with 200 (initialised, unsealed).
func (c *Cluster) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var bad []string
		for i, n := range c.Nodes {
			if !c.running(i) {
				continue
			}
			if code, err := healthCode(n.Addr, "standbyok=true"); err != nil || code != http.StatusOK {
				bad = append(bad, fmt.Sprintf("%s: %d %v", n.ID, code, err))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes not healthy after %s: %v", limit, bad)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitHealthy waits until every running node is unsealed and serving.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	if err := c.waitHealthy(context.Background(), clusterWait); err != nil {
		c.t.Fatalf("%v", err)
	}
}

// raftServers reads the Raft configuration through node i.
func (c *Cluster) raftServers(ctx context.Context, i int) ([]raftServer, error) {
	cl, err := newVaultClient(c.Nodes[i].Addr, c.Token, 5*time.Second)
	if err != nil {
		return nil, err
	}
	s, err := cl.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
	if err != nil {
		return nil, err
	}
	if s == nil || s.Data == nil {
		return nil, errors.New("empty raft configuration response")
	}
	raw, err := json.Marshal(s.Data["config"])
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Servers []raftServer `json:"servers"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("decode raft configuration %s: %w", raw, err)
	}
	return cfg.Servers, nil
}

// RaftServers reads the Raft configuration through node i or fails.
func (c *Cluster) RaftServers(i int) []raftServer {
	c.t.Helper()
	s, err := c.raftServers(context.Background(), i)
	if err != nil {
		c.t.Fatalf("raft configuration via %s: %v", c.Nodes[i].ID, err)
	}
	return s
}

// WaitVoters waits until the Raft configuration, read through the leader,
// lists n servers that are all voters.
func (c *Cluster) WaitVoters(n int) {
	c.t.Helper()
	var last []raftServer
	var lastErr error
	deadline := time.Now().Add(clusterWait)
	for {
		l := c.Leader()
		if l >= 0 {
			last, lastErr = c.raftServers(context.Background(), l)
			voters := 0
			for _, s := range last {
				if s.Voter {
					voters++
				}
			}
			if lastErr == nil && len(last) == n && voters == n {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %d voters; last configuration %+v (err %v)", clusterWait, n, last, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill SIGKILLs node i and waits for the process to go.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	n := c.Nodes[i]
	n.state = nodeDead
	c.mu.Unlock()
	killProcess(n)
}

// KillAll SIGKILLs every node.
func (c *Cluster) KillAll() {
	for i := range c.Nodes {
		c.Kill(i)
	}
}

// StopAll sends SIGTERM to every node and waits for each to exit, so that
// what is on disk is what a clean shutdown leaves.
func (c *Cluster) StopAll() {
	c.t.Helper()
	for i, n := range c.Nodes {
		if !c.alive(i) {
			continue
		}
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
			if code := n.cmd.ProcessState.ExitCode(); code != 0 {
				c.t.Errorf("%s exited with %d after SIGTERM", n.ID, code)
			}
		case <-time.After(20 * time.Second):
			c.t.Errorf("%s did not exit within 20s of SIGTERM", n.ID)
		}
		c.Kill(i)
	}
}

// Stop SIGSTOPs node i (it keeps its sockets but answers nothing).
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.Nodes[i]
	if n.state == nodeRunning {
		_ = n.cmd.Process.Signal(syscall.SIGSTOP)
		n.state = nodePaused
	}
}

// Cont SIGCONTs node i after Stop.
func (c *Cluster) Cont(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.Nodes[i]
	if n.state == nodePaused {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
		n.state = nodeRunning
	}
}

// restart kills node i if it runs, starts it on the same config and
// unseals it with the cluster's shares; it rejoins by itself.
//
// A restart reuses the node's ports. They lie below the ephemeral range
// (freeAddr), so no dial can take them; should one still be busy for a
// moment after the kill, the start is tried again until restartBusyWait.
func (c *Cluster) restart(ctx context.Context, i int) error {
	c.Kill(i)
	n := c.Nodes[i]
	deadline := time.Now().Add(restartBusyWait)
	for {
		before := len(n.Log())
		err := c.launch(n)
		if err == nil {
			break
		}
		busy := strings.Contains(n.Log()[before:], "address already in use")
		if !busy || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c.unseal(ctx, i, c.Keys[:clusterThreshold])
}

// restartBusyWait bounds how long restart waits for a node's ports.
const restartBusyWait = 10 * time.Second

// Restart starts node i again and unseals it.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.restart(context.Background(), i); err != nil {
		c.t.Fatalf("restart: %v", err)
	}
}

// dumpLogs writes every node's output to files that outlive the test and
// logs the tail of each.
func (c *Cluster) dumpLogs() {
	dir, err := os.MkdirTemp("", "coffer-cluster-logs-")
	if err != nil {
		c.t.Logf("keep logs: %v", err)
	}
	const tail = 12 << 10
	for _, n := range c.Nodes {
		log := n.Log()
		if dir != "" {
			p := filepath.Join(dir, n.ID+".log")
			if err := os.WriteFile(p, []byte(log), 0o600); err == nil {
				c.t.Logf("full log of %s: %s", n.ID, p)
			}
		}
		if len(log) > tail {
			log = "...\n" + log[len(log)-tail:]
		}
		c.t.Logf("==== %s (%s) log tail ====\n%s", n.ID, n.Addr, log)
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// scanForPlaintext reads every file under dirs and reports any that holds
// one of secrets raw, hex, or base64 (standard or raw URL) encoded. It
// returns the number of bytes scanned.
func scanForPlaintext(t testing.TB, dirs []string, secrets [][]byte) int {
	t.Helper()
	var needles [][]byte
	for _, s := range secrets {
		needles = append(needles, s,
			[]byte(hex.EncodeToString(s)),
			[]byte(base64.StdEncoding.EncodeToString(s)),
			[]byte(base64.RawURLEncoding.EncodeToString(s)))
	}
	scanned := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned += len(data)
			for _, needle := range needles {
				if bytes.Contains(data, needle) {
					t.Errorf("%s contains a plaintext secret (%d bytes)", path, len(needle))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", dir, err)
		}
	}
	return scanned
}
