package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// TestDatabaseDynamicCredentials drives dynamic PostgreSQL credentials
// through the stock client and the CLI: issue, log in with the grant,
// renew (capped by max_ttl, VALID UNTIL following), lookup, revoke, expiry
// by TTL alone, revoke-prefix.
func TestDatabaseDynamicCredentials(t *testing.T) {
	f := mustPGFixture(t)
	n := mustStartDevNode(t, "root-db")
	c := n.Client("root-db")
	ctx := t.Context()
	mustDatabaseMount(t, c, f)
	mustDynamicRole(t, c, "ro", "1h", "24h")

	// Issue: a lease, and a user that logs in and has the grant.
	cr := mustCreds(t, c, "ro")
	if cr.TTL != time.Hour {
		t.Errorf("lease_duration %v, want 1h (the role's default_ttl)", cr.TTL)
	}
	f.mustLogin(t, cr.Username, cr.Password)
	f.mustLoginRefused(t, cr.Username, cr.Password+"x")
	if vu := f.validUntil(t, cr.Username); !within(time.Until(vu), time.Hour, time.Minute) {
		t.Errorf("VALID UNTIL %v, want about an hour from now", vu)
	}

	// Renew: the increment is granted, VALID UNTIL follows; past max_ttl
	// the lease is capped at issue + 24h.
	s, err := c.Sys().RenewWithContext(ctx, cr.LeaseID, 7200)
	if err != nil {
		t.Fatalf("renew by 2h: %v", err)
	}
	if got := time.Duration(s.LeaseDuration) * time.Second; s.LeaseID != cr.LeaseID || !within(got, 2*time.Hour, 5*time.Second) || !s.Renewable {
		t.Errorf("renew by 2h: lease %q duration %v renewable %v", s.LeaseID, got, s.Renewable)
	}
	if vu := f.validUntil(t, cr.Username); !within(time.Until(vu), 2*time.Hour, time.Minute) {
		t.Errorf("VALID UNTIL after renewing by 2h: %v, want about two hours from now", vu)
	}
	s, err = c.Sys().RenewWithContext(ctx, cr.LeaseID, 48*3600)
	if err != nil {
		t.Fatalf("renew by 48h: %v", err)
	}
	if got := time.Duration(s.LeaseDuration) * time.Second; got > 24*time.Hour || got < 23*time.Hour {
		t.Errorf("renew by 48h with max_ttl 24h: lease duration %v, want just under 24h", got)
	}
	f.mustLogin(t, cr.Username, cr.Password)

	// Lookup, and the listing under the role's prefix.
	lk, err := c.Sys().LookupWithContext(ctx, cr.LeaseID)
	if err != nil {
		t.Fatalf("sys/leases/lookup: %v", err)
	}
	if lk.Data["id"] != cr.LeaseID || lk.Data["renewable"] != true || lk.Data["last_renewal"] == nil {
		t.Errorf("lookup: %v", lk.Data)
	}
	if ttl, err := dataInt(lk.Data, "ttl"); err != nil || ttl < 23*3600 || ttl > 24*3600 {
		t.Errorf("lookup ttl %d (%v), want just under 24h", ttl, err)
	}
	ls, err := c.Logical().ListWithContext(ctx, "sys/leases/lookup/database/creds/ro/")
	if err != nil || ls == nil {
		t.Fatalf("LIST sys/leases/lookup/database/creds/ro/: %v %v", ls, err)
	}
	suffix := strings.TrimPrefix(cr.LeaseID, "database/creds/ro/")
	if keys, _ := ls.Data["keys"].([]any); !slices.Contains(keys, any(suffix)) {
		t.Errorf("LIST sys/leases/lookup/database/creds/ro/: %v, want %q among the keys", ls.Data["keys"], suffix)
	}

	// Revoke: the role is gone from PostgreSQL when the call returns.
	if err := c.Sys().RevokeWithContext(ctx, cr.LeaseID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if left := f.rolesPresent(t, []string{cr.Username}); len(left) != 0 {
		t.Fatalf("after sys/leases/revoke returned, %q is still in pg_roles", cr.Username)
	}
	if _, err := c.Sys().LookupWithContext(ctx, cr.LeaseID); statusOf(err) != 400 {
		t.Errorf("lookup of a revoked lease: %v, want 400", err)
	}

	// Expiry by TTL alone: 3-second credentials go by themselves.
	mustDynamicRole(t, c, "short", "3s", "1m")
	short := mustCreds(t, c, "short")
	if short.TTL != 3*time.Second {
		t.Errorf("short lease_duration %v, want 3s", short.TTL)
	}
	f.mustLogin(t, short.Username, short.Password)
	f.mustWaitRolesGone(t, 3*time.Second+7*time.Second, []string{short.Username})
	waitFor(t, 5*time.Second, "the expired lease to leave sys/leases", func() bool {
		_, err := c.Sys().LookupWithContext(ctx, short.LeaseID)
		return statusOf(err) == 400
	})

	// The CLI on one lease: lookup, renew, revoke.
	cli1 := mustCreds(t, c, "ro")
	var out vault.Secret
	if err := json.Unmarshal([]byte(mustCLI(t, n, "root-db", "lease", "lookup", "-format=json", cli1.LeaseID)), &out); err != nil {
		t.Fatalf("lease lookup -format=json: %v", err)
	}
	if out.Data["id"] != cli1.LeaseID {
		t.Errorf("coffer lease lookup: %v", out.Data)
	}
	out = vault.Secret{}
	if err := json.Unmarshal([]byte(mustCLI(t, n, "root-db", "lease", "renew", "-increment=2h", "-format=json", cli1.LeaseID)), &out); err != nil {
		t.Fatalf("lease renew -format=json: %v", err)
	}
	if got := time.Duration(out.LeaseDuration) * time.Second; out.LeaseID != cli1.LeaseID || !within(got, 2*time.Hour, 5*time.Second) {
		t.Errorf("coffer lease renew -increment=2h: lease %q duration %v", out.LeaseID, got)
	}
	if msg := mustCLI(t, n, "root-db", "lease", "revoke", cli1.LeaseID); !strings.Contains(msg, "successfully") {
		t.Errorf("coffer lease revoke printed %q", msg)
	}
	if left := f.rolesPresent(t, []string{cli1.Username}); len(left) != 0 {
		t.Errorf("after coffer lease revoke, %q is still in pg_roles", cli1.Username)
	}

	// Several credentials at once, as concurrent clients ask; then
	// revoke-prefix drops every one of them.
	many := mustCredsConcurrently(t, c, "ro", 8)
	if got := f.rolesPresent(t, usernames(many)); len(got) != len(many) {
		t.Fatalf("pg_roles holds %d of the %d users issued", len(got), len(many))
	}
	if err := c.Sys().RevokePrefixWithContext(ctx, "database/creds/ro"); err != nil {
		// Recorded, then retried so the end state is still checked.
		t.Errorf("revoke-prefix database/creds/ro: %v", err)
		waitFor(t, 10*time.Second, "a retried revoke-prefix to succeed", func() bool {
			return c.Sys().RevokePrefixWithContext(ctx, "database/creds/ro") == nil
		})
	}
	if left := f.rolesPresent(t, usernames(many)); len(left) != 0 {
		t.Errorf("after revoke-prefix returned, still in pg_roles: %v", left)
	}
	if got := mustLeaseCount(t, c); got != 0 {
		t.Errorf("sys/leases/count after revoke-prefix: %d, want 0", got)
	}
	mustNoIrrevocable(t, c)
	// No user outlives its lease (failed creations leave none), and the
	// admin remains.
	if left := f.dynamicRoles(t); len(left) != 0 {
		t.Errorf("with no lease left, pg_roles still holds dynamic users %v", left)
	}
	if got := f.rolesPresent(t, []string{f.admin}); len(got) != 1 {
		t.Errorf("the admin role is gone")
	}
}

// mustCredsConcurrently issues k credentials of role at the same time and
// fails the test if any request fails.
func mustCredsConcurrently(t testing.TB, c *vault.Client, role string, k int) []dbCreds {
	t.Helper()
	var (
		mu    sync.Mutex
		creds []dbCreds
		errs  []error
		wg    sync.WaitGroup
	)
	for range k {
		wg.Go(func() {
			cr, err := issueCreds(context.Background(), c, role)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			creds = append(creds, cr)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d of %d concurrent reads of database/creds/%s failed, e.g. %v", len(errs), k, role, errs[0])
	}
	if len(creds) == 0 {
		t.FailNow()
	}
	return creds
}
