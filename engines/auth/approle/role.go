package approle

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// role is an AppRole role as stored.
type role struct {
	tokenfields.TokenParams
	Name               string        `json:"name"`
	RoleID             string        `json:"role_id"`
	BindSecretID       bool          `json:"bind_secret_id"`
	SecretIDBoundCIDRs []string      `json:"secret_id_bound_cidrs,omitempty"`
	SecretIDNumUses    int           `json:"secret_id_num_uses,omitempty"`
	SecretIDTTL        time.Duration `json:"secret_id_ttl,omitempty"`
	LocalSecretIDs     bool          `json:"local_secret_ids,omitempty"`
	// Policies and Period are the deprecated aliases of token_policies
	// and token_period, kept (as Vault does) only while a client uses them.
	Policies []string      `json:"policies,omitempty"`
	Period   time.Duration `json:"period,omitempty"`
}

// roleIDEntry maps a role ID (stored under its HMAC) to its role.
type roleIDEntry struct {
	Name string `json:"name"`
}

// errRoleMissing is the 404 for an operation on a role that does not exist.
func errRoleMissing(name string) error {
	return &engines.Error{Code: engines.CodeNotFound, Message: fmt.Sprintf("role %q does not exist", name)}
}

// getRole reads a role; the caller holds its lock. A missing role is nil.
func (b *backend) getRole(ctx context.Context, name string) (*role, error) {
	raw, err := b.storage.Get(ctx, rolePrefix+name)
	if err != nil {
		return nil, wrapStorage("read role", err)
	}
	if raw == nil {
		return nil, nil
	}
	var r role
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("approle: decode role: %w", err)
	}
	r.Name = name
	return &r, nil
}

func (b *backend) listRoles(ctx context.Context) (*engines.Response, error) {
	keys, err := b.storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, wrapStorage("list roles", err)
	}
	return listResponse(keys), nil
}

// roleData is Vault's read response for a role.
func (r *role) data() map[string]any {
	m := map[string]any{
		"bind_secret_id":        r.BindSecretID,
		"secret_id_bound_cidrs": nonNil(r.SecretIDBoundCIDRs),
		"secret_id_num_uses":    r.SecretIDNumUses,
		"secret_id_ttl":         int64(r.SecretIDTTL / time.Second),
		"local_secret_ids":      r.LocalSecretIDs,
	}
	r.Populate(m)
	if r.Period != 0 {
		m["period"] = int64(r.Period / time.Second)
	}
	if len(r.Policies) > 0 {
		m["policies"] = r.Policies
	}
	return m
}

func (b *backend) readRole(ctx context.Context, name string) (*engines.Response, error) {
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	r, err := b.getRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	resp := &engines.Response{Data: r.data()}
	if r.validateConstraints() != nil {
		resp.Warnings = append(resp.Warnings, "Role does not have any constraints set on it. Updates to this role will require a constraint to be set")
	}
	return resp, nil
}

