package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"coffer/engines"
)

// defaultRotation sets a static user's password.
const defaultRotation = `ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'`

// rotationRetry is how soon a failed scheduled rotation is tried again.
const rotationRetry = 5 * time.Second

// rotationWAL records a static rotation in progress, at
// rotation-wal/<role>, between choosing a password and storing it.
type rotationWAL struct {
	Role        string    `json:"role"`
	DBName      string    `json:"db_name"`
	Username    string    `json:"username"`
	NewPassword string    `json:"new_password"`
	Started     time.Time `json:"started"`
}

// rotateLocked rotates a static role's password in five steps; the
// caller holds the role's lock.
//
//  1. generate a new password;
//  2. record it in a rotation-wal entry (encrypted by the barrier);
//  3. set it in PostgreSQL (rotation_statements, one transaction);
//  4. store it as current, keeping the previous one, and delete the
//     entry;
//  5. log the rotation (never the password).
//
// An interrupted rotation is finished or rolled back by recoverRole,
// which runs first here and when the scheduler starts.
func (b *backend) rotateLocked(ctx context.Context, name string, r *staticRole) error {
	// A client that goes away must not stop a rotation between its steps.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := b.recoverRole(ctx, name); err != nil {
		b.sched.set(name, b.clock().Add(rotationRetry))
		return err
	}
	err := b.rotate(ctx, name, r)
	if err != nil {
		b.sched.set(name, b.clock().Add(rotationRetry))
	}
	return err
}

func (b *backend) rotate(ctx context.Context, name string, r *staticRole) error {
	if _, err := b.requireConfig(ctx, r.DBName); err != nil {
		return err
	}
	acct, err := b.loadAccount(ctx, name)
	if err != nil {
		return err
	}
	// 1.
	password, err := generatePassword()
	if err != nil {
		return err
	}
	stmts := r.RotationStatements
	if len(stmts) == 0 {
		stmts = []string{defaultRotation}
	}
	sqls, err := renderAll(stmts, map[string]string{"name": r.Username, "username": r.Username, "password": password})
	if err != nil {
		return engines.BadRequest("rotation_statements: %v", err)
	}
	p, err := b.pool(ctx, r.DBName)
	if err != nil {
		return err
	}
	// 2.
	wal := rotationWAL{Role: name, DBName: r.DBName, Username: r.Username, NewPassword: password, Started: b.clock()}
	if err := b.putJSON(ctx, walPrefix+name, &wal); err != nil {
		return err
	}
	// 3.
	if err := p.tx(ctx, func(tx pgx.Tx) error { return execAll(ctx, tx, sqls) }); err != nil {
		if isServerError(err) {
			// PostgreSQL refused the transaction: nothing changed there.
			if derr := b.delete(ctx, walPrefix+name); derr != nil {
				b.logger.Warn("database: could not delete a rotation entry", "role", name, "error", derr)
			}
		}
		return statementError("rotation statements", err, password)
	}
	// 4 and 5.
	return b.commitRotation(ctx, name, r, acct, password, b.clock(), false)
}

// commitRotation stores password as the role's current one, keeping the
// old as previous, deletes the rotation entry, logs the event and
// schedules the next rotation.
func (b *backend) commitRotation(ctx context.Context, name string, r *staticRole, old *staticAccount, password string, at time.Time, recovered bool) error {
	acct := staticAccount{Password: password, LastRotation: at}
	if old != nil {
		acct.PreviousPassword, acct.PreviousRotation = old.Password, old.LastRotation
	}
	if err := b.putJSON(ctx, staticAccountPrefix+name, &acct); err != nil {
		return err
	}
	if err := b.delete(ctx, walPrefix+name); err != nil {
		return err
	}
	next := r.nextRotation(&acct)
	b.sched.set(name, next)
	b.logger.Info("database: static role password rotated", "role", name, "username", r.Username,
		"db_name", r.DBName, "last_vault_rotation", at.UTC().Format(time.RFC3339Nano),
		"next_rotation", next.UTC().Format(time.RFC3339), "recovered", recovered)
	// The seed's fifth step: the rotation is on the audit record.
	if b.event != nil {
		if err := b.event(ctx, "static-roles/"+name, map[string]any{
			"event": "static-rotation", "username": r.Username, "db_name": r.DBName,
			"last_vault_rotation": at.UTC().Format(time.RFC3339Nano), "recovered": recovered,
		}); err != nil {
			b.logger.Warn("database: the rotation could not be recorded in the audit log", "role", name, "error", err)
		}
	}
	return nil
}

