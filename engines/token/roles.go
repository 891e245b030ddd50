package token

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"coffer/engines"
)

// role is a token role (auth/token/roles/:name) as stored. The legacy
// fields (Period, ExplicitMaxTTL, BoundCIDRs) keep what was set through
// the deprecated names, for reads; the Token* fields are what applies.
type role struct {
	Name                 string        `json:"name"`
	AllowedPolicies      []string      `json:"allowed_policies"`
	DisallowedPolicies   []string      `json:"disallowed_policies"`
	Orphan               bool          `json:"orphan"`
	Renewable            bool          `json:"renewable"`
	PathSuffix           string        `json:"path_suffix"`
	Period               time.Duration `json:"period"`
	TokenPeriod          time.Duration `json:"token_period"`
	ExplicitMaxTTL       time.Duration `json:"explicit_max_ttl"`
	TokenExplicitMaxTTL  time.Duration `json:"token_explicit_max_ttl"`
	TokenTTL             time.Duration `json:"token_ttl"`
	TokenMaxTTL          time.Duration `json:"token_max_ttl"`
	TokenNoDefaultPolicy bool          `json:"token_no_default_policy"`
	TokenNumUses         int           `json:"token_num_uses"`
	BoundCIDRs           []string      `json:"bound_cidrs,omitempty"`
	TokenBoundCIDRs      []string      `json:"token_bound_cidrs,omitempty"`
	TokenType            string        `json:"token_type"`
}

var (
	// roleNameRE is Vault's GenericNameRegex.
	roleNameRE = regexp.MustCompile(`^\w(([\w\-.]+)?\w)?$`)
	// pathSuffixRE is Vault's path suffix rule, anchored (so no "/"),
	// and allowing one or two characters.
	pathSuffixRE = regexp.MustCompile(`^\w([\w\-.]*\w)?$`)
)

func validRoleName(name string) bool { return len(name) <= 256 && roleNameRE.MatchString(name) }

