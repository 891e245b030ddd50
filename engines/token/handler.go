package token

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"coffer/engines"
)

// SudoPaths are the paths Vault's token store marks root-protected:
// revoke-orphan and the accessor listing.
func (s *Store) SudoPaths() []string {
	return []string{"revoke-orphan*", "accessors*"}
}

// HandleRequest serves auth/token/. req.Token is the caller's entry,
// already authenticated and authorised for the path by the system.
func (s *Store) HandleRequest(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	if req.Token == nil {
		return nil, engines.ErrPermissionDenied
	}
	path, ok := routePath(req)
	if !ok {
		return nil, engines.ErrUnsupportedPath
	}
	op := req.Operation
	write := []engines.Operation{engines.UpdateOperation, engines.CreateOperation}
	readWrite := append([]engines.Operation{engines.ReadOperation}, write...)
	switch {
	case path == "create":
		return allowed(op, write, func() (*engines.Response, error) { return s.handleCreate(ctx, req, false, "") })
	case path == "create-orphan":
		return allowed(op, write, func() (*engines.Response, error) { return s.handleCreate(ctx, req, true, "") })
	case strings.HasPrefix(path, "create/"):
		name := strings.TrimPrefix(path, "create/")
		return allowed(op, write, func() (*engines.Response, error) { return s.handleCreate(ctx, req, false, name) })
	case path == "lookup":
		return allowed(op, readWrite, func() (*engines.Response, error) { return s.handleLookup(ctx, req, false) })
	case path == "lookup-self":
		return allowed(op, readWrite, func() (*engines.Response, error) { return s.handleLookup(ctx, req, true) })
	case path == "lookup-accessor":
		return allowed(op, write, func() (*engines.Response, error) { return s.handleLookupAccessor(ctx, req) })
	case path == "renew", path == "renew-self", path == "renew-accessor":
		return allowed(op, write, func() (*engines.Response, error) { return s.handleRenew(ctx, req, path) })
	case path == "revoke", path == "revoke-self", path == "revoke-accessor", path == "revoke-orphan":
		return allowed(op, write, func() (*engines.Response, error) { return s.handleRevoke(ctx, req, path) })
	case path == "roles":
		return allowed(op, []engines.Operation{engines.ListOperation}, func() (*engines.Response, error) { return s.listRoles(ctx) })
	case strings.HasPrefix(path, "roles/"):
		return s.handleRoles(ctx, req, strings.TrimPrefix(path, "roles/"))
	case path == "accessors":
		return allowed(op, []engines.Operation{engines.ListOperation}, func() (*engines.Response, error) { return s.listAccessors(ctx) })
	case path == "tidy":
		return allowed(op, write, func() (*engines.Response, error) { return s.handleTidy(ctx) })
	}
	return nil, engines.ErrUnsupportedPath
}

// Exists tells the system's ACL check whether a write creates or updates:
// a write to roles/<name> is a create when the role does not exist yet
// (so a create-only policy can add roles but not change them, and an
// update-only one the reverse), as in Vault. Every other write to the
// token store is checked as an update, as Vault does. The path is taken
// as HandleRequest routes it.
func (s *Store) Exists(ctx context.Context, req *engines.Request) (bool, error) {
	path, ok := routePath(req)
	if !ok {
		return true, nil
	}
	name, isRole := strings.CutPrefix(path, "roles/")
	if !isRole {
		return true, nil
	}
	r, err := s.readRole(ctx, name)
	if err != nil {
		return false, err
	}
	return r != nil, nil
}

// routePath is the path HandleRequest routes on: req.Path exactly as the
// ACL saw it, except that a list may carry one trailing slash
// ("accessors/", "roles/"). Anything else with a leading or trailing
// slash or an empty segment is no path of the store (ok false), so a
// policy on "auth/token/create" cannot be sidestepped through
// "auth/token/create/" or "auth/token//create".
func routePath(req *engines.Request) (path string, ok bool) {
	path = req.Path
	if req.Operation == engines.ListOperation {
		path = strings.TrimSuffix(path, "/")
	}
	if path == "" || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") || strings.Contains(path, "//") {
		return "", false
	}
	return path, true
}

func allowed(op engines.Operation, ops []engines.Operation, f func() (*engines.Response, error)) (*engines.Response, error) {
	if !slices.Contains(ops, op) {
		return nil, engines.ErrUnsupportedOperation
	}
	return f()
}

func mountPoint(req *engines.Request) string {
	if req.MountPoint != "" {
		return req.MountPoint
	}
	return "auth/token/"
}

// errBadToken is lookup's answer for an unknown token, as Vault's.
var errBadToken = &engines.Error{Code: engines.CodePermissionDenied, Message: "bad token"}

