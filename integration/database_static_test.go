package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// staticCreds is what database/static-creds/:name returns.
type staticCreds struct {
	Username     string
	Password     string
	LastRotation string
	TTL          int64
}

func readStaticCreds(t testing.TB, c *vault.Client, name string) staticCreds {
	t.Helper()
	s, err := c.Logical().ReadWithContext(context.Background(), "database/static-creds/"+name)
	if err != nil || s == nil {
		t.Fatalf("read database/static-creds/%s: %v %v", name, s, err)
	}
	var sc staticCreds
	sc.Username, _ = s.Data["username"].(string)
	sc.Password, _ = s.Data["password"].(string)
	sc.LastRotation, _ = s.Data["last_vault_rotation"].(string)
	sc.TTL, err = dataInt(s.Data, "ttl")
	if err != nil || sc.Password == "" || sc.LastRotation == "" {
		t.Fatalf("static-creds/%s lacks password, last_vault_rotation or ttl (%v)", name, err)
	}
	return sc
}

// TestDatabaseStaticRoleAndRotateRoot checks that a static role over an
// existing PostgreSQL user is rotated on its period (the new password logs
// in, the old one no longer does) and that rotate-root locks the admin's
// original password out while issuing keeps working.
func TestDatabaseStaticRoleAndRotateRoot(t *testing.T) {
	f := mustPGFixture(t)
	const user, initial = "static_app", "Initial-pw-1"
	f.pg.Exec(t, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", user, initial))
	f.pg.ExecIn(t, f.db, "GRANT SELECT ON items TO "+user)
	n := mustStartDevNode(t, "root-db")
	c := n.Client("root-db")
	mustDatabaseMount(t, c, f)

	// Creating the static role rotates at once: only Coffer's password works.
	mustWrite(t, c, "database/static-roles/app", map[string]any{
		"db_name":         "pg",
		"username":        user,
		"rotation_period": "5s",
	})
	first := readStaticCreds(t, c, "app")
	if first.Username != user || first.TTL > 5 || first.TTL < 0 {
		t.Errorf("static-creds: username %q ttl %d, want %q and at most 5", first.Username, first.TTL, user)
	}
	f.mustLogin(t, user, first.Password)
	f.mustLoginRefused(t, user, initial)

	// The period passes: a new password, and the previous one is refused.
	var next staticCreds
	waitFor(t, 15*time.Second, "the static role's next rotation", func() bool {
		next = readStaticCreds(t, c, "app")
		return next.LastRotation != first.LastRotation
	})
	if next.Password == first.Password {
		t.Fatalf("last_vault_rotation moved (%s -> %s) but the password did not", first.LastRotation, next.LastRotation)
	}
	f.mustLogin(t, user, next.Password)
	f.mustLoginRefused(t, user, first.Password)

	// rotate-root: the admin's original password stops working, the config
	// never shows the new one, and issuing still works.
	mustDynamicRole(t, c, "ro", "1h", "24h")
	mustWrite(t, c, "database/rotate-root/pg", nil)
	f.mustLoginRefused(t, f.admin, f.adminPass)
	cfg, err := c.Logical().ReadWithContext(context.Background(), "database/config/pg")
	if err != nil || cfg == nil {
		t.Fatalf("read database/config/pg: %v %v", cfg, err)
	}
	if _, ok := cfg.Data["password"]; ok {
		t.Errorf("config read returns a password")
	}
	if d, _ := cfg.Data["connection_details"].(map[string]any); d["password"] != nil {
		t.Errorf("config read returns connection_details.password")
	}
	cr := mustCreds(t, c, "ro")
	f.mustLogin(t, cr.Username, cr.Password)
	if err := c.Sys().RevokeWithContext(context.Background(), cr.LeaseID); err != nil {
		t.Fatalf("revoke after rotate-root: %v", err)
	}
	if left := f.rolesPresent(t, []string{cr.Username}); len(left) != 0 {
		t.Errorf("after rotate-root, revoke left %q in pg_roles", cr.Username)
	}

	// Rotation keeps working with the rotated admin password.
	waitFor(t, 15*time.Second, "a rotation after rotate-root", func() bool {
		return readStaticCreds(t, c, "app").LastRotation != next.LastRotation
	})
	f.mustLogin(t, user, readStaticCreds(t, c, "app").Password)
}
