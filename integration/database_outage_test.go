package integration

import (
	"strings"
	"testing"
	"time"
)

// TestDatabaseRevocationRetriesWhilePostgresDown lets short credentials
// expire while PostgreSQL is stopped: the revocations fail and are
// retried, the leases stay, and once PostgreSQL is back every user is
// dropped and every lease removed; none lost, none irrevocable.
func TestDatabaseRevocationRetriesWhilePostgresDown(t *testing.T) {
	const ttl = 3 * time.Second
	f := mustPGFixture(t)
	n := mustStartDevNode(t, "root-db")
	c := n.Client("root-db")
	ctx := t.Context()
	mustDatabaseMount(t, c, f)
	mustDynamicRole(t, c, "short", "3s", "1m")

	issued := time.Now()
	var creds []dbCreds
	for range 3 {
		creds = append(creds, mustCreds(t, c, "short"))
	}
	names := usernames(creds)
	if got := f.rolesPresent(t, names); len(got) != len(creds) {
		t.Fatalf("pg_roles holds %d of the %d users issued", len(got), len(creds))
	}
	f.pg.Stop(t)
	if time.Since(issued) >= ttl {
		t.Fatalf("issuing and stopping PostgreSQL took %v, past the %v TTL", time.Since(issued), ttl)
	}

	// Past expiry each revocation fails (logged, rescheduled) and the
	// lease is kept.
	const failed = "lease revocation failed; will retry"
	waitFor(t, ttl+10*time.Second, "a failed revocation of every lease", func() bool {
		seen := map[string]bool{}
		for _, line := range strings.Split(n.Log(), "\n") {
			for _, cr := range creds {
				if strings.Contains(line, failed) && strings.Contains(line, cr.LeaseID) {
					seen[cr.LeaseID] = true
				}
			}
		}
		return len(seen) == len(creds)
	})
	for _, cr := range creds {
		if _, err := c.Sys().LookupWithContext(ctx, cr.LeaseID); err != nil {
			t.Fatalf("lookup of a lease whose revocation failed: %v", err)
		}
		if _, err := c.Sys().RenewWithContext(ctx, cr.LeaseID, 3600); statusOf(err) != 400 {
			t.Errorf("renew of a lease past its expiry: %v, want 400", err)
		}
	}
	if got := mustLeaseCount(t, c); got != int64(len(creds)) {
		t.Errorf("sys/leases/count while PostgreSQL is down: %d, want %d", got, len(creds))
	}
	mustNoIrrevocable(t, c)

	// PostgreSQL returns: the retries drop every user and the leases go.
	f.pg.Restart(t)
	back := time.Now()
	f.mustWaitRolesGone(t, 30*time.Second, names)
	waitFor(t, 10*time.Second, "sys/leases/count 0", func() bool {
		n, err := leaseCount(ctx, c)
		return err == nil && n == 0
	})
	t.Logf("all %d users dropped and leases removed %v after PostgreSQL came back", len(creds), time.Since(back).Round(time.Millisecond))
	mustNoIrrevocable(t, c)
	if left := f.dynamicRoles(t); len(left) != 0 {
		t.Errorf("with no lease left, pg_roles still holds dynamic users %v", left)
	}
	if strings.Contains(n.Log(), "giving up, the lease is irrevocable") {
		t.Errorf("a lease was made irrevocable")
	}
}
