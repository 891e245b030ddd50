package token

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"coffer/engines"
)

var displayNameSanitize = regexp.MustCompile(`[^a-zA-Z0-9-]`)

// createParams are the fields of a create request.
type createParams struct {
	id, displayName, tokenType, entityAlias string
	policies                                []string
	meta                                    map[string]string
	noParent, noDefault, renewable          bool
	ttl, explicitMax, period                time.Duration
	numUses                                 int
}

func parseCreate(data map[string]any) (*createParams, []string, error) {
	f := newFields(data)
	f.accept("role_name", "format")
	p := &createParams{renewable: true}
	var err error
	for _, s := range []struct {
		name string
		to   *string
	}{{"id", &p.id}, {"display_name", &p.displayName}, {"type", &p.tokenType}, {"entity_alias", &p.entityAlias}} {
		if *s.to, err = f.str(s.name); err != nil {
			return nil, nil, err
		}
	}
	if p.policies, _, err = f.strings("policies"); err != nil {
		return nil, nil, err
	}
	if p.meta, err = f.stringMap("meta"); err != nil {
		return nil, nil, err
	}
	if p.meta == nil {
		if p.meta, err = f.stringMap("metadata"); err != nil {
			return nil, nil, err
		}
	} else {
		f.accept("metadata")
	}
	for _, b := range []struct {
		name string
		to   *bool
	}{{"no_parent", &p.noParent}, {"no_default_policy", &p.noDefault}, {"renewable", &p.renewable}} {
		if v, ok, err := f.boolean(b.name); err != nil {
			return nil, nil, err
		} else if ok {
			*b.to = v
		}
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"ttl", &p.ttl}, {"explicit_max_ttl", &p.explicitMax}, {"period", &p.period}} {
		if *d.to, _, err = f.duration(d.name); err != nil {
			return nil, nil, err
		}
		if *d.to < 0 {
			return nil, nil, engines.BadRequest("%s must be positive", d.name)
		}
	}
	if p.ttl == 0 {
		// "lease" is the pre-"ttl" name Vault still accepts.
		if p.ttl, _, err = f.duration("lease"); err != nil {
			return nil, nil, err
		}
		if p.ttl < 0 {
			return nil, nil, engines.BadRequest("lease must be positive")
		}
	} else {
		f.accept("lease")
	}
	if p.numUses, _, err = f.integer("num_uses"); err != nil {
		return nil, nil, err
	}
	if p.numUses < 0 {
		return nil, nil, engines.BadRequest("number of uses cannot be negative")
	}
	return p, f.warning(), nil
}

