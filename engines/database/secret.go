package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"coffer/engines"
)

// defaultRenew moves a dynamic user's expiry to the lease's.
const defaultRenew = `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`

var errBadInternalData = errors.New("database: lease internal data lacks username or db_name")

// secretTarget is what a lease's internal data names.
type secretTarget struct {
	username, role, dbName string
}

func targetOf(req *engines.SecretRequest) (secretTarget, error) {
	s := func(k string) string { v, _ := req.InternalData[k].(string); return v }
	t := secretTarget{username: s("username"), role: s("role"), dbName: s("db_name")}
	if t.username == "" || t.dbName == "" {
		return t, errBadInternalData
	}
	return t, nil
}

// RenewSecret runs the role's renew_statements (default: ALTER ROLE ...
// VALID UNTIL) with {{expiration}} set to req.ExpireTime.
func (b *backend) RenewSecret(ctx context.Context, req *engines.SecretRequest) error {
	t, err := targetOf(req)
	if err != nil {
		return err
	}
	stmts := []string{defaultRenew}
	if r, err := b.loadRole(ctx, t.role); err != nil {
		return err
	} else if r != nil && len(r.RenewStatements) > 0 {
		stmts = r.RenewStatements
	}
	sqls, err := renderAll(stmts, map[string]string{"name": t.username, "username": t.username, "expiration": formatExpiration(req.ExpireTime)})
	if err != nil {
		return fmt.Errorf("database: renew statements: %w", err)
	}
	p, err := b.pool(ctx, t.dbName)
	if err != nil {
		return err
	}
	if err := p.tx(ctx, func(tx pgx.Tx) error { return execAll(ctx, tx, sqls) }); err != nil {
		return statementError("renew statements", err)
	}
	return nil
}

// RevokeSecret removes a dynamic user: the role's revocation_statements,
// or by default, in one transaction, terminate its sessions, hand over
// and drop what it owns, revoke its privileges and drop the role. A user
// already gone counts as revoked; a connection failure is an error, so
// the lease manager retries.
func (b *backend) RevokeSecret(ctx context.Context, req *engines.SecretRequest) error {
	t, err := targetOf(req)
	if err != nil {
		return err
	}
	r, err := b.loadRole(ctx, t.role)
	if err != nil {
		return err
	}
	p, err := b.pool(ctx, t.dbName)
	if err != nil {
		return err
	}
	if r != nil && len(r.RevocationStatements) > 0 {
		sqls, err := renderAll(r.RevocationStatements, map[string]string{"name": t.username, "username": t.username})
		if err != nil {
			return fmt.Errorf("database: revocation statements: %w", err)
		}
		if err := p.tx(ctx, func(tx pgx.Tx) error { return execAll(ctx, tx, sqls) }); err != nil {
			return statementError("revocation statements", err)
		}
		return nil
	}
	if err := p.tx(ctx, func(tx pgx.Tx) error { return b.dropUser(ctx, tx, t.username) }); err != nil {
		return statementError("revocation", err)
	}
	return nil
}

// dropUser is the default revocation. The steps before DROP ROLE run in
// savepoints and may fail (an admin without membership in the user's role
// cannot DROP OWNED BY it; without pg_signal_backend it cannot end its
// sessions): they remove what they can. DROP ROLE itself must succeed.
func (b *backend) dropUser(ctx context.Context, tx pgx.Tx, username string) error {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", username).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return nil
	}
	ident := quoteIdent(username)
	var db string
	if err := tx.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		return err
	}
	steps := [][]string{
		// A CREATEROLE admin that is not a superuser may end only the
		// sessions of roles it is a member of (PostgreSQL 15): join the
		// role first (DROP ROLE removes the membership).
		{"GRANT " + ident + " TO CURRENT_USER"},
		{"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1"},
		{"REASSIGN OWNED BY " + ident + " TO CURRENT_USER", "DROP OWNED BY " + ident},
	}
	rows, err := tx.Query(ctx, "SELECT DISTINCT table_schema FROM information_schema.role_table_grants WHERE grantee = $1", username)
	if err != nil {
		return err
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	schemas = append(schemas, "public")
	for _, s := range schemas {
		sch := quoteIdent(s)
		steps = append(steps,
			[]string{"REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA " + sch + " FROM " + ident},
			[]string{"REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA " + sch + " FROM " + ident},
			[]string{"REVOKE ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA " + sch + " FROM " + ident},
			[]string{"REVOKE ALL PRIVILEGES ON SCHEMA " + sch + " FROM " + ident})
	}
	steps = append(steps, []string{"REVOKE ALL PRIVILEGES ON DATABASE " + quoteIdent(db) + " FROM " + ident})
	for _, step := range steps {
		if err := savepoint(ctx, tx, step, username); err != nil {
			b.logger.Debug("database: revocation step skipped", "username", username, "sqlstate", sqlState(err))
		}
	}
	// The user's sessions must be gone: a session outliving its role keeps
	// whatever PUBLIC can reach. pg_terminate_backend only signals, so
	// give them a moment; if one remains, fail so the lease is retried.
	for wait := 0; ; wait++ {
		var n int
		// pg_stat_activity is a snapshot kept for the whole transaction.
		if _, err := tx.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", username).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if wait == 20 {
			b.logger.Warn("database: the user's sessions could not be ended (does the admin have pg_signal_backend or membership?); revocation will be retried", "sessions", n)
			return fmt.Errorf("database: %d sessions of the user remain", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = tx.Exec(ctx, "DROP ROLE IF EXISTS "+ident)
	return err
}

// savepoint runs stmts in a savepoint, rolling back to it on error. A
// statement with a $1 gets arg.
func savepoint(ctx context.Context, tx pgx.Tx, stmts []string, arg string) error {
	return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		for _, s := range stmts {
			var err error
			if containsParam(s) {
				_, err = sp.Exec(ctx, s, arg)
			} else {
				_, err = sp.Exec(ctx, s)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func containsParam(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '$' && s[i+1] == '1' {
			return true
		}
	}
	return false
}
