package database

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"coffer/engines"
)

// expirationLayout is how {{expiration}} and VALID UNTIL are written
// (in UTC).
const expirationLayout = "2006-01-02 15:04:05-0700"

func formatExpiration(t time.Time) string { return t.UTC().Format(expirationLayout) }

// creds issues a dynamic credential for a role: a generated user name and
// password, created by the role's creation_statements in one transaction
// that also sets VALID UNTIL to the lease's expiry, whatever the
// statements say. If it fails, rollback_statements run (best effort).
func (b *backend) creds(ctx context.Context, req *engines.Request, name string) (*engines.Response, error) {
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, engines.BadRequest("unknown role: %s", name)
	}
	cfg, err := b.roleConfig(ctx, r.DBName, name)
	if err != nil {
		return nil, err
	}

	ttl, maxTTL := b.roleTTLs(r)
	expiry := b.clock().Add(ttl)
	tmpl := r.UsernameTemplate
	if tmpl == "" {
		tmpl = cfg.UsernameTemplate
	}
	in := usernameInput{RoleName: name}
	if req.Token != nil {
		in.DisplayName = req.Token.DisplayName
	}
	username, err := generateUsername(tmpl, in, b.clock)
	if err != nil {
		return nil, err
	}
	password, err := generatePassword()
	if err != nil {
		return nil, err
	}
	vals := map[string]string{"name": username, "username": username, "password": password, "expiration": formatExpiration(expiry)}
	sqls, err := renderAll(r.CreationStatements, vals)
	if err != nil {
		return nil, engines.BadRequest("creation_statements: %v", err)
	}
	p, err := b.pool(ctx, r.DBName)
	if err != nil {
		return nil, err
	}
	err = p.tx(ctx, func(tx pgx.Tx) error {
		if err := execAll(ctx, tx, sqls); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "ALTER ROLE "+quoteIdent(username)+" VALID UNTIL "+quoteLiteral(vals["expiration"]))
		return err
	})
	if err != nil {
		b.rollback(ctx, p, r, vals)
		return nil, statementError("creation statements", err, password)
	}
	return &engines.Response{
		Data: map[string]any{"username": username, "password": password},
		Secret: &engines.Secret{
			LeaseDuration: ttl,
			Renewable:     true,
			MaxTTL:        maxTTL,
			InternalData:  map[string]any{"username": username, "role": name, "db_name": r.DBName},
		},
	}, nil
}

// roleTTLs returns the lease duration (role default_ttl, else the
// mount's, capped by the max) and the role's max_ttl for the lease.
func (b *backend) roleTTLs(r *role) (ttl, roleMax time.Duration) {
	def, max := b.mountTTLs()
	ttl = r.DefaultTTL
	if ttl == 0 {
		ttl = def
	}
	if r.MaxTTL != 0 {
		max = r.MaxTTL
	}
	if ttl > max {
		ttl = max
	}
	return ttl, r.MaxTTL
}

// rollback runs the role's rollback statements after a failed creation,
// logging (without the password) if they fail too.
func (b *backend) rollback(ctx context.Context, p *pool, r *role, vals map[string]string) {
	if len(r.RollbackStatements) == 0 {
		return
	}
	sqls, err := renderAll(r.RollbackStatements, vals)
	if err == nil {
		err = p.tx(ctx, func(tx pgx.Tx) error { return execAll(ctx, tx, sqls) })
	}
	if err != nil {
		b.logger.Warn("database: rollback statements failed", "db_name", r.DBName, "username", vals["username"],
			"error", redact(err, vals["password"]))
	}
}