// writeRole creates or updates a role from the fields given.
func (b *backend) writeRole(ctx context.Context, name string, f tokenfields.Fields) (*engines.Response, error) {
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	r, err := b.getRole(ctx, name)
	if err != nil {
		return nil, err
	}
	create := r == nil
	if create {
		r = &role{Name: name, BindSecretID: true, TokenParams: tokenfields.TokenParams{TokenType: tokenfields.TokenTypeDefault}}
	}
	previousRoleID := r.RoleID
	warnings, err := r.apply(f, create)
	if err != nil {
		return nil, err
	}
	if r.RoleID == "" {
		if r.RoleID, err = newUUID(); err != nil {
			return nil, err
		}
	}
	if err := b.putRole(ctx, r, previousRoleID); err != nil {
		return nil, err
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &engines.Response{Warnings: warnings}, nil
}

// apply sets the role fields present in f, as Vault's role create/update
// does, and returns any warnings.
func (r *role) apply(f tokenfields.Fields, create bool) ([]string, error) {
	warnings, err := r.Parse(f)
	if err != nil {
		return nil, err
	}
	if v, ok, err := f.Bool("local_secret_ids"); err != nil {
		return nil, err
	} else if ok {
		if !create {
			return nil, engines.BadRequest("local_secret_ids can only be modified during role creation")
		}
		r.LocalSecretIDs = v
	}
	if v, ok, err := f.Str("role_id"); err != nil {
		return nil, err
	} else if ok {
		if err := checkRoleID(v); err != nil {
			return nil, err
		}
		r.RoleID = v
	}
	if v, ok, err := f.Bool("bind_secret_id"); err != nil {
		return nil, err
	} else if ok {
		r.BindSecretID = v
	}
	cidrField := "secret_id_bound_cidrs"
	if !f.Has(cidrField) {
		cidrField = "bound_cidr_list"
	}
	if v, ok, err := f.Strings(cidrField); err != nil {
		return nil, err
	} else if ok {
		cidrs, err := tokenfields.ParseCIDRs(cidrField, v)
		if err != nil {
			return nil, err
		}
		r.SecretIDBoundCIDRs = cidrs
	}
	if v, ok, err := f.Int("secret_id_num_uses"); err != nil {
		return nil, err
	} else if ok {
		if v < 0 {
			return nil, engines.BadRequest("secret_id_num_uses cannot be negative")
		}
		r.SecretIDNumUses = v
	}
	if err := f.NonNegativeDuration("secret_id_ttl", &r.SecretIDTTL); err != nil {
		return nil, err
	}
	// The deprecated aliases, with Vault's tokenutil.UpgradeValue rule:
	// the old name alone sets both; the new name clears the old unless both
	// are given.
	switch {
	case f.Has("token_policies"):
		r.Policies = nil
		if f.Has("policies") {
			r.Policies = r.TokenPolicies
		}
	case f.Has("policies"):
		v, _, err := f.Strings("policies")
		if err != nil {
			return nil, err
		}
		r.Policies = tokenfields.SanitizePolicies(v)
		r.TokenPolicies = r.Policies
	}
	switch {
	case f.Has("token_period"):
		r.Period = 0
		if f.Has("period") {
			r.Period = r.TokenPeriod
		}
	case f.Has("period"):
		if err := f.NonNegativeDuration("period", &r.Period); err != nil {
			return nil, err
		}
		r.TokenPeriod = r.Period
	}
	return warnings, r.validateConstraints()
}

// validateConstraints requires a role to bind logins to something: a
// secret ID or a set of source addresses.
func (r *role) validateConstraints() error {
	if r.BindSecretID || len(r.SecretIDBoundCIDRs) > 0 || len(r.TokenBoundCIDRs) > 0 {
		return nil
	}
	return engines.BadRequest("at least one constraint should be enabled on the role")
}

func checkRoleID(id string) error {
	if id == "" {
		return engines.BadRequest("missing role_id")
	}
	if len(id) > maxHMACInput {
		return engines.BadRequest("role_id is longer than maximum of %d bytes", maxHMACInput)
	}
	return nil
}

// putRole stores r and moves its role-ID index from previousRoleID; the
// caller holds the role's write lock. A role ID another role holds is a
// 400.
func (b *backend) putRole(ctx context.Context, r *role, previousRoleID string) error {
	key, err := b.hmacKey(ctx)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("approle: encode role: %w", err)
	}
	b.roleIDMu.Lock()
	defer b.roleIDMu.Unlock()
	indexKey := roleIDPrefix + keyedHash(key, "role_id", r.RoleID)
	owner, err := b.getRoleIDEntry(ctx, indexKey)
	if err != nil {
		return err
	}
	if owner != nil && owner.Name != r.Name {
		return engines.BadRequest("role_id already in use")
	}
	if previousRoleID != "" && previousRoleID != r.RoleID {
		if err := b.storage.Delete(ctx, roleIDPrefix+keyedHash(key, "role_id", previousRoleID)); err != nil {
			return wrapStorage("delete previous role_id index", err)
		}
	}
	if err := b.storage.Put(ctx, rolePrefix+r.Name, raw); err != nil {
		return wrapStorage("write role", err)
	}
	if owner != nil {
		return nil
	}
	idx, err := json.Marshal(roleIDEntry{Name: r.Name})
	if err != nil {
		return fmt.Errorf("approle: encode role_id index: %w", err)
	}
	if err := b.storage.Put(ctx, indexKey, idx); err != nil {
		return wrapStorage("write role_id index", err)
	}
	return nil
}

func (b *backend) getRoleIDEntry(ctx context.Context, indexKey string) (*roleIDEntry, error) {
	raw, err := b.storage.Get(ctx, indexKey)
	if err != nil {
		return nil, wrapStorage("read role_id index", err)
	}
	if raw == nil {
		return nil, nil
	}
	var e roleIDEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("approle: decode role_id index: %w", err)
	}
	return &e, nil
}

// roleByID resolves a role ID to its role name, or "" if unknown.
func (b *backend) roleByID(ctx context.Context, roleID string) (string, error) {
	key, err := b.hmacKey(ctx)
	if err != nil {
		return "", err
	}
	e, err := b.getRoleIDEntry(ctx, roleIDPrefix+keyedHash(key, "role_id", roleID))
	if err != nil || e == nil {
		return "", err
	}
	return e.Name, nil
}

