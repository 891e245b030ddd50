package database

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"coffer/engines"
	"coffer/engines/database/pgtest"
)

const roCreation = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";`

// mustMount is a mount with config/pg for the env's admin and a role ro.
func mustMount(tb testing.TB, e *pgEnv, roleExtra string) *harness {
	tb.Helper()
	h := mustBackend(tb, nil)
	h.mustDo(tb, engines.UpdateOperation, "config/pg", e.configBody(""))
	h.mustDo(tb, engines.UpdateOperation, "roles/ro",
		fmt.Sprintf(`{"db_name":"pg","creation_statements":%q,"default_ttl":"1h","max_ttl":"2h"%s}`, roCreation, roleExtra))
	return h
}

func TestDynamicCredentialLifecycle(t *testing.T) {
	e := mustPGEnv(t)
	h := mustMount(t, e, "")
	start := time.Now()
	resp, err := h.do(t, engines.ReadOperation, "creds/ro", map[string]any{}, &engines.TokenEntry{DisplayName: "token"})
	if err != nil {
		t.Fatalf("creds: %v", err)
	}
	user, pass := str(t, resp, "username"), str(t, resp, "password")
	if !strings.HasPrefix(user, "v-token-ro-") {
		t.Errorf("username %q", user)
	}
	s := resp.Secret
	if s == nil || s.LeaseDuration != time.Hour || s.MaxTTL != 2*time.Hour || !s.Renewable ||
		s.InternalData["username"] != user || s.InternalData["role"] != "ro" || s.InternalData["db_name"] != "pg" {
		t.Fatalf("secret %+v", s)
	}

	// The user logs in and has the grant.
	conn := e.mustConnect(t, user, pass)
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM items").Scan(&n); err != nil || n != 2 {
		t.Fatalf("select as the new user: %d, %v", n, err)
	}
	if vu := e.validUntil(t, user); vu.Before(start.Add(time.Hour-2*time.Second)) || vu.After(time.Now().Add(time.Hour+time.Second)) {
		t.Errorf("VALID UNTIL %v, want about an hour from %v", vu, start)
	}

	// Renew moves VALID UNTIL.
	newExpiry := time.Now().Add(90 * time.Minute).Truncate(time.Second)
	if err := h.b.RenewSecret(context.Background(), secretRequest(h, resp, newExpiry)); err != nil {
		t.Fatalf("RenewSecret: %v", err)
	}
	if vu := e.validUntil(t, user); !vu.Equal(newExpiry) {
		t.Errorf("VALID UNTIL after renew %v, want %v", vu, newExpiry)
	}

	// Revoke ends its session and drops it; again is a no-op.
	if err := h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})); err != nil {
		t.Fatalf("RevokeSecret: %v", err)
	}
	if e.roleExists(t, user) {
		t.Fatal("role still in pg_roles after revoke")
	}
	if err := conn.Ping(context.Background()); err == nil {
		t.Error("the revoked user's session survived")
	}
	if err := h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})); err != nil {
		t.Fatalf("second RevokeSecret: %v", err)
	}
}

func TestDynamicCredentialLeaseTTLs(t *testing.T) {
	e := mustPGEnv(t)
	h := mustBackend(t, &engines.BackendConfig{LeaseTTLs: func() (time.Duration, time.Duration) { return 10 * time.Minute, 20 * time.Minute }})
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
	// The statements forget VALID UNTIL; the engine sets it anyway.
	h.mustDo(t, engines.UpdateOperation, "roles/ro", `{"db_name":"pg","creation_statements":"CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'"}`)
	start := time.Now()
	resp := h.mustDo(t, engines.ReadOperation, "creds/ro", "")
	if resp.Secret.LeaseDuration != 10*time.Minute || resp.Secret.MaxTTL != 0 {
		t.Fatalf("lease %v max %v, want the mount's 10m and no role max", resp.Secret.LeaseDuration, resp.Secret.MaxTTL)
	}
	if vu := e.validUntil(t, str(t, resp, "username")); vu.Before(start.Add(10*time.Minute-2*time.Second)) || vu.After(time.Now().Add(10*time.Minute+time.Second)) {
		t.Errorf("VALID UNTIL %v, want about 10 minutes from %v", vu, start)
	}
	t.Cleanup(func() { _ = h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})) })
}

func TestRevokeCustomStatementsAndDefaultAfterRoleDeleted(t *testing.T) {
	e := mustPGEnv(t)
	h := mustMount(t, e, `,"revocation_statements":["DROP ROLE IF EXISTS \"{{name}}\""]`)
	resp := h.mustDo(t, engines.ReadOperation, "creds/ro", "")
	user := str(t, resp, "username")
	// The grant makes a plain DROP ROLE fail: the custom statement errs.
	if err := h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})); err == nil || !e.roleExists(t, user) {
		t.Fatalf("custom revocation: %v (role exists %v), want an error", err, e.roleExists(t, user))
	}
	// Without the role, the default revocation applies.
	h.mustDo(t, engines.DeleteOperation, "roles/ro", "")
	if err := h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})); err != nil || e.roleExists(t, user) {
		t.Fatalf("default revocation: %v, role exists %v", err, e.roleExists(t, user))
	}
}

