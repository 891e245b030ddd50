package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// hsmJoinWait bounds the wait for joiners to auto-unseal and join: no key
// is typed, so it is only the HSM calls and the challenge round trip.
const hsmJoinWait = 30 * time.Second

// startHSMCluster starts n fresh, uninitialised nodes whose configs carry
// the same seal stanza. The processes inherit SOFTHSM2_CONF (launch leaves
// exec.Cmd.Env nil), so they all see the one token.
func startHSMCluster(t *testing.T, n int, stanza string) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	for i := 0; i < n; i++ {
		node := newClusterNode(t, fmt.Sprintf("node%d", i+1), "")
		f, err := os.OpenFile(node.Config, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatalf("open config: %v", err)
		}
		_, err = f.WriteString(hsmSealMarker + stanza)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("append seal stanza: %v", err)
		}
		c.Nodes = append(c.Nodes, node)
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
	return c
}

// hsmClusterState describes every node (health, seal-status) and the Raft
// configuration as seen through via, for failure messages.
func hsmClusterState(t *testing.T, c *Cluster, via int) string {
	t.Helper()
	var b strings.Builder
	for i, n := range c.Nodes {
		code, err := healthCode(n.Addr, "standbyok=true")
		st, body := -1, ""
		if c.running(i) {
			st, body = rawRequest(t, http.MethodGet, "http://"+n.Addr+"/v1/sys/seal-status", "", "", "")
		}
		fmt.Fprintf(&b, "  %s: health?standbyok=true %d %v; seal-status %d %s\n", n.ID, code, err, st, strings.TrimSpace(body))
	}
	servers, err := c.raftServers(context.Background(), via)
	fmt.Fprintf(&b, "  raft configuration via %s: %+v (err %v)\n", c.Nodes[via].ID, servers, err)
	return b.String()
}

// logLines returns n's log lines that contain any of subs.
func logLines(n *clusterNode, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(n.Log(), "\n") {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// TestHSMClusterJoin: with a pkcs11 seal shared by three nodes, the
// joiners unseal by themselves with the leader's records (no key typed),
// answer the challenge and become voters; a SIGKILLed leader comes back
// by itself as well.
func TestHSMClusterJoin(t *testing.T) {
	tok := mustHSMToken(t)
	tok.KeygenAES(t, hsmKeyLabel)
	c := startHSMCluster(t, 3, hsmSeal{tok: tok}.hcl())

	init := mustInitRecovery(t, c.Nodes[0].Node, 3, 2)
	c.Token = init.RootToken
	c.waitFor(hsmActiveLimit, "node1 active after init (sys/health 200)", func() bool {
		code, err := healthCode(c.Nodes[0].Addr, "")
		return err == nil && code == http.StatusOK
	})

	leaderAPI := "http://" + c.Nodes[0].Addr
	for i := 1; i < 3; i++ {
		code, body := rawRequest(t, http.MethodPut, "http://"+c.Nodes[i].Addr+"/v1/sys/storage/raft/join", "",
			"application/json", fmt.Sprintf(`{"leader_api_addr":%q}`, leaderAPI))
		t.Logf("PUT sys/storage/raft/join on %s: %d %s", c.Nodes[i].ID, code, strings.TrimSpace(body))
		if code != http.StatusOK || !strings.Contains(body, `"joined":true`) {
			t.Fatalf("join %s: %d %s", c.Nodes[i].ID, code, body)
		}
	}

	// No key is submitted: the joiners must unseal through their HSM.
	start := time.Now()
	deadline := start.Add(hsmJoinWait)
	for {
		servers, err := c.raftServers(context.Background(), 0)
		healthy := 0
		for _, n := range c.Nodes {
			if code, err := healthCode(n.Addr, "standbyok=true"); err == nil && code == http.StatusOK {
				healthy++
			}
		}
		if err == nil && len(servers) == 3 && healthy == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("joiners not in the configuration and unsealed %s after the joins, without keys:\n%s",
				hsmJoinWait, hsmClusterState(t, c, 0))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("both joiners auto-unsealed and joined in %s", time.Since(start).Round(time.Millisecond))
	for _, n := range c.Nodes[1:] {
		for _, l := range logLines(n, "auto-unsealed", "join:") {
			t.Logf("%s: %s", n.ID, l)
		}
		if st, body := mustSealStatus(t, n.Node); st.Type != "pkcs11" || !st.RecoverySeal || st.Sealed || !st.Initialized {
			t.Errorf("%s seal-status after the join: %s", n.ID, body)
		}
	}

	c.mustSetAutopilot(0)
	c.WaitVoters(3)
	c.WaitHealthy()

	const canary = "CANARY-hsm-cluster-8d21f4"
	leader := c.WaitLeader()
	standbys := c.Standbys(leader)
	if len(standbys) != 2 {
		t.Fatalf("standbys of %s: %v, want 2", c.Nodes[leader].ID, standbys)
	}
	mustMountKV(t, c, standbys[0])
	if err := writePassword(t.Context(), c.Client(standbys[0]), "hsm/cluster", canary); err != nil {
		t.Fatalf("write via standby %s: %v", c.Nodes[standbys[0]].ID, err)
	}
	eventuallyRead(t, c, standbys[1], "hsm/cluster", canary)

	// SIGKILL the leader and start it again: it unseals through the HSM
	// and rejoins, with no key typed.
	t.Logf("SIGKILL leader %s", c.Nodes[leader].ID)
	c.Kill(leader)
	newLeader := c.WaitLeader(leader)
	t.Logf("new leader %s", c.Nodes[newLeader].ID)
	restarted := time.Now()
	if err := c.launch(c.Nodes[leader]); err != nil {
		t.Fatalf("restart %s: %v", c.Nodes[leader].ID, err)
	}
	back := c.Nodes[leader]
	deadline = time.Now().Add(hsmJoinWait)
	for {
		if code, err := healthCode(back.Addr, "standbyok=true"); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not unsealed %s after its restart:\n%s", back.ID, hsmJoinWait, hsmClusterState(t, c, newLeader))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s auto-unsealed %s after restart", back.ID, time.Since(restarted).Round(time.Millisecond))
	for _, l := range logLines(back, "auto-unsealed") {
		t.Logf("%s: %s", back.ID, l)
	}
	c.WaitVoters(3)
	c.WaitHealthy()
	eventuallyRead(t, c, leader, "hsm/cluster", canary)
}
