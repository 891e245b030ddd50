package approle

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// login authenticates a role ID and (when the role binds one) a secret ID,
// consumes one use of the secret ID, and returns the auth block the system
// backend turns into a token.
//
// Order matters: credentials are checked first, then source addresses,
// and only a login that passes every check consumes a use, all under the
// secret ID's lock, so a secret ID with n uses logs in at most n times.
func (b *backend) login(ctx context.Context, req *engines.Request, f tokenfields.Fields) (*engines.Response, error) {
	roleID, _, err := f.Str("role_id")
	if err != nil {
		return nil, err
	}
	roleID = strings.TrimSpace(roleID)
	if roleID == "" {
		return nil, engines.BadRequest("missing role_id")
	}
	if len(roleID) > maxHMACInput {
		return nil, errInvalidCredentials
	}
	name, err := b.roleByID(ctx, roleID)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errInvalidCredentials
	}
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	r, err := b.getRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil || !sameRoleID(r.RoleID, roleID) {
		return nil, errInvalidCredentials
	}

	metadata := map[string]string{}
	tokenCIDRs := r.TokenBoundCIDRs
	if r.BindSecretID {
		secretID, _, err := f.Str("secret_id")
		if err != nil {
			return nil, err
		}
		secretID = strings.TrimSpace(secretID)
		if secretID == "" {
			return nil, engines.BadRequest("missing secret_id")
		}
		if len(secretID) > maxHMACInput {
			return nil, errInvalidCredentials
		}
		e, err := b.useSecretID(ctx, req.RemoteAddr, r, secretID)
		if err != nil {
			return nil, err
		}
		metadata = cloneMetadata(e.Metadata)
		if len(e.TokenBoundCIDRs) > 0 {
			tokenCIDRs = e.TokenBoundCIDRs
		}
	} else if err := checkRoleCIDRs(req.RemoteAddr, r); err != nil {
		return nil, err
	}

	metadata["role_name"] = r.Name
	auth := r.Auth()
	auth.Metadata = metadata
	auth.DisplayName = "approle"
	auth.BoundCIDRs = slices.Clone(tokenCIDRs)
	return &engines.Response{Auth: auth}, nil
}

// checkRoleCIDRs enforces the role's secret_id_bound_cidrs.
func checkRoleCIDRs(remoteAddr string, r *role) error {
	if len(r.SecretIDBoundCIDRs) > 0 && !tokenfields.AddrAllowed(remoteAddr, r.SecretIDBoundCIDRs) {
		return engines.BadRequest("source address %q unauthorized by CIDR restrictions on the role", remoteAddr)
	}
	return nil
}

// useSecretID validates secretID for role r from remoteAddr and consumes
// one use of it; the caller holds the role's read lock.
func (b *backend) useSecretID(ctx context.Context, remoteAddr string, r *role, secretID string) (*secretIDEntry, error) {
	ref, check, err := b.refFor(ctx, r.Name, secretID)
	if err != nil {
		return nil, err
	}
	sl := b.secretLock(ref.hmac)
	sl.Lock()
	defer sl.Unlock()
	e, err := b.getSecretID(ctx, ref)
	if err != nil {
		return nil, err
	}
	if e == nil || subtle.ConstantTimeCompare([]byte(check), []byte(e.Check)) != 1 {
		return nil, errInvalidCredentials
	}
	now := b.clock().UTC()
	if e.expired(now) {
		if err := b.removeSecretID(ctx, ref, e.Accessor); err != nil {
			return nil, err
		}
		return nil, errInvalidCredentials
	}
	ok, err := b.hasAccessor(ctx, e)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Half-deleted: finish the job.
		if err := b.removeSecretID(ctx, ref, ""); err != nil {
			return nil, err
		}
		return nil, errInvalidCredentials
	}
	if err := checkRoleCIDRs(remoteAddr, r); err != nil {
		return nil, err
	}
	if len(e.CIDRList) > 0 {
		if !tokenfields.CIDRSubset(e.CIDRList, r.SecretIDBoundCIDRs) {
			return nil, engines.BadRequest("CIDR blocks on the secret ID are no longer a subset of those on the role")
		}
		if !tokenfields.AddrAllowed(remoteAddr, e.CIDRList) {
			return nil, engines.BadRequest("source address %q unauthorized by CIDR restrictions on the secret ID", remoteAddr)
		}
	}
	switch {
	case e.NumUses == 1:
		if err := b.removeSecretID(ctx, ref, e.Accessor); err != nil {
			return nil, fmt.Errorf("approle: consume last use: %w", err)
		}
	case e.NumUses > 1:
		e.NumUses--
		e.LastUpdatedTime = now
		if err := b.putSecretID(ctx, ref, e); err != nil {
			return nil, fmt.Errorf("approle: consume a use: %w", err)
		}
	}
	return e, nil
}
