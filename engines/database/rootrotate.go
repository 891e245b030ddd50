package database

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"coffer/engines"
)

// defaultRootRotation sets the configured user's password.
const defaultRootRotation = `ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'`

// rotateRoot changes the configured user's password so that only Coffer
// knows it. The order makes a crash at any point recoverable:
//
//  1. take a connection with the current password (which also finishes
//     an earlier interrupted rotation, see dialAdmin);
//  2. store the new password as pending;
//  3. set it in PostgreSQL (root_rotation_statements, one transaction);
//  4. store it as the current password, drop pending, reopen the pool.
//
// After a crash between 3 and 4, the next connection refused with the
// current password tries the pending one and promotes it.
func (b *backend) rotateRoot(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	defer b.rootLocks.lock(name)()
	cfg, err := b.requireConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" {
		return nil, engines.BadRequest("connection %q has no username to rotate", name)
	}
	p, err := b.pool(ctx, name)
	if err != nil {
		return nil, err
	}
	pc, err := p.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: rotate root of %s: %w", name, err)
	}
	err = b.rotateRootOn(ctx, pc.conn, name)
	p.release(pc, err != nil && !isServerError(err))
	if err != nil {
		return nil, err
	}
	b.resetPool(name)
	b.logger.Info("database: root credential rotated", "connection", name)
	return nil, nil
}

func (b *backend) rotateRootOn(ctx context.Context, conn *pgx.Conn, name string) error {
	password, err := generatePassword()
	if err != nil {
		return err
	}
	// Step 2: pending first. Reload: the dial above may have promoted.
	b.configMu.Lock()
	cfg, err := b.loadConfig(ctx, name)
	if err == nil && cfg == nil {
		err = errUnknownConnection(name)
	}
	if err == nil {
		cfg.PendingPassword = password
		err = b.putJSON(ctx, configPrefix+name, cfg)
	}
	b.configMu.Unlock()
	if err != nil {
		return err
	}
	stmts := cfg.RootRotationStatements
	if len(stmts) == 0 {
		stmts = []string{defaultRootRotation}
	}
	sqls, err := renderAll(stmts, map[string]string{"name": cfg.Username, "username": cfg.Username, "password": password})
	if err != nil {
		b.clearPending(ctx, name, password)
		return engines.BadRequest("root_rotation_statements: %v", err)
	}
	// Step 3.
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return execAll(ctx, tx, sqls) })
	if err != nil {
		if isServerError(err) {
			// PostgreSQL refused: the old password stands.
			b.clearPending(ctx, name, password)
		}
		return statementError("root credential rotation", err, password)
	}
	// Step 4.
	return b.promotePending(ctx, name, password)
}

// clearPending drops a pending root password known not to have reached
// PostgreSQL; failing that, the pending entry is harmless (the current
// password still works, so it is never tried).
func (b *backend) clearPending(ctx context.Context, name, pending string) {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := b.loadConfig(ctx, name)
	if err != nil || cfg == nil || cfg.PendingPassword != pending {
		return
	}
	cfg.PendingPassword = ""
	if err := b.putJSON(ctx, configPrefix+name, cfg); err != nil {
		b.logger.Warn("database: could not clear a pending root password", "connection", name, "error", err)
	}
}

// execAll runs each statement (each may hold several, separated by ";":
// without arguments pgx uses the simple protocol).
func execAll(ctx context.Context, tx pgx.Tx, sqls []string) error {
	for i, s := range sqls {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("statement %d: %w", i+1, err)
		}
	}
	return nil
}
