package userpass

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// user is a userpass user as stored.
type user struct {
	tokenfields.TokenParams
	// PasswordHash is the argon2id hash in PHC form (see encodeHash).
	PasswordHash string `json:"password_hash"`
	// Policies, TTL, MaxTTL and BoundCIDRs are the deprecated aliases of
	// the token_* fields, kept (as Vault does) only while a client uses
	// them.
	Policies   []string      `json:"policies,omitempty"`
	TTL        time.Duration `json:"ttl,omitempty"`
	MaxTTL     time.Duration `json:"max_ttl,omitempty"`
	BoundCIDRs []string      `json:"bound_cidrs,omitempty"`
}

func (b *backend) getUser(ctx context.Context, name string) (*user, error) {
	raw, err := b.storage.Get(ctx, userPrefix+name)
	if err != nil {
		return nil, wrapStorage("read user", err)
	}
	if raw == nil {
		return nil, nil
	}
	var u user
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("userpass: decode user: %w", err)
	}
	return &u, nil
}

func (b *backend) putUser(ctx context.Context, name string, u *user) error {
	raw, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("userpass: encode user: %w", err)
	}
	if err := b.storage.Put(ctx, userPrefix+name, raw); err != nil {
		return wrapStorage("write user", err)
	}
	return nil
}

func (b *backend) listUsers(ctx context.Context) (*engines.Response, error) {
	keys, err := b.storage.List(ctx, userPrefix)
	if err != nil {
		return nil, wrapStorage("list users", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return &engines.Response{Data: map[string]any{"keys": keys}}, nil
}

func (b *backend) readUser(ctx context.Context, name string) (*engines.Response, error) {
	u, err := b.getUser(ctx, name)
	if err != nil || u == nil {
		return nil, err
	}
	m := map[string]any{}
	u.Populate(m)
	if u.TTL > 0 {
		m["ttl"] = int64(u.TTL / time.Second)
	}
	if u.MaxTTL > 0 {
		m["max_ttl"] = int64(u.MaxTTL / time.Second)
	}
	if len(u.Policies) > 0 {
		m["policies"] = m["token_policies"]
	}
	if len(u.BoundCIDRs) > 0 {
		m["bound_cidrs"] = u.BoundCIDRs
	}
	return &engines.Response{Data: m}, nil
}

// writeUser creates or updates a user; a new user needs a password.
func (b *backend) writeUser(ctx context.Context, name string, f tokenfields.Fields) (*engines.Response, error) {
	hash, hasPassword, err := b.passwordField(ctx, f)
	if err != nil {
		return nil, err
	}
	lock := b.userLock(name)
	lock.Lock()
	defer lock.Unlock()
	u, err := b.getUser(ctx, name)
	if err != nil {
		return nil, err
	}
	if u == nil {
		if !hasPassword {
			return nil, engines.BadRequest("missing password")
		}
		u = &user{TokenParams: tokenfields.TokenParams{TokenType: tokenfields.TokenTypeDefault}}
	}
	warnings, err := u.apply(f)
	if err != nil {
		return nil, err
	}
	if hasPassword {
		u.PasswordHash = hash
	}
	if err := b.putUser(ctx, name, u); err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		return &engines.Response{Warnings: warnings}, nil
	}
	return nil, nil
}

// passwordField hashes the password field if given; given but empty is a
// 400. Hashing happens before any lock is taken.
func (b *backend) passwordField(ctx context.Context, f tokenfields.Fields) (hash string, ok bool, err error) {
	pw, ok, err := f.Str("password")
	if err != nil || !ok {
		return "", false, err
	}
	if pw == "" {
		return "", false, engines.BadRequest("missing password")
	}
	hash, err = b.hasher.hash(ctx, pw)
	if err != nil {
		return "", false, err
	}
	return hash, true, nil
}

// apply sets the token fields present in f and the deprecated aliases with
// Vault's tokenutil.UpgradeValue rule: the old name alone sets both; the
// new name clears the old unless both are given.
func (u *user) apply(f tokenfields.Fields) ([]string, error) {
	warnings, err := u.Parse(f)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Has("token_policies"):
		u.Policies = nil
		if f.Has("policies") {
			u.Policies = u.TokenPolicies
		}
	case f.Has("policies"):
		v, _, err := f.Strings("policies")
		if err != nil {
			return nil, err
		}
		u.Policies = tokenfields.SanitizePolicies(v)
		u.TokenPolicies = u.Policies
	}
	if err := upgradeDuration(f, "ttl", "token_ttl", &u.TTL, &u.TokenTTL); err != nil {
		return nil, err
	}
	if err := upgradeDuration(f, "max_ttl", "token_max_ttl", &u.MaxTTL, &u.TokenMaxTTL); err != nil {
		return nil, err
	}
	switch {
	case f.Has("token_bound_cidrs"):
		u.BoundCIDRs = nil
		if f.Has("bound_cidrs") {
			u.BoundCIDRs = u.TokenBoundCIDRs
		}
	case f.Has("bound_cidrs"):
		v, _, err := f.Strings("bound_cidrs")
		if err != nil {
			return nil, err
		}
		if u.BoundCIDRs, err = tokenfields.ParseCIDRs("bound_cidrs", v); err != nil {
			return nil, err
		}
		u.TokenBoundCIDRs = u.BoundCIDRs
	}
	if u.TokenTTL > 0 && u.TokenMaxTTL > 0 && u.TokenTTL > u.TokenMaxTTL {
		return nil, engines.BadRequest("'token_ttl' cannot be greater than 'token_max_ttl'")
	}
	return warnings, nil
}

func upgradeDuration(f tokenfields.Fields, oldName, newName string, oldVal, newVal *time.Duration) error {
	switch {
	case f.Has(newName):
		*oldVal = 0
		if f.Has(oldName) {
			*oldVal = *newVal
		}
	case f.Has(oldName):
		if err := f.NonNegativeDuration(oldName, oldVal); err != nil {
			return err
		}
		*newVal = *oldVal
	}
	return nil
}

func (b *backend) deleteUser(ctx context.Context, name string) error {
	lock := b.userLock(name)
	lock.Lock()
	defer lock.Unlock()
	if err := b.storage.Delete(ctx, userPrefix+name); err != nil {
		return wrapStorage("delete user", err)
	}
	return nil
}

func (b *backend) setPassword(ctx context.Context, name string, f tokenfields.Fields) error {
	hash, ok, err := b.passwordField(ctx, f)
	if err != nil {
		return err
	}
	if !ok {
		return engines.BadRequest("missing password")
	}
	lock := b.userLock(name)
	lock.Lock()
	defer lock.Unlock()
	u, err := b.getUser(ctx, name)
	if err != nil {
		return err
	}
	if u == nil {
		return errNoSuchUser
	}
	u.PasswordHash = hash
	return b.putUser(ctx, name, u)
}

func (b *backend) setPolicies(ctx context.Context, name string, f tokenfields.Fields) error {
	if !f.Has("token_policies") && !f.Has("policies") {
		return engines.BadRequest("must provide token_policies")
	}
	lock := b.userLock(name)
	lock.Lock()
	defer lock.Unlock()
	u, err := b.getUser(ctx, name)
	if err != nil {
		return err
	}
	if u == nil {
		return errNoSuchUser
	}
	sub := tokenfields.Fields{}
	for _, k := range []string{"token_policies", "policies"} {
		if f.Has(k) {
			sub[k] = f[k]
		}
	}
	if _, err := u.apply(sub); err != nil {
		return err
	}
	return b.putUser(ctx, name, u)
}
