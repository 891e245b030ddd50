package database

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"coffer/engines"
)

// readConfig answers config/:name in Vault's shape; the password is
// never returned.
func (b *backend) readConfig(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	cfg, err := b.loadConfig(ctx, name)
	if err != nil || cfg == nil {
		return nil, err
	}
	details := map[string]any{
		"connection_url":          redactURL(cfg.ConnectionURL),
		"username":                cfg.Username,
		"max_open_connections":    cfg.MaxOpenConnections,
		"max_idle_connections":    cfg.MaxIdleConnections,
		"max_connection_lifetime": cfg.MaxConnectionLifetime.String(),
	}
	if cfg.UsernameTemplate != "" {
		details["username_template"] = cfg.UsernameTemplate
	}
	return &engines.Response{Data: map[string]any{
		"plugin_name":                        cfg.PluginName,
		"plugin_version":                     "",
		"connection_details":                 details,
		"allowed_roles":                      nonNil(cfg.AllowedRoles),
		"password_policy":                    cfg.PasswordPolicy,
		"verify_connection":                  cfg.VerifyConnection,
		"root_credentials_rotate_statements": nonNil(cfg.RootRotationStatements),
	}}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeConfig creates or updates a connection: fields not given keep
// their value. With verify_connection (the default) it connects and
// pings before storing. The connection's pool is reopened.
func (b *backend) writeConfig(ctx context.Context, req *engines.Request, name string) (*engines.Response, error) {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	old, err := b.loadConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	cfg := dbConfig{VerifyConnection: true}
	if old != nil {
		cfg = *old
		cfg.VerifyConnection = true
	}
	f := &fields{data: req.Data}
	f.str("plugin_name", &cfg.PluginName)
	f.str("connection_url", &cfg.ConnectionURL)
	f.str("username", &cfg.Username)
	f.str("password", &cfg.Password)
	f.commaList("allowed_roles", &cfg.AllowedRoles)
	f.integer("max_open_connections", &cfg.MaxOpenConnections)
	f.integer("max_idle_connections", &cfg.MaxIdleConnections)
	f.duration("max_connection_lifetime", &cfg.MaxConnectionLifetime)
	f.str("password_policy", &cfg.PasswordPolicy)
	f.boolean("verify_connection", &cfg.VerifyConnection)
	f.statements("root_rotation_statements", &cfg.RootRotationStatements)
	f.str("username_template", &cfg.UsernameTemplate)
	if f.err != nil {
		return nil, f.err
	}
	if f.has("password") {
		cfg.PendingPassword = "" // an operator-set password ends any rotation
	}
	switch {
	case cfg.PluginName == "":
		return nil, engines.BadRequest("plugin_name is required")
	case cfg.PluginName != pluginName:
		return nil, engines.BadRequest("unsupported plugin_name %q: only %q is available", cfg.PluginName, pluginName)
	case cfg.ConnectionURL == "":
		return nil, engines.BadRequest("connection_url is required")
	case cfg.MaxOpenConnections < 0 || cfg.MaxIdleConnections < 0:
		return nil, engines.BadRequest("max_open_connections and max_idle_connections cannot be negative")
	}
	if cfg.MaxOpenConnections == 0 {
		cfg.MaxOpenConnections = defaultMaxOpen
	}
	if cfg.MaxIdleConnections > cfg.MaxOpenConnections {
		cfg.MaxIdleConnections = cfg.MaxOpenConnections
	}
	if err := checkPasswordPolicy(cfg.PasswordPolicy); err != nil {
		return nil, err
	}
	if _, err := parseUsernameTemplate(cfg.UsernameTemplate); err != nil {
		return nil, err
	}
	if _, err := cfg.connConfig(cfg.Username, cfg.Password); err != nil {
		return nil, err
	}
	if cfg.VerifyConnection {
		if err := verify(ctx, &cfg); err != nil {
			return nil, err
		}
	}
	if err := b.putJSON(ctx, configPrefix+name, &cfg); err != nil {
		return nil, err
	}
	b.resetPool(name)
	return nil, nil
}

// verify connects with cfg's credentials and pings. PostgreSQL's answer
// (no secret in it) is returned to the operator who wrote the config.
func verify(ctx context.Context, cfg *dbConfig) error {
	conn, err := cfg.connect(ctx, cfg.Username, cfg.Password)
	if err == nil {
		err = conn.Ping(ctx)
		closeConn(conn)
	}
	if err != nil {
		var ce *engines.Error
		if errors.As(err, &ce) {
			return err
		}
		return engines.BadRequest("error creating database object: error verifying connection: %s", redact(err, cfg.Password))
	}
	return nil
}

// deleteConfig removes a connection and closes its pool.
func (b *backend) deleteConfig(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	if err := b.delete(ctx, configPrefix+name); err != nil {
		return nil, err
	}
	b.resetPool(name)
	return nil, nil
}

// reset closes the connection's pool; the next request reconnects with
// the stored configuration.
func (b *backend) reset(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	if _, err := b.requireConfig(ctx, name); err != nil {
		return nil, err
	}
	b.resetPool(name)
	return nil, nil
}

// dsnPassword matches a password in a key=value connection string.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// urlPassword matches the password of a URL's userinfo.
var urlPassword = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/]*:)([^@]*)(@)`)

// redactURL hides a password written into a connection URL (Vault masks
// it on read); the {{password}} placeholder is shown as is.
func redactURL(s string) string {
	if m := urlPassword.FindStringSubmatch(s); m != nil && m[2] != "{{password}}" {
		return urlPassword.ReplaceAllString(s, "${1}*****${3}")
	}
	return dsnPassword.ReplaceAllStringFunc(s, func(kv string) string {
		m := dsnPassword.FindStringSubmatch(kv)
		if strings.Trim(m[2], "'") == "{{password}}" {
			return kv
		}
		return m[1] + "*****"
	})
}
