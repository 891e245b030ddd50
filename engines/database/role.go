package database

import (
	"context"
	"time"

	"coffer/engines"
)

// credentialPassword is the only credential_type Coffer issues.
const credentialPassword = "password"

// role is a dynamic role, stored at role/<name>.
type role struct {
	DBName               string        `json:"db_name"`
	CreationStatements   []string      `json:"creation_statements"`
	RevocationStatements []string      `json:"revocation_statements"`
	RollbackStatements   []string      `json:"rollback_statements"`
	RenewStatements      []string      `json:"renew_statements"`
	DefaultTTL           time.Duration `json:"default_ttl"`
	MaxTTL               time.Duration `json:"max_ttl"`
	CredentialType       string        `json:"credential_type"`
	UsernameTemplate     string        `json:"username_template,omitempty"`
}

func (b *backend) loadRole(ctx context.Context, name string) (*role, error) {
	var r role
	ok, err := b.getJSON(ctx, rolePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// readRole answers roles/:name with TTLs in seconds.
func (b *backend) readRole(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	data := map[string]any{
		"db_name":               r.DBName,
		"creation_statements":   nonNil(r.CreationStatements),
		"revocation_statements": nonNil(r.RevocationStatements),
		"rollback_statements":   nonNil(r.RollbackStatements),
		"renew_statements":      nonNil(r.RenewStatements),
		"default_ttl":           seconds64(r.DefaultTTL),
		"max_ttl":               seconds64(r.MaxTTL),
		"credential_type":       r.CredentialType,
		"credential_config":     map[string]any{},
	}
	if r.UsernameTemplate != "" {
		data["username_template"] = r.UsernameTemplate
	}
	return &engines.Response{Data: data}, nil
}

// writeRole creates or updates a dynamic role; fields not given keep
// their value.
func (b *backend) writeRole(ctx context.Context, req *engines.Request, name string) (*engines.Response, error) {
	defer b.roleLocks.lock(name)()
	if exists, err := b.storage.Get(ctx, staticRolePrefix+name); err != nil {
		return nil, err
	} else if exists != nil {
		return nil, engines.BadRequest("role %q already exists as a static role", name)
	}
	old, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	r := role{CredentialType: credentialPassword}
	if old != nil {
		r = *old
	}
	f := &fields{data: req.Data}
	f.str("db_name", &r.DBName)
	f.statements("creation_statements", &r.CreationStatements)
	f.statements("revocation_statements", &r.RevocationStatements)
	f.statements("rollback_statements", &r.RollbackStatements)
	f.statements("renew_statements", &r.RenewStatements)
	f.duration("default_ttl", &r.DefaultTTL)
	f.duration("max_ttl", &r.MaxTTL)
	f.str("credential_type", &r.CredentialType)
	f.str("username_template", &r.UsernameTemplate)
	if f.err != nil {
		return nil, f.err
	}
	if r.CredentialType == "" {
		r.CredentialType = credentialPassword
	}
	switch {
	case r.DBName == "":
		return nil, engines.BadRequest("db_name is required")
	case len(r.CreationStatements) == 0:
		return nil, engines.BadRequest("creation_statements are required")
	case r.CredentialType != credentialPassword:
		return nil, engines.BadRequest("unsupported credential_type %q: only %q", r.CredentialType, credentialPassword)
	case r.MaxTTL != 0 && r.DefaultTTL > r.MaxTTL:
		return nil, engines.BadRequest("ttl cannot be greater than max_ttl")
	}
	if _, err := parseUsernameTemplate(r.UsernameTemplate); err != nil {
		return nil, err
	}
	return nil, b.putJSON(ctx, rolePrefix+name, &r)
}

func (b *backend) deleteRole(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	return nil, b.delete(ctx, rolePrefix+name)
}