// sameRoleID compares role IDs in constant time.
func sameRoleID(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// deleteRole removes a role, every secret ID issued against it and its
// role-ID index.
func (b *backend) deleteRole(ctx context.Context, name string) error {
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	r, err := b.getRole(ctx, name)
	if err != nil || r == nil {
		return err
	}
	if err := b.flushSecretIDs(ctx, name); err != nil {
		return err
	}
	key, err := b.hmacKey(ctx)
	if err != nil {
		return err
	}
	b.roleIDMu.Lock()
	err = b.storage.Delete(ctx, roleIDPrefix+keyedHash(key, "role_id", r.RoleID))
	b.roleIDMu.Unlock()
	if err != nil {
		return wrapStorage("delete role_id index", err)
	}
	if err := b.storage.Delete(ctx, rolePrefix+name); err != nil {
		return wrapStorage("delete role", err)
	}
	return nil
}

func (b *backend) readRoleID(ctx context.Context, name string) (*engines.Response, error) {
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	r, err := b.getRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	return &engines.Response{Data: map[string]any{"role_id": r.RoleID}}, nil
}

func (b *backend) writeRoleID(ctx context.Context, name string, f tokenfields.Fields) error {
	id, _, err := f.Str("role_id")
	if err != nil {
		return err
	}
	if err := checkRoleID(id); err != nil {
		return err
	}
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	r, err := b.getRole(ctx, name)
	if err != nil {
		return err
	}
	if r == nil {
		return errRoleMissing(name)
	}
	previous := r.RoleID
	r.RoleID = id
	return b.putRole(ctx, r, previous)
}

// roleFieldPath is one of Vault's single-setting endpoints under
// role/<name>/: reads return keys, writes accept them (one at least),
// deletes restore reset.
type roleFieldPath struct {
	keys  []string
	reset tokenfields.Fields
}

var roleFieldPaths = map[string]roleFieldPath{
	"policies":              {keys: []string{"token_policies", "policies"}, reset: tokenfields.Fields{"token_policies": ""}},
	"secret-id-num-uses":    {keys: []string{"secret_id_num_uses"}, reset: tokenfields.Fields{"secret_id_num_uses": 0}},
	"secret-id-ttl":         {keys: []string{"secret_id_ttl"}, reset: tokenfields.Fields{"secret_id_ttl": 0}},
	"token-num-uses":        {keys: []string{"token_num_uses"}, reset: tokenfields.Fields{"token_num_uses": 0}},
	"token-ttl":             {keys: []string{"token_ttl"}, reset: tokenfields.Fields{"token_ttl": 0}},
	"token-max-ttl":         {keys: []string{"token_max_ttl"}, reset: tokenfields.Fields{"token_max_ttl": 0}},
	"period":                {keys: []string{"token_period", "period"}, reset: tokenfields.Fields{"token_period": 0}},
	"bind-secret-id":        {keys: []string{"bind_secret_id"}, reset: tokenfields.Fields{"bind_secret_id": true}},
	"secret-id-bound-cidrs": {keys: []string{"secret_id_bound_cidrs"}, reset: tokenfields.Fields{"secret_id_bound_cidrs": ""}},
	"token-bound-cidrs":     {keys: []string{"token_bound_cidrs"}, reset: tokenfields.Fields{"token_bound_cidrs": ""}},
	"local-secret-ids":      {keys: []string{"local_secret_ids"}},
}

func (b *backend) handleRoleField(ctx context.Context, op engines.Operation, name string, fp roleFieldPath, f tokenfields.Fields) (*engines.Response, error) {
	var update tokenfields.Fields
	switch op {
	case engines.ReadOperation:
		lock := b.roleLock(name)
		lock.RLock()
		defer lock.RUnlock()
		r, err := b.getRole(ctx, name)
		if err != nil || r == nil {
			return nil, err
		}
		all := r.data()
		out := map[string]any{}
		for _, k := range fp.keys {
			if v, ok := all[k]; ok {
				out[k] = v
			}
		}
		return &engines.Response{Data: out}, nil
	case engines.CreateOperation, engines.UpdateOperation:
		if fp.reset == nil {
			return nil, engines.ErrUnsupportedOperation
		}
		update = tokenfields.Fields{}
		for _, k := range fp.keys {
			if f.Has(k) {
				update[k] = f[k]
			}
		}
		if len(update) == 0 {
			return nil, engines.BadRequest("missing %s", fp.keys[0])
		}
	case engines.DeleteOperation:
		if fp.reset == nil {
			return nil, engines.ErrUnsupportedOperation
		}
		update = fp.reset
	default:
		return nil, engines.ErrUnsupportedOperation
	}
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	r, err := b.getRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errRoleMissing(name)
	}
	warnings, err := r.apply(update, false)
	if err != nil {
		return nil, err
	}
	if err := b.putRole(ctx, r, r.RoleID); err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		return &engines.Response{Warnings: slices.Clone(warnings)}, nil
	}
	return nil, nil
}
