package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartConnectStopRestart(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("started in %v on port %d", time.Since(start), s.Port)

	role := Name("app")
	s.Exec(t, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD 'pw'")
	db := s.NewDatabase(t, "t", role)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL(role, "pw", db))
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	_ = conn.Close(ctx)
	if c, err := pgx.Connect(ctx, s.URL(role, "wrong", db)); err == nil {
		_ = c.Close(ctx)
		t.Fatal("a wrong password logged in")
	}

	s.Stop(t)
	if c, err := pgx.Connect(ctx, s.URL(role, "pw", db)); err == nil {
		_ = c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	s.Restart(t)
	var n int
	if err := s.Connect(t, db).QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after restart: %d, %v", n, err)
	}
}