func TestRevokeWhilePostgresDown(t *testing.T) {
	e := mustPGEnv(t)
	h := mustMount(t, e, "")
	resp := h.mustDo(t, engines.ReadOperation, "creds/ro", "")
	user := str(t, resp, "username")
	h.mustDo(t, engines.UpdateOperation, "reset/pg", "") // no pooled connection survives the restart
	e.pg.Stop(t)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			e.pg.Restart(t)
		}
	})
	if err := h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})); err == nil {
		t.Fatal("RevokeSecret succeeded with PostgreSQL down")
	}
	e.pg.Restart(t)
	stopped = false
	if err := h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})); err != nil {
		t.Fatalf("RevokeSecret after restart: %v", err)
	}
	if e.roleExists(t, user) {
		t.Fatal("role survived the retried revoke")
	}
}

func TestCreationFailureRollsBack(t *testing.T) {
	e := mustPGEnv(t)
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
	user := pgtest.Name("rb")
	marker := pgtest.Name("rolled_back")
	h.mustDo(t, engines.UpdateOperation, "roles/rb", fmt.Sprintf(`{"db_name":"pg","username_template":%q,
		"creation_statements":["CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'", "GRANT SELECT ON no_such_table TO \"{{name}}\""],
		"rollback_statements":["CREATE TABLE %s ()"]}`, user, marker))
	resp, err := h.do(t, engines.ReadOperation, "creds/rb", map[string]any{}, nil)
	if err == nil {
		t.Fatalf("creds succeeded: %v", resp.Data)
	}
	if code, msg := engines.CodeOf(err); code != engines.CodeInternal || !strings.Contains(msg, "SQLSTATE 42P01") {
		t.Fatalf("error %d %q", code, msg)
	}
	if e.roleExists(t, user) {
		t.Fatal("a failed creation left its role")
	}
	var exists bool
	if err := e.pg.Connect(t, e.db).QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", marker).Scan(&exists); err != nil || !exists {
		t.Fatalf("rollback statements did not run: %v %v", exists, err)
	}
}

// TestInjection: a user name full of quotes, via a crafted
// username_template and display name, and a password with quotes and
// backslashes reach PostgreSQL as data, never as SQL.
func TestInjection(t *testing.T) {
	e := mustPGEnv(t)
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
	pwned := pgtest.Name("pwned")
	tmpl := fmt.Sprintf(`{{ printf "%%s\"; CREATE ROLE %s; --'%%s" .DisplayName (random 6) }}`, pwned)
	h.mustDo(t, engines.UpdateOperation, "roles/inj", fmt.Sprintf(`{"db_name":"pg","creation_statements":%q,"username_template":%q}`, roCreation, tmpl))
	resp, err := h.do(t, engines.ReadOperation, "creds/inj", map[string]any{}, &engines.TokenEntry{DisplayName: `x'); CREATE ROLE ` + pwned + `; --`})
	if err != nil {
		t.Fatalf("creds: %v", err)
	}
	user := str(t, resp, "username")
	if !strings.Contains(user, `"; CREATE ROLE`) || !e.roleExists(t, user) {
		t.Fatalf("role %q not created under its literal name", user)
	}
	e.mustConnect(t, user, str(t, resp, "password"))
	if e.roleExists(t, pwned) {
		t.Fatal("the injected CREATE ROLE ran")
	}
	if err := h.b.RevokeSecret(context.Background(), secretRequest(h, resp, time.Time{})); err != nil || e.roleExists(t, user) {
		t.Fatalf("revoke of the quoted name: %v", err)
	}

	// A password that tries to break out of its literal sets exactly
	// itself.
	name := pgtest.Name(`we"ird'`)
	for _, password := range []string{`p'; CREATE ROLE ` + pwned + `; --`, `back\'; CREATE ROLE ` + pwned + `; --\`} {
		sqls, err := renderAll([]string{`DROP ROLE IF EXISTS "{{name}}"; CREATE ROLE "{{name}}" LOGIN PASSWORD '{{password}}'`,
			`ALTER ROLE "{{name}}" PASSWORD E'{{password}}'`}, map[string]string{"name": name, "password": password})
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.b.pool(context.Background(), "pg")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.tx(context.Background(), func(tx pgx.Tx) error { return execAll(context.Background(), tx, sqls) }); err != nil {
			t.Fatalf("statements with password %q: %v", password, err)
		}
		e.mustConnect(t, name, password)
		if e.roleExists(t, pwned) {
			t.Fatal("the injected CREATE ROLE ran")
		}
	}
}
