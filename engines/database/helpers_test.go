package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"coffer/engines"
	"coffer/engines/database/pgtest"
	"coffer/engines/enginestest"
)

// One PostgreSQL server for the package, started on first use; each test
// makes its own admin role and database.
var (
	pgOnce sync.Once
	pgSrv  *pgtest.Server
	pgErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgSrv != nil {
		if err := pgSrv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop postgresql:", err)
		}
	}
	os.Exit(code)
}

func mustPG(tb testing.TB) *pgtest.Server {
	tb.Helper()
	pgOnce.Do(func() { pgSrv, pgErr = pgtest.New() })
	if pgErr != nil {
		if errors.Is(pgErr, pgtest.ErrNoPostgres) && os.Getenv(pgtest.RequireEnv) != "1" {
			tb.Skipf("%v", pgErr)
		}
		tb.Fatalf("start postgresql: %v", pgErr)
	}
	return pgSrv
}

// harness is a database mount over in-memory storage.
type harness struct {
	b       *backend
	storage *enginestest.Storage
	conf    *engines.BackendConfig
}

func mustBackend(tb testing.TB, conf *engines.BackendConfig) *harness {
	tb.Helper()
	h := &harness{storage: enginestest.NewStorage()}
	if conf == nil {
		conf = &engines.BackendConfig{}
	}
	conf.MountPath = "database/"
	conf.Storage = h.storage
	h.conf = conf
	be, err := Factory(context.Background(), conf)
	if err != nil {
		tb.Fatalf("Factory: %v", err)
	}
	h.b = be.(*backend)
	tb.Cleanup(func() { _ = h.b.Close() })
	return h
}

func (h *harness) do(tb testing.TB, op engines.Operation, path string, data map[string]any, token *engines.TokenEntry) (*engines.Response, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.b.HandleRequest(ctx, &engines.Request{
		ID: "test", Operation: op, Path: path, MountPoint: "database/", Data: data, Token: token,
	})
}

func (h *harness) mustDo(tb testing.TB, op engines.Operation, path, body string) *engines.Response {
	tb.Helper()
	resp, err := h.do(tb, op, path, enginestest.Body(tb, body), nil)
	if err != nil {
		tb.Fatalf("%s %s %s: %v", op, path, body, err)
	}
	return resp
}

func (h *harness) mustFail(tb testing.TB, op engines.Operation, path, body string, code engines.Code, msg string) {
	tb.Helper()
	resp, err := h.do(tb, op, path, enginestest.Body(tb, body), nil)
	if err == nil {
		tb.Fatalf("%s %s %s: got %+v, want an error", op, path, body, resp)
	}
	enginestest.AssertCode(tb, err, code, msg)
}

// pgEnv is one test's slice of the server: a non-superuser admin with
// CREATEROLE that owns a fresh database holding a table "items".
type pgEnv struct {
	pg               *pgtest.Server
	admin, adminPass string
	db               string
}

func mustPGEnv(tb testing.TB) *pgEnv {
	tb.Helper()
	pg := mustPG(tb)
	e := &pgEnv{pg: pg, admin: pgtest.Name("admin"), adminPass: "Adm1n-" + pgtest.Name("pw")}
	pg.Exec(tb, fmt.Sprintf("CREATE ROLE %s LOGIN CREATEROLE PASSWORD %s", quoteIdent(e.admin), quoteLiteral(e.adminPass)))
	pg.Exec(tb, "GRANT pg_signal_backend TO "+quoteIdent(e.admin))
	e.db = pg.NewDatabase(tb, "db", e.admin)
	conn := e.mustConnect(tb, e.admin, e.adminPass)
	mustExec(tb, conn, "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2)")
	return e
}

// configBody is a config/:name body for the admin, templated.
func (e *pgEnv) configBody(extra string) string {
	url := fmt.Sprintf("postgres://{{username}}:{{password}}@127.0.0.1:%d/%s?sslmode=disable", e.pg.Port, e.db)
	return fmt.Sprintf(`{"plugin_name":"postgresql-database-plugin","connection_url":%q,"username":%q,"password":%q,"allowed_roles":"*"%s}`,
		url, e.admin, e.adminPass, extra)
}

// connect logs in as user; the error is PostgreSQL's.
func (e *pgEnv) connect(user, password string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, e.pg.URL(user, password, e.db))
}

func (e *pgEnv) mustConnect(tb testing.TB, user, password string) *pgx.Conn {
	tb.Helper()
	conn, err := e.connect(user, password)
	if err != nil {
		tb.Fatalf("connect as %q: %v", user, err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// loginFails asserts that PostgreSQL refuses user with password.
func (e *pgEnv) loginFails(tb testing.TB, user, password string) {
	tb.Helper()
	conn, err := e.connect(user, password)
	if err == nil {
		_ = conn.Close(context.Background())
		tb.Fatalf("%q logged in with a password that should no longer work", user)
	}
	if !isAuthError(err) {
		tb.Fatalf("login as %q: %v, want an authentication failure", user, err)
	}
}

// roleExists reports whether pg_roles has name.
func (e *pgEnv) roleExists(tb testing.TB, name string) bool {
	tb.Helper()
	var n int
	if err := e.pg.Connect(tb, e.db).QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname = $1", name).Scan(&n); err != nil {
		tb.Fatalf("query pg_roles: %v", err)
	}
	return n == 1
}

// validUntil returns pg_roles.rolvaliduntil of name.
func (e *pgEnv) validUntil(tb testing.TB, name string) time.Time {
	tb.Helper()
	var t *time.Time
	if err := e.pg.Connect(tb, e.db).QueryRow(context.Background(), "SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1", name).Scan(&t); err != nil {
		tb.Fatalf("query rolvaliduntil of %q: %v", name, err)
	}
	if t == nil {
		tb.Fatalf("role %q has no VALID UNTIL", name)
	}
	return *t
}

func mustExec(tb testing.TB, conn *pgx.Conn, sql string) {
	tb.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		tb.Fatalf("exec %q: %v", sql, err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func str(tb testing.TB, resp *engines.Response, key string) string {
	tb.Helper()
	if resp == nil {
		tb.Fatalf("nil response, want %s", key)
	}
	s, ok := resp.Data[key].(string)
	if !ok {
		tb.Fatalf("response %v has no string %s", resp.Data, key)
	}
	return s
}

func secretRequest(h *harness, resp *engines.Response, expire time.Time) *engines.SecretRequest {
	return &engines.SecretRequest{Storage: h.storage, InternalData: resp.Secret.InternalData, ExpireTime: expire}
}
