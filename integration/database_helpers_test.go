package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"coffer/engines/database/pgtest"
)

// Shared by the database engine tests: a private PostgreSQL with a
// non-superuser admin, and the calls that set up and inspect a mount.

// pgFixture is a private PostgreSQL server with a CREATEROLE admin (not a
// superuser) that owns database db, which holds a table "items" of two
// rows.
type pgFixture struct {
	pg        *pgtest.Server
	admin     string
	adminPass string
	db        string
}

// mustPGFixture starts PostgreSQL for t (stopped at cleanup) and creates
// the admin, its database and the table.
func mustPGFixture(t testing.TB) *pgFixture {
	t.Helper()
	pg := pgtest.Start(t)
	f := &pgFixture{pg: pg, admin: "coffer_admin", adminPass: "Adm1n-" + pgtest.Name("pw")}
	pg.Exec(t, fmt.Sprintf("CREATE ROLE %s LOGIN CREATEROLE PASSWORD '%s'", f.admin, f.adminPass))
	// Revocation ends the user's sessions first: pg_terminate_backend needs it.
	pg.Exec(t, "GRANT pg_signal_backend TO "+f.admin)
	f.db = pg.NewDatabase(t, "app", f.admin)
	conn, err := f.connect(f.admin, f.adminPass)
	if err != nil {
		t.Fatalf("connect as the admin: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(context.Background(), "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2)"); err != nil {
		t.Fatalf("create table items: %v", err)
	}
	return f
}

// connect logs in as user on the fixture's database.
func (f *pgFixture) connect(user, password string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, f.pg.URL(user, password, f.db))
}

// login logs in as user and counts the rows of items, which needs the
// SELECT grant.
func (f *pgFixture) login(user, password string) error {
	conn, err := f.connect(user, password)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM items").Scan(&n); err != nil {
		return fmt.Errorf("select from items: %w", err)
	}
	if n != 2 {
		return fmt.Errorf("items has %d rows, want 2", n)
	}
	return nil
}

// mustLogin asserts that user logs in with password and may read items.
func (f *pgFixture) mustLogin(t testing.TB, user, password string) {
	t.Helper()
	if err := f.login(user, password); err != nil {
		t.Fatalf("log in as %q and read items: %v", user, err)
	}
}

