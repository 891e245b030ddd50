package integration

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// revokedLine matches the server's debug line for one revocation (cluster
// nodes log at debug), capturing the node= it names.
var revokedLine = regexp.MustCompile(`msg="lease revoked".* node=(\S+)`)

// revocationsOutsideLeadership walks a node's log in order, tracking its
// own "became leader" and "lost leadership" lines (and the harness's
// restart marker), and returns the "lease revoked" lines it logged while
// not leading or naming another node.
func revocationsOutsideLeadership(id, log string) []string {
	var bad []string
	leading := false
	for _, line := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(line, `msg="became leader"`):
			leading = true
		case strings.Contains(line, `msg="lost leadership"`), strings.HasPrefix(line, "==== harness: starting"):
			leading = false
		}
		if m := revokedLine.FindStringSubmatch(line); m != nil && (!leading || m[1] != id) {
			bad = append(bad, line)
		}
	}
	return bad
}

// countRevoked counts the "lease revoked" lines in log.
func countRevoked(log string) int {
	return len(revokedLine.FindAllStringIndex(log, -1))
}

// TestDatabaseLeasesSurviveLeaderKill issues 50 short credentials through
// every node of a 3-node cluster, SIGKILLs the leader before they expire,
// and checks that the new leader drops all 50 within TTL plus a few
// seconds, and that no revocation ran on a node that was not the leader.
func TestDatabaseLeasesSurviveLeaderKill(t *testing.T) {
	const (
		ttl   = 8 * time.Second
		count = 50
		// slack covers detecting the dead leader, the election and the
		// new leader starting its expiry loop.
		slack = 12 * time.Second
	)
	f := mustPGFixture(t)
	c := startCluster(t, 3)
	leader := c.WaitLeader()
	lc := c.Client(leader)
	mustDatabaseMount(t, lc, f)
	mustDynamicRole(t, lc, "short", "8s", "1m")
	// Right after the mount, one credential through each node: a standby
	// forwards the read to the leader and runs nothing itself.
	for i := range c.Nodes {
		cr := mustCreds(t, c.Client(i), "short")
		if err := lc.Sys().RevokeWithContext(t.Context(), cr.LeaseID); err != nil {
			t.Fatalf("revoke the warm-up credential issued via %s: %v", c.Nodes[i].ID, err)
		}
	}
	// Where each log stands before the 50 are issued.
	offsets := map[string]int{}
	for _, n := range c.Nodes {
		offsets[n.ID] = len(n.Log())
	}

	// 50 credentials through all three nodes in turn (standbys forward).
	// One at a time: concurrent creation statements that GRANT on the same
	// table race in PostgreSQL, which TestDatabaseDynamicCredentials covers.
	start := time.Now()
	var (
		creds []dbCreds
		errs  []string
	)
	for k := range count {
		i := k % len(c.Nodes)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		cr, err := issueCreds(ctx, c.Client(i), "short")
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("via %s: %v", c.Nodes[i].ID, err))
			continue
		}
		creds = append(creds, cr)
	}
	issued := time.Since(start)
	if len(errs) > 0 {
		t.Fatalf("%d of %d creds reads failed, e.g. %s", len(errs), count, errs[0])
	}
	for _, cr := range creds {
		if cr.TTL != ttl {
			t.Fatalf("lease_duration %v, want %v", cr.TTL, ttl)
		}
	}
	names := usernames(creds)
	if got := f.rolesPresent(t, names); len(got) != count {
		t.Fatalf("pg_roles holds %d of the %d users issued", len(got), count)
	}

	// SIGKILL the leader before the first credential expires.
	if issued >= ttl-time.Second {
		t.Fatalf("issuing %d credentials took %v: too slow to kill the leader before the %v TTL", count, issued, ttl)
	}
	old := c.Nodes[leader]
	c.Kill(leader)
	killed := time.Since(start)
	if got := f.rolesPresent(t, names); len(got) != count {
		t.Fatalf("before any expiry, %d of %d users were already gone", count-len(got), count)
	}
	newLeader := c.WaitLeader(leader)
	elected := time.Since(start)

	// Every user goes by itself within TTL + slack of its issue. A miss is
	// reported after the revocation counts below, which tell why.
	left := f.waitRolesGone(t, time.Until(start.Add(issued+ttl+slack)), names)
	gone := time.Since(start)
	if len(left) > 0 {
		t.Errorf("%v after the first issue, %d of %d users are still in pg_roles: %v", gone.Round(time.Millisecond), len(left), count, left)
	} else {
		nl := c.Client(newLeader)
		waitFor(t, 10*time.Second, "sys/leases/count 0 on the new leader", func() bool {
			n, err := leaseCount(t.Context(), nl)
			return err == nil && n == 0
		})
		mustNoIrrevocable(t, nl)
	}
	t.Logf("issued %d in %v; killed %s at %v; %s leads at %v; pg_roles last checked at %v (expiry from %v)",
		count, issued.Round(time.Millisecond), old.ID, killed.Round(time.Millisecond),
		c.Nodes[newLeader].ID, elected.Round(time.Millisecond), gone.Round(time.Millisecond), ttl)

	// Every revocation ran on a node while it led: none on the node that
	// stayed a standby, none of the 50 on the killed leader (none had
	// expired), all 50 on the new leader.
	for _, n := range c.Nodes {
		if bad := revocationsOutsideLeadership(n.ID, n.Log()); len(bad) > 0 {
			t.Errorf("%s logged %d revocations while not the leader, e.g.\n%s", n.ID, len(bad), bad[0])
		}
	}
	if k := countRevoked(old.Log()[offsets[old.ID]:]); k != 0 {
		t.Errorf("the killed leader %s logged %d revocations after the 50 were issued", old.ID, k)
	}
	nlNode := c.Nodes[newLeader]
	if k := countRevoked(nlNode.Log()[offsets[nlNode.ID]:]); k < count-len(left) {
		t.Errorf("the new leader %s logged %d revocations, want at least %d", nlNode.ID, k, count-len(left))
	} else if k != count {
		t.Logf("the new leader %s logged %d revocations for %d leases", nlNode.ID, k, count)
	}
	for _, i := range c.Standbys(newLeader) {
		if k := countRevoked(c.Nodes[i].Log()); k != 0 {
			t.Errorf("%s, a standby throughout, logged %d revocations", c.Nodes[i].ID, k)
		}
	}
}