// recoverRole finishes or rolls back an interrupted rotation of the role
// (the caller holds its lock) so Coffer and PostgreSQL agree: if the new
// password logs in, PostgreSQL took it and it is committed; if
// PostgreSQL refuses it, the entry is dropped, and if the old password
// fails too, stale reports that the role needs a fresh rotation. If
// PostgreSQL cannot be reached the entry stays and an error is returned.
func (b *backend) recoverRole(ctx context.Context, name string) (stale bool, err error) {
	var wal rotationWAL
	ok, err := b.getJSON(ctx, walPrefix+name, &wal)
	if err != nil || !ok {
		return false, err
	}
	r, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return false, err
	}
	if r == nil {
		return false, b.delete(ctx, walPrefix+name)
	}
	cfg, err := b.loadConfig(ctx, wal.DBName)
	if err != nil {
		return false, err
	}
	if cfg == nil {
		return false, fmt.Errorf("database: recover rotation of %s: %w", name, errUnknownConnection(wal.DBName))
	}
	acct, err := b.loadAccount(ctx, name)
	if err != nil {
		return false, err
	}
	works, err := canLogin(ctx, cfg, wal.Username, wal.NewPassword)
	if err != nil {
		// A login cannot tell (the user may not connect to this database):
		// set the entry's password again as the admin, as Vault does; the
		// statements are idempotent, and afterwards both sides agree.
		if rerr := b.reapply(ctx, r, &wal); rerr != nil {
			return false, fmt.Errorf("database: recover rotation of %s: %w (and setting the password again failed: %w)", name, err, rerr)
		}
		works = true
	}
	if works {
		return false, b.commitRotation(ctx, name, r, acct, wal.NewPassword, wal.Started, true)
	}
	oldWorks := false
	if acct != nil {
		if oldWorks, err = canLogin(ctx, cfg, wal.Username, acct.Password); err != nil {
			return false, fmt.Errorf("database: recover rotation of %s: %w", name, err)
		}
	}
	if err := b.delete(ctx, walPrefix+name); err != nil {
		return false, err
	}
	b.logger.Info("database: interrupted static rotation rolled back", "role", name, "username", wal.Username,
		"old_password_works", oldWorks)
	return !oldWorks, nil
}

// reapply runs the role's rotation statements with the password of an
// interrupted rotation.
func (b *backend) reapply(ctx context.Context, r *staticRole, wal *rotationWAL) error {
	stmts := r.RotationStatements
	if len(stmts) == 0 {
		stmts = []string{defaultRotation}
	}
	sqls, err := renderAll(stmts, map[string]string{"name": wal.Username, "username": wal.Username, "password": wal.NewPassword})
	if err != nil {
		return err
	}
	p, err := b.pool(ctx, wal.DBName)
	if err != nil {
		return err
	}
	if err := p.tx(ctx, func(tx pgx.Tx) error { return execAll(ctx, tx, sqls) }); err != nil {
		return statementError("rotation statements", err, wal.NewPassword)
	}
	return nil
}

// canLogin tries to log in as user: true if it works, false if
// PostgreSQL refuses the login, an error if it cannot tell.
func canLogin(ctx context.Context, cfg *dbConfig, user, password string) (bool, error) {
	conn, err := cfg.connect(ctx, user, password)
	if err == nil {
		closeConn(conn)
		return true, nil
	}
	if errors.Is(err, errAuth) {
		return false, nil
	}
	return false, err
}

// recoverAll finishes every interrupted rotation it can, rotating at
// once a role whose stored password no longer works.
func (b *backend) recoverAll(ctx context.Context) error {
	names, err := b.storage.List(ctx, walPrefix)
	if err != nil {
		return fmt.Errorf("database: list rotation entries: %w", err)
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, b.recoverOne(ctx, name))
	}
	return errors.Join(errs...)
}

func (b *backend) recoverOne(ctx context.Context, name string) error {
	defer b.roleLocks.lock(name)()
	stale, err := b.recoverRole(ctx, name)
	if err != nil || !stale {
		return err
	}
	r, err := b.loadStaticRole(ctx, name)
	if err != nil || r == nil {
		return err
	}
	return b.rotateLocked(ctx, name, r)
}
