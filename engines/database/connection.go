package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"coffer/engines"
)

// pluginName is the only database plugin Coffer has.
const pluginName = "postgresql-database-plugin"

// Vault's connection pool defaults.
const (
	defaultMaxOpen        = 4
	defaultConnectTimeout = 10 * time.Second
)

// dbConfig is a connection, stored at config/<name>.
type dbConfig struct {
	PluginName    string `json:"plugin_name"`
	ConnectionURL string `json:"connection_url"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	// PendingPassword is a root password being rotated in: written
	// before PostgreSQL is changed and promoted after, so a crash in
	// between leaves both candidates known.
	PendingPassword        string        `json:"pending_password,omitempty"`
	AllowedRoles           []string      `json:"allowed_roles"`
	MaxOpenConnections     int           `json:"max_open_connections"`
	MaxIdleConnections     int           `json:"max_idle_connections"`
	MaxConnectionLifetime  time.Duration `json:"max_connection_lifetime"`
	PasswordPolicy         string        `json:"password_policy"`
	VerifyConnection       bool          `json:"verify_connection"`
	RootRotationStatements []string      `json:"root_rotation_statements"`
	UsernameTemplate       string        `json:"username_template"`
}

// allows reports whether role may use the connection.
func (c *dbConfig) allows(role string) bool {
	for _, r := range c.AllowedRoles {
		if r == "*" || r == role {
			return true
		}
	}
	return false
}

// Markers stand in for the templated credentials while the URL is
// parsed, so neither URL nor key=value syntax needs escaping rules.
const (
	userMarker     = "coffer-username-placeholder"
	passwordMarker = "coffer-password-placeholder"
)

// connConfig parses the connection URL for user and password; an empty
// argument keeps what the URL says.
func (c *dbConfig) connConfig(user, password string) (*pgx.ConnConfig, error) {
	raw := strings.NewReplacer("{{username}}", userMarker, "{{password}}", passwordMarker).Replace(c.ConnectionURL)
	cc, err := pgx.ParseConfig(raw)
	if err != nil {
		// The parse error may quote the URL; it stays out of messages.
		return nil, engines.BadRequest("invalid connection_url: it must be a PostgreSQL URL or key=value connection string")
	}
	if user != "" || cc.User == userMarker {
		cc.User = user
	}
	if password != "" || cc.Password == passwordMarker {
		cc.Password = password
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = defaultConnectTimeout
	}
	// Literal quoting in statement.go relies on this.
	cc.RuntimeParams["standard_conforming_strings"] = "on"
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "coffer"
	}
	return cc, nil
}

// connect opens one connection as user with password.
func (c *dbConfig) connect(ctx context.Context, user, password string) (*pgx.Conn, error) {
	cc, err := c.connConfig(user, password)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		if isAuthError(err) {
			return nil, fmt.Errorf("%w: %s", errAuth, redact(err, password))
		}
		return nil, fmt.Errorf("database: connect: %s", redact(err, password))
	}
	return conn, nil
}

// isServerError reports whether err is an error PostgreSQL returned (the
// connection is still usable).
func isServerError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// isAuthError reports whether err is PostgreSQL refusing a login:
// invalid_password (28P01) or invalid_authorization_specification
// (28000: no such role, not allowed to log in).
func isAuthError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000")
}

// sqlState returns err's SQLSTATE, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// redact renders err with every secret replaced, for logs and wrapped
// errors (PostgreSQL may quote a statement's literal in a syntax error).
func redact(err error, secrets ...string) string {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
		}
	}
	return msg
}

// statementError is what a client sees when statements fail: the
// SQLSTATE only; the redacted detail is wrapped for the operator log.
func statementError(what string, err error, secrets ...string) error {
	code := sqlState(err)
	msg := "database: " + what + " failed"
	if code != "" {
		msg += " (SQLSTATE " + code + ")"
	}
	return fmt.Errorf("%w: %s", &engines.Error{Code: engines.CodeInternal, Message: msg}, redact(err, secrets...))
}

// loadConfig reads config/<name>; nil if absent.
func (b *backend) loadConfig(ctx context.Context, name string) (*dbConfig, error) {
	var c dbConfig
	ok, err := b.getJSON(ctx, configPrefix+name, &c)
	if err != nil || !ok {
		return nil, err
	}
	return &c, nil
}

// requireConfig is loadConfig for a connection that must exist.
func (b *backend) requireConfig(ctx context.Context, name string) (*dbConfig, error) {
	cfg, err := b.loadConfig(ctx, name)
	if err == nil && cfg == nil {
		err = errUnknownConnection(name)
	}
	return cfg, err
}

// roleConfig is the existing connection a role names, which must list
// the role among its allowed_roles.
func (b *backend) roleConfig(ctx context.Context, dbName, role string) (*dbConfig, error) {
	cfg, err := b.requireConfig(ctx, dbName)
	if err != nil {
		return nil, err
	}
	if !cfg.allows(role) {
		return nil, engines.BadRequest("%q is not an allowed role", role)
	}
	return cfg, nil
}

// getJSON decodes the entry at key into v, reporting whether it exists.
func (b *backend) getJSON(ctx context.Context, key string, v any) (bool, error) {
	raw, err := b.storage.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("database: read %s: %w", key, err)
	}
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("database: decode %s: %w", key, err)
	}
	return true, nil
}

// putJSON encodes v at key.
func (b *backend) putJSON(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("database: encode %s: %w", key, err)
	}
	if err := b.storage.Put(ctx, key, raw); err != nil {
		return fmt.Errorf("database: write %s: %w", key, err)
	}
	return nil
}

func (b *backend) delete(ctx context.Context, key string) error {
	if err := b.storage.Delete(ctx, key); err != nil {
		return fmt.Errorf("database: delete %s: %w", key, err)
	}
	return nil
}

// dialAdmin opens a connection as the configured user, reading the
// configuration afresh. If the current password is refused and a root
// rotation left a pending one, the pending one is tried and, if it
// works, promoted: the rotation had reached PostgreSQL before the crash.
func (b *backend) dialAdmin(ctx context.Context, name string) (*pgx.Conn, error) {
	cfg, err := b.requireConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	conn, err := cfg.connect(ctx, cfg.Username, cfg.Password)
	if err == nil {
		return conn, nil
	}
	if cfg.PendingPassword == "" || !errors.Is(err, errAuth) {
		return nil, err
	}
	pending := cfg.PendingPassword
	conn, perr := cfg.connect(ctx, cfg.Username, pending)
	if perr != nil {
		return nil, err
	}
	if err := b.promotePending(ctx, name, pending); err != nil {
		closeConn(conn)
		return nil, err
	}
	b.logger.Info("database: completed an interrupted root credential rotation", "connection", name)
	return conn, nil
}

// promotePending makes pending the current root password if it still is
// the pending one.
func (b *backend) promotePending(ctx context.Context, name, pending string) error {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := b.loadConfig(ctx, name)
	if err != nil {
		return err
	}
	if cfg == nil || cfg.PendingPassword != pending {
		return nil
	}
	cfg.Password, cfg.PendingPassword = pending, ""
	return b.putJSON(ctx, configPrefix+name, cfg)
}

// pool returns the connection's pool, creating it on first use.
func (b *backend) pool(ctx context.Context, name string) (*pool, error) {
	b.poolsMu.Lock()
	defer b.poolsMu.Unlock()
	if p, ok := b.pools[name]; ok {
		return p, nil
	}
	cfg, err := b.requireConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	p := newPool(func(ctx context.Context) (*pgx.Conn, error) { return b.dialAdmin(ctx, name) },
		cfg.MaxOpenConnections, cfg.MaxIdleConnections, cfg.MaxConnectionLifetime)
	b.pools[name] = p
	return p, nil
}

// resetPool closes the connection's pool; the next use opens a new one.
func (b *backend) resetPool(name string) {
	b.poolsMu.Lock()
	p := b.pools[name]
	delete(b.pools, name)
	b.poolsMu.Unlock()
	if p != nil {
		p.close()
	}
}

func errUnknownConnection(name string) error {
	return engines.BadRequest("unknown database connection %q", name)
}