func (s *Store) handleLookup(ctx context.Context, req *engines.Request, self bool) (*engines.Response, error) {
	f := newFields(req.Data)
	id := req.ClientToken
	if !self {
		v, err := f.str("token")
		if err != nil {
			return nil, err
		}
		if v != "" {
			id = v
		}
	} else {
		f.accept("token")
	}
	if id == "" {
		return nil, engines.BadRequest("missing token ID")
	}
	found, err := s.findID(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if found == nil || !found.rec.live(now) {
		if self || id == req.ClientToken {
			// The caller's own token, revoked after this request's use
			// was granted (its last one): describe it as authenticated.
			return &engines.Response{Data: lookupData(id, req.Token, req.Token.TTL, 0, s.now())}, nil
		}
		return nil, errBadToken
	}
	r := found.rec
	return &engines.Response{Data: lookupData(id, r.entry(), r.CreationTTL, r.Renewed, now), Warnings: f.warning()}, nil
}

func (s *Store) handleLookupAccessor(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	f := newFields(req.Data)
	acc, err := f.str("accessor")
	if err != nil {
		return nil, err
	}
	if acc == "" {
		return nil, engines.BadRequest("missing accessor")
	}
	found, err := s.findAccessor(ctx, acc)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if found == nil || !found.rec.live(now) {
		return nil, engines.BadRequest("invalid accessor")
	}
	r := found.rec
	return &engines.Response{Data: lookupData("", r.entry(), r.CreationTTL, r.Renewed, now), Warnings: f.warning()}, nil
}

// lookupData is the data of a lookup response, in Vault's shape.
func lookupData(id string, e *engines.TokenEntry, creationTTL time.Duration, renewed int64, now time.Time) map[string]any {
	d := map[string]any{
		"id":               id,
		"accessor":         e.Accessor,
		"policies":         nonNil(e.Policies),
		"path":             e.Path,
		"meta":             e.Meta,
		"display_name":     e.DisplayName,
		"num_uses":         e.NumUses,
		"orphan":           e.Parent == "",
		"creation_time":    e.CreationTime.Unix(),
		"creation_ttl":     seconds(creationTTL),
		"expire_time":      nil,
		"ttl":              int64(0),
		"explicit_max_ttl": seconds(e.ExplicitMaxTTL),
		"entity_id":        e.EntityID,
		"type":             e.Type,
		"issue_time":       e.CreationTime,
		"renewable":        e.Renewable && !e.ExpireTime.IsZero(),
	}
	if !e.ExpireTime.IsZero() {
		d["expire_time"] = e.ExpireTime
		if left := e.ExpireTime.Sub(now); left > 0 {
			d["ttl"] = seconds(left)
		}
	}
	if renewed != 0 {
		t := time.Unix(0, renewed).UTC()
		d["last_renewal_time"] = t.Unix()
		d["last_renewal"] = t
	}
	if e.Role != "" {
		d["role"] = e.Role
	}
	if e.Period != 0 {
		d["period"] = seconds(e.Period)
	}
	if len(e.BoundCIDRs) > 0 {
		d["bound_cidrs"] = e.BoundCIDRs
	}
	return d
}

func (s *Store) handleRenew(ctx context.Context, req *engines.Request, path string) (*engines.Response, error) {
	f := newFields(req.Data)
	inc, _, err := f.duration("increment")
	if err != nil {
		return nil, err
	}
	var found *found
	id := ""
	switch path {
	case "renew-accessor":
		acc, err := f.str("accessor")
		if err != nil {
			return nil, err
		}
		if acc == "" {
			return nil, engines.BadRequest("missing accessor")
		}
		if found, err = s.findAccessor(ctx, acc); err != nil {
			return nil, err
		}
		if found == nil || !found.rec.live(s.now()) {
			return nil, engines.BadRequest("invalid accessor")
		}
	default:
		id = req.ClientToken
		if path == "renew" {
			if id, err = f.str("token"); err != nil {
				return nil, err
			}
		} else {
			f.accept("token")
		}
		if id == "" {
			return nil, engines.BadRequest("missing token ID")
		}
		if found, err = s.findID(ctx, id); err != nil {
			return nil, err
		}
		if found == nil {
			return nil, engines.BadRequest("token not found")
		}
	}
	resp, err := s.renew(ctx, found.key, id, inc)
	if err != nil {
		return nil, err
	}
	resp.Warnings = append(resp.Warnings, f.warning()...)
	return resp, nil
}

func (s *Store) handleRevoke(ctx context.Context, req *engines.Request, path string) (*engines.Response, error) {
	f := newFields(req.Data)
	switch path {
	case "revoke-self":
		return nil, s.Revoke(ctx, req.ClientToken)
	case "revoke-accessor":
		acc, err := f.str("accessor")
		if err != nil {
			return nil, err
		}
		if acc == "" {
			return nil, engines.BadRequest("missing accessor")
		}
		found, err := s.findAccessor(ctx, acc)
		if err != nil {
			return nil, err
		}
		if found == nil {
			return &engines.Response{Warnings: []string{"No token found with this accessor"}}, nil
		}
		return nil, s.revokeKey(ctx, found.key, revokeTree)
	}
	id, err := f.str("token")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, engines.BadRequest("missing token ID")
	}
	if path == "revoke" {
		return nil, s.Revoke(ctx, id)
	}
	// revoke-orphan: the system has checked sudo on the path; a configured
	// sudo check is asked again, as Vault's handler does.
	if s.hasSudo != nil && !s.sudo(ctx, req.Token, mountPoint(req)+req.Path) {
		return nil, engines.BadRequest("root or sudo privileges required to revoke and orphan")
	}
	found, err := s.findID(ctx, id)
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, engines.BadRequest("token to revoke not found")
	}
	return nil, s.revokeKey(ctx, found.key, revokeOrphan)
}

// listAccessors lists the accessors of every live token.
func (s *Store) listAccessors(ctx context.Context) (*engines.Response, error) {
	akeys, err := s.storage.List(ctx, accessorPrefix)
	if err != nil {
		return nil, fmt.Errorf("token: list accessors: %w", err)
	}
	now := s.now()
	keys := make([]string, 0, len(akeys))
	for _, ak := range akeys {
		raw, err := s.storage.Get(ctx, accessorPrefix+ak)
		if err != nil {
			return nil, fmt.Errorf("token: read accessor index: %w", err)
		}
		if raw == nil {
			continue
		}
		r, err := s.read(ctx, string(raw))
		if err != nil {
			return nil, err
		}
		if r != nil && r.live(now) {
			keys = append(keys, r.accessor)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys)
	return &engines.Response{Data: map[string]any{"keys": keys}}, nil
}