// mustLoginRefused asserts that PostgreSQL refuses user with password
// (an authentication failure, not any other error).
func (f *pgFixture) mustLoginRefused(t testing.TB, user, password string) {
	t.Helper()
	conn, err := f.connect(user, password)
	if err == nil {
		_ = conn.Close(context.Background())
		t.Fatalf("%q logged in with a password that should no longer work", user)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || (pe.Code != "28P01" && pe.Code != "28000") {
		t.Fatalf("log in as %q: %v, want an authentication failure", user, err)
	}
}

// superQuery runs fn on a fresh superuser connection (closed after, so
// polls hold no connection open).
func (f *pgFixture) superQuery(t testing.TB, fn func(conn *pgx.Conn) error) {
	t.Helper()
	conn, err := f.connect(f.pg.SuperUser, f.pg.SuperPassword)
	if err != nil {
		t.Fatalf("connect to postgresql as superuser: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if err := fn(conn); err != nil {
		t.Fatalf("superuser query: %v", err)
	}
}

// rolesPresent returns those of names that pg_roles holds.
func (f *pgFixture) rolesPresent(t testing.TB, names []string) []string {
	t.Helper()
	var present []string
	f.superQuery(t, func(conn *pgx.Conn) error {
		rows, err := conn.Query(context.Background(), "SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname", names)
		if err != nil {
			return err
		}
		present, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return present
}

// dynamicRoles returns the roles in pg_roles named like Coffer's dynamic
// users (the default username template starts them with "v-").
func (f *pgFixture) dynamicRoles(t testing.TB) []string {
	t.Helper()
	var names []string
	f.superQuery(t, func(conn *pgx.Conn) error {
		rows, err := conn.Query(context.Background(), "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY rolname")
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return names
}

// validUntil returns pg_roles.rolvaliduntil of name.
func (f *pgFixture) validUntil(t testing.TB, name string) time.Time {
	t.Helper()
	var until *time.Time
	f.superQuery(t, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), "SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1", name).Scan(&until)
	})
	if until == nil {
		t.Fatalf("role %q has no VALID UNTIL", name)
	}
	return *until
}

// waitRolesGone waits until none of names is in pg_roles, and returns
// those still there at the deadline.
func (f *pgFixture) waitRolesGone(t testing.TB, limit time.Duration, names []string) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		left := f.rolesPresent(t, names)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mustWaitRolesGone waits until none of names is in pg_roles.
func (f *pgFixture) mustWaitRolesGone(t testing.TB, limit time.Duration, names []string) {
	t.Helper()
	if left := f.waitRolesGone(t, limit, names); len(left) > 0 {
		t.Fatalf("after %s, %d of %d roles still in pg_roles: %v", limit, len(left), len(names), left)
	}
}

// mustDatabaseMount mounts the database engine at database/ and writes
// the connection config/pg for the fixture's admin, allowing every role.
func mustDatabaseMount(t testing.TB, c *vault.Client, f *pgFixture) {
	t.Helper()
	ctx := context.Background()
	if err := c.Sys().MountWithContext(ctx, "database", &vault.MountInput{Type: "database"}); err != nil {
		t.Fatalf("mount database: %v", err)
	}
	mustWrite(t, c, "database/config/pg", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": fmt.Sprintf("postgresql://{{username}}:{{password}}@127.0.0.1:%d/%s?sslmode=disable", f.pg.Port, f.db),
		"username":       f.admin,
		"password":       f.adminPass,
		"allowed_roles":  "*",
	})
}

// roCreation is the creation statement of the tests' dynamic roles.
const roCreation = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; ` +
	`GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";`

// mustDynamicRole writes roles/name on config pg with the given TTLs.
func mustDynamicRole(t testing.TB, c *vault.Client, name, defaultTTL, maxTTL string) {
	t.Helper()
	mustWrite(t, c, "database/roles/"+name, map[string]any{
		"db_name":             "pg",
		"creation_statements": roCreation,
		"default_ttl":         defaultTTL,
		"max_ttl":             maxTTL,
	})
}

func mustWrite(t testing.TB, c *vault.Client, path string, data map[string]any) *vault.Secret {
	t.Helper()
	s, err := c.Logical().WriteWithContext(context.Background(), path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return s
}

// dbCreds is one issued dynamic credential.
type dbCreds struct {
	LeaseID  string
	TTL      time.Duration
	Username string
	Password string
}

// issueCreds reads database/creds/role through c.
func issueCreds(ctx context.Context, c *vault.Client, role string) (dbCreds, error) {
	s, err := c.Logical().ReadWithContext(ctx, "database/creds/"+role)
	if err != nil {
		return dbCreds{}, err
	}
	if s == nil || s.Data == nil {
		return dbCreds{}, errors.New("empty creds response")
	}
	user, _ := s.Data["username"].(string)
	pass, _ := s.Data["password"].(string)
	if user == "" || pass == "" || s.LeaseID == "" {
		return dbCreds{}, fmt.Errorf("creds response lacks username, password or lease_id (lease %q)", s.LeaseID)
	}
	if !s.Renewable {
		return dbCreds{}, fmt.Errorf("lease %s is not renewable", s.LeaseID)
	}
	return dbCreds{LeaseID: s.LeaseID, TTL: time.Duration(s.LeaseDuration) * time.Second, Username: user, Password: pass}, nil
}

func mustCreds(t testing.TB, c *vault.Client, role string) dbCreds {
	t.Helper()
	cr, err := issueCreds(context.Background(), c, role)
	if err != nil {
		t.Fatalf("read database/creds/%s: %v", role, err)
	}
	if !strings.HasPrefix(cr.LeaseID, "database/creds/"+role+"/") {
		t.Fatalf("lease_id %q does not start with database/creds/%s/", cr.LeaseID, role)
	}
	return cr
}

func usernames(creds []dbCreds) []string {
	var out []string
	for _, c := range creds {
		out = append(out, c.Username)
	}
	return out
}

// leaseCount reads sys/leases/count.
func leaseCount(ctx context.Context, c *vault.Client) (int64, error) {
	s, err := c.Logical().ReadWithContext(ctx, "sys/leases/count")
	if err != nil {
		return 0, err
	}
	if s == nil {
		return 0, errors.New("empty sys/leases/count response")
	}
	return dataInt(s.Data, "lease_count")
}

func mustLeaseCount(t testing.TB, c *vault.Client) int64 {
	t.Helper()
	n, err := leaseCount(context.Background(), c)
	if err != nil {
		t.Fatalf("read sys/leases/count: %v", err)
	}
	return n
}

// mustNoIrrevocable asserts GET sys/leases lists no irrevocable lease.
func mustNoIrrevocable(t testing.TB, c *vault.Client) {
	t.Helper()
	s, err := c.Logical().ReadWithContext(context.Background(), "sys/leases")
	if err != nil {
		t.Fatalf("read sys/leases: %v", err)
	}
	if s == nil {
		t.Fatal("empty sys/leases response")
	}
	if n, err := dataInt(s.Data, "lease_count"); err != nil || n != 0 {
		t.Fatalf("irrevocable leases: %v (%v): %v", n, err, s.Data["leases"])
	}
}

// dataInt reads an integer field of a response's data (a json.Number
// with the stock client).
func dataInt(data map[string]any, key string) (int64, error) {
	v, ok := data[key]
	if !ok {
		return 0, fmt.Errorf("no %s in %v", key, data)
	}
	n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s = %v: %w", key, v, err)
	}
	return n, nil
}

// within reports whether got is within tolerance of want.
func within(got, want, tolerance time.Duration) bool {
	d := got - want
	return d >= -tolerance && d <= tolerance
}