func (s *Store) readRole(ctx context.Context, name string) (*role, error) {
	if !validRoleName(name) {
		return nil, nil
	}
	raw, err := s.storage.Get(ctx, rolePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("token: read role: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	var r role
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("token: decode role: %w", err)
	}
	return &r, nil
}

func (s *Store) handleRoles(ctx context.Context, req *engines.Request, name string) (*engines.Response, error) {
	if !validRoleName(name) {
		return nil, engines.BadRequest("invalid role name %q", name)
	}
	switch req.Operation {
	case engines.ReadOperation:
		r, err := s.readRole(ctx, name)
		if err != nil || r == nil {
			return nil, err
		}
		return &engines.Response{Data: r.data()}, nil
	case engines.CreateOperation, engines.UpdateOperation:
		return s.writeRole(ctx, name, req.Data)
	case engines.DeleteOperation:
		if err := s.storage.Delete(ctx, rolePrefix+name); err != nil {
			return nil, fmt.Errorf("token: delete role: %w", err)
		}
		return nil, nil
	}
	return nil, engines.ErrUnsupportedOperation
}

func (s *Store) listRoles(ctx context.Context) (*engines.Response, error) {
	keys, err := s.storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("token: list roles: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return &engines.Response{Data: map[string]any{"keys": keys}}, nil
}

func (r *role) data() map[string]any {
	d := map[string]any{
		"name":                    r.Name,
		"allowed_policies":        nonNil(r.AllowedPolicies),
		"disallowed_policies":     nonNil(r.DisallowedPolicies),
		"orphan":                  r.Orphan,
		"renewable":               r.Renewable,
		"path_suffix":             r.PathSuffix,
		"period":                  seconds(r.Period),
		"token_period":            seconds(r.TokenPeriod),
		"explicit_max_ttl":        seconds(r.ExplicitMaxTTL),
		"token_explicit_max_ttl":  seconds(r.TokenExplicitMaxTTL),
		"token_ttl":               seconds(r.TokenTTL),
		"token_max_ttl":           seconds(r.TokenMaxTTL),
		"token_no_default_policy": r.TokenNoDefaultPolicy,
		"token_type":              r.TokenType,
	}
	if len(r.TokenBoundCIDRs) > 0 {
		d["token_bound_cidrs"] = r.TokenBoundCIDRs
	}
	if len(r.BoundCIDRs) > 0 {
		d["bound_cidrs"] = r.BoundCIDRs
	}
	if r.TokenNumUses > 0 {
		d["token_num_uses"] = r.TokenNumUses
	}
	return d
}

func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// writeRole creates or updates a role: fields given replace the stored
// ones, fields left out keep them (or Vault's defaults for a new role).
func (s *Store) writeRole(ctx context.Context, name string, data map[string]any) (*engines.Response, error) {
	r, err := s.readRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &role{Name: name, Renewable: true, TokenType: "default-service"}
	}
	f := newFields(data)
	f.accept("role_name")
	var warnings []string
	if v, ok, err := f.boolean("orphan"); err != nil {
		return nil, err
	} else if ok {
		r.Orphan = v
	}
	if v, ok, err := f.boolean("renewable"); err != nil {
		return nil, err
	} else if ok {
		r.Renewable = v
	}
	if _, ok := f.get("path_suffix"); ok {
		v, err := f.str("path_suffix")
		if err != nil {
			return nil, err
		}
		if v != "" && (!pathSuffixRE.MatchString(v) || strings.Contains(v, "..")) {
			return nil, engines.BadRequest("given role path suffix contains invalid characters; must match %s", pathSuffixRE.String())
		}
		r.PathSuffix = v
	}
	if v, ok, err := f.strings("allowed_policies"); err != nil {
		return nil, err
	} else if ok {
		r.AllowedPolicies = sanitizePolicies(v, false)
	}
	if v, ok, err := f.strings("disallowed_policies"); err != nil {
		return nil, err
	} else if ok {
		r.DisallowedPolicies = dedupe(v)
	}
	if v, ok, err := f.integer("token_num_uses"); err != nil {
		return nil, err
	} else if ok {
		if v < 0 {
			return nil, engines.BadRequest("'token_num_uses' cannot be negative")
		}
		r.TokenNumUses = v
	}
	if v, ok, err := f.boolean("token_no_default_policy"); err != nil {
		return nil, err
	} else if ok {
		r.TokenNoDefaultPolicy = v
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"token_ttl", &r.TokenTTL}, {"token_max_ttl", &r.TokenMaxTTL}} {
		if v, ok, err := f.duration(d.name); err != nil {
			return nil, err
		} else if ok {
			if v < 0 {
				return nil, engines.BadRequest("%q cannot be negative", d.name)
			}
			*d.to = v
		}
	}
	if r.TokenMaxTTL > 0 && r.TokenTTL > r.TokenMaxTTL {
		return nil, engines.BadRequest("'token_ttl' cannot be greater than 'token_max_ttl'")
	}
	// Current names win over the deprecated ones, as in Vault.
	for _, d := range []struct {
		name, legacy string
		to, legacyTo *time.Duration
	}{
		{"token_period", "period", &r.TokenPeriod, &r.Period},
		{"token_explicit_max_ttl", "explicit_max_ttl", &r.TokenExplicitMaxTTL, &r.ExplicitMaxTTL},
	} {
		v, ok, err := f.duration(d.name)
		if err != nil {
			return nil, err
		}
		lv, lok, err := f.duration(d.legacy)
		if err != nil {
			return nil, err
		}
		switch {
		case ok:
			if lok {
				warnings = append(warnings, fmt.Sprintf("Both '%s' and deprecated '%s' value supplied, ignoring the deprecated value", d.name, d.legacy))
			}
			*d.to, *d.legacyTo = v, 0
		case lok:
			*d.to, *d.legacyTo = lv, lv
		}
		if *d.to < 0 {
			return nil, engines.BadRequest("%q cannot be negative", d.name)
		}
	}
	if r.TokenExplicitMaxTTL > s.maxTTL {
		warnings = append(warnings, fmt.Sprintf("Given explicit max TTL of %d is greater than system/mount allowed value of %d seconds; until this is fixed attempting to create tokens against this role will result in an error",
			seconds(r.TokenExplicitMaxTTL), seconds(s.maxTTL)))
	}
	cidrs, ok, err := f.strings("token_bound_cidrs")
	if err != nil {
		return nil, err
	}
	legacy, lok, err := f.strings("bound_cidrs")
	if err != nil {
		return nil, err
	}
	switch {
	case ok:
		if lok {
			warnings = append(warnings, "Both 'token_bound_cidrs' and deprecated 'bound_cidrs' value supplied, ignoring the deprecated value")
		}
		if r.TokenBoundCIDRs, err = parseCIDRs(cidrs); err != nil {
			return nil, err
		}
		r.BoundCIDRs = nil
	case lok:
		if r.TokenBoundCIDRs, err = parseCIDRs(legacy); err != nil {
			return nil, err
		}
		r.BoundCIDRs = r.TokenBoundCIDRs
	}
	if _, ok := f.get("token_type"); ok {
		t, err := f.str("token_type")
		if err != nil {
			return nil, err
		}
		switch t {
		case "", "default", "default-service":
			r.TokenType = "default-service"
		case "service":
			r.TokenType = "service"
		case "batch", "default-batch":
			return nil, engines.BadRequest("batch tokens are not supported")
		default:
			return nil, engines.BadRequest("invalid 'token_type' value %q", t)
		}
	}
	warnings = append(warnings, f.warning()...)
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("token: encode role: %w", err)
	}
	if err := s.storage.Put(ctx, rolePrefix+name, raw); err != nil {
		return nil, fmt.Errorf("token: write role: %w", err)
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &engines.Response{Warnings: warnings}, nil
}