// handleCreate serves create, create-orphan and create/:role with Vault's
// rules: a child gets a subset of its parent's policies unless the caller
// has sudo; only a root token makes root tokens; no_parent, id and period
// need sudo; a token with a use limit makes no children; a role overrides
// the subset rule with its allowed and disallowed policies.
func (s *Store) handleCreate(ctx context.Context, req *engines.Request, orphan bool, roleName string) (*engines.Response, error) {
	parent := req.Token
	if parent.NumUses != 0 {
		return nil, engines.BadRequest("restricted use token cannot generate child tokens")
	}
	var rl *role
	if roleName != "" {
		var err error
		if rl, err = s.readRole(ctx, roleName); err != nil {
			return nil, err
		}
		if rl == nil {
			return nil, engines.BadRequest("unknown role %s", roleName)
		}
	}
	p, warnings, err := parseCreate(req.Data)
	if err != nil {
		return nil, err
	}
	isSudo := s.sudo(ctx, parent, mountPoint(req)+req.Path)

	switch p.tokenType {
	case "", "service":
	case "batch":
		return nil, engines.BadRequest("batch tokens are not supported")
	default:
		return nil, engines.BadRequest("invalid 'token_type' value")
	}
	if p.entityAlias != "" {
		if rl == nil {
			return nil, engines.BadRequest("'entity_alias' is only allowed in combination with token role")
		}
		return nil, engines.BadRequest("entity aliases are not supported")
	}

	now := s.now()
	r := &record{
		parent:      parent.Accessor,
		Path:        "auth/token/" + req.Path,
		Meta:        p.meta,
		DisplayName: "token",
		NumUses:     p.numUses,
		Created:     now.UnixNano(),
		Type:        "service",
	}
	renewable := p.renewable
	noDefault := p.noDefault
	if rl != nil {
		r.Role = rl.Name
		if !rl.Renewable {
			renewable = false
		}
		switch {
		case rl.TokenNumUses == 0:
		case r.NumUses == 0, rl.TokenNumUses < r.NumUses:
			r.NumUses = rl.TokenNumUses
		}
		if rl.PathSuffix != "" {
			r.Path += "/" + rl.PathSuffix
		}
		noDefault = noDefault || rl.TokenNoDefaultPolicy
	}
	if p.displayName != "" {
		name := displayNameSanitize.ReplaceAllString("token-"+p.displayName, "-")
		r.DisplayName = strings.TrimSuffix(name, "-")
	}
	if p.id != "" {
		if !isSudo {
			return nil, engines.BadRequest("root or sudo privileges required to specify token id")
		}
		switch {
		case strings.HasPrefix(p.id, tokenPrefix):
			return nil, engines.BadRequest("custom token ID cannot have the 'hvs.' prefix")
		case strings.HasPrefix(p.id, "s."):
			return nil, engines.BadRequest("custom token ID cannot have the 's.' prefix")
		case strings.Contains(p.id, "."):
			return nil, engines.BadRequest("custom token ID cannot have a '.' in the value")
		}
	}

	if r.Policies, err = childPolicies(p, rl, parent, isSudo, noDefault); err != nil {
		return nil, err
	}

	var cidrs []string
	switch {
	case rl != nil:
		if rl.Orphan {
			r.parent = ""
		}
		cidrs = rl.TokenBoundCIDRs
	case p.noParent:
		if !isSudo {
			return nil, engines.BadRequest("root or sudo privileges required to create orphan token")
		}
		r.parent = ""
	case orphan:
		r.parent = ""
	}
	if r.parent != "" && rl == nil {
		cidrs = parent.BoundCIDRs
	}

	explicitMax, period, backendMax := p.explicitMax, time.Duration(0), time.Duration(0)
	if p.period > 0 {
		if !isSudo {
			return nil, engines.BadRequest("root or sudo privileges required to create periodic token")
		}
		period = p.period
	}
	ttl := p.ttl
	if rl != nil {
		if rl.TokenExplicitMaxTTL != 0 {
			if explicitMax != 0 {
				warnings = append(warnings, fmt.Sprintf("Explicit max TTL specified both during creation call and in role; using the lesser value of %d seconds", seconds(min(explicitMax, rl.TokenExplicitMaxTTL))))
			}
			if explicitMax == 0 || rl.TokenExplicitMaxTTL < explicitMax {
				explicitMax = rl.TokenExplicitMaxTTL
			}
		}
		if rl.TokenPeriod != 0 {
			if period != 0 {
				warnings = append(warnings, fmt.Sprintf("Period specified both during creation call and in role; using the lesser value of %d seconds", seconds(min(period, rl.TokenPeriod))))
			}
			if period == 0 || rl.TokenPeriod < period {
				period = rl.TokenPeriod
			}
		}
		if ttl == 0 {
			ttl = rl.TokenTTL
		}
		backendMax = rl.TokenMaxTTL
	}
	if period > 0 || ttl > 0 || !contains(r.Policies, "root") {
		var ws []string
		if ttl, ws, err = s.calculateTTL(now, 0, ttl, period, backendMax, explicitMax, now); err != nil {
			return nil, engines.BadRequest("%s", err.Error())
		}
		warnings = append(warnings, ws...)
	}
	if ttl == 0 && explicitMax > 0 {
		ttl = explicitMax
	}
	if ttl == 0 {
		if parent.TTL != 0 {
			return nil, engines.BadRequest("expiring root tokens cannot create non-expiring root tokens")
		}
		renewable = false
		cidrs = nil
	} else {
		r.Expires = now.Add(ttl).UnixNano()
	}
	r.TTL, r.CreationTTL = ttl, ttl
	r.ExplicitMaxTTL, r.Period = explicitMax, period
	r.Renewable = renewable
	r.BoundCIDRs = append([]string(nil), cidrs...)

	id, err := s.create(ctx, r, p.id)
	if err != nil {
		return nil, err
	}
	return &engines.Response{Auth: authBlock(id, r, ttl, renewable), Warnings: warnings}, nil
}

// childPolicies decides a new token's policies, as Vault's token store.
func childPolicies(p *createParams, rl *role, parent *engines.TokenEntry, isSudo, noDefault bool) ([]string, error) {
	requested := p.policies
	addDefault := false
	switch {
	case rl != nil && (len(rl.AllowedPolicies) > 0 || len(rl.DisallowedPolicies) > 0):
		// The role's lists replace the subset rule; "default" is added
		// unless asked not to or disallowed.
		roleDefault := !noDefault && !contains(rl.DisallowedPolicies, "default")
		var final []string
		if len(requested) > 0 {
			final = sanitizePolicies(requested, roleDefault)
		}
		if len(rl.AllowedPolicies) > 0 {
			allowedSet := sanitizePolicies(rl.AllowedPolicies, roleDefault)
			if len(final) == 0 {
				final = allowedSet
			} else if !subset(allowedSet, final) {
				return nil, engines.BadRequest("token policies (%q) must be subset of the role's allowed policies (%q)", final, allowedSet)
			}
		} else if len(final) == 0 {
			final = sanitizePolicies(parent.Policies, roleDefault)
		}
		for _, pol := range final {
			if contains(rl.DisallowedPolicies, pol) {
				return nil, engines.BadRequest("token policy %q is disallowed by this role", pol)
			}
		}
		requested = final
	case len(requested) == 0:
		// Inherit the parent's, "default" only if the parent has it.
		requested = sanitizePolicies(parent.Policies, false)
	case !isSudo:
		if !subset(sanitizePolicies(parent.Policies, false), sanitizePolicies(requested, false)) {
			return nil, engines.BadRequest("child policies must be subset of parent")
		}
		addDefault = !noDefault && contains(parent.Policies, "default")
	default:
		addDefault = !noDefault
	}
	policies := sanitizePolicies(requested, addDefault)
	if noDefault {
		policies = remove(policies, "default")
	}
	for _, pol := range policies {
		if contains(nonAssignable, pol) {
			return nil, engines.BadRequest("cannot assign policy %q", pol)
		}
	}
	if contains(policies, "root") && !parent.IsRoot() {
		return nil, engines.BadRequest("root tokens may not be created without parent token being root")
	}
	return policies, nil
}
