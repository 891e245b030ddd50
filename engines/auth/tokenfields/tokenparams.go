// Package tokenfields parses the request fields every auth method shares:
// Vault's token_* parameters, CIDR bindings and typed field values.
package tokenfields

import (
	"slices"
	"strings"
	"time"

	"coffer/engines"
)

// TokenParams are the token_* settings every Vault auth method shares.
type TokenParams struct {
	TokenBoundCIDRs      []string      `json:"token_bound_cidrs,omitempty"`
	TokenExplicitMaxTTL  time.Duration `json:"token_explicit_max_ttl,omitempty"`
	TokenMaxTTL          time.Duration `json:"token_max_ttl,omitempty"`
	TokenNoDefaultPolicy bool          `json:"token_no_default_policy,omitempty"`
	TokenNumUses         int           `json:"token_num_uses,omitempty"`
	TokenPeriod          time.Duration `json:"token_period,omitempty"`
	TokenPolicies        []string      `json:"token_policies,omitempty"`
	TokenType            string        `json:"token_type,omitempty"`
	TokenTTL             time.Duration `json:"token_ttl,omitempty"`
}

// Token types as Vault names them; Coffer issues service tokens only.
const (
	TokenTypeDefault = "default"
	TokenTypeService = "service"
)

// Parse applies the token_* fields present in f, as Vault's
// tokenutil.ParseTokenFields does, and returns any warnings.
func (t *TokenParams) Parse(f Fields) ([]string, error) {
	var warnings []string
	if v, ok, err := f.Strings("token_bound_cidrs"); err != nil {
		return nil, err
	} else if ok {
		cidrs, err := ParseCIDRs("token_bound_cidrs", v)
		if err != nil {
			return nil, err
		}
		t.TokenBoundCIDRs = cidrs
	}
	if err := f.NonNegativeDuration("token_explicit_max_ttl", &t.TokenExplicitMaxTTL); err != nil {
		return nil, err
	}
	if err := f.NonNegativeDuration("token_max_ttl", &t.TokenMaxTTL); err != nil {
		return nil, err
	}
	if v, ok, err := f.Bool("token_no_default_policy"); err != nil {
		return nil, err
	} else if ok {
		t.TokenNoDefaultPolicy = v
	}
	if err := f.NonNegativeDuration("token_period", &t.TokenPeriod); err != nil {
		return nil, err
	}
	if v, ok, err := f.Strings("token_policies"); err != nil {
		return nil, err
	} else if ok {
		t.TokenPolicies = SanitizePolicies(v)
	}
	if v, ok, err := f.Str("token_type"); err != nil {
		return nil, err
	} else if ok {
		switch v {
		case "", TokenTypeDefault:
			t.TokenType = TokenTypeDefault
		case TokenTypeService:
			t.TokenType = TokenTypeService
		case "default-service":
			t.TokenType = TokenTypeService
			warnings = append(warnings, "default-service has no useful meaning; adjusting to service")
		case "batch", "default-batch":
			return nil, engines.BadRequest("'token_type' %q is not supported: only service tokens are issued", v)
		default:
			return nil, engines.BadRequest("invalid 'token_type' value %q", v)
		}
	}
	if v, ok, err := f.Int("token_num_uses"); err != nil {
		return nil, err
	} else if ok {
		if v < 0 {
			return nil, engines.BadRequest("'token_num_uses' cannot be negative")
		}
		t.TokenNumUses = v
	}
	if err := f.NonNegativeDuration("token_ttl", &t.TokenTTL); err != nil {
		return nil, err
	}
	if t.TokenTTL > 0 && t.TokenMaxTTL > 0 && t.TokenTTL > t.TokenMaxTTL {
		return nil, engines.BadRequest("'token_ttl' cannot be greater than 'token_max_ttl'")
	}
	return warnings, nil
}

// Populate adds the token_* fields to a read response, durations in
// seconds, as Vault's PopulateTokenData does.
func (t *TokenParams) Populate(m map[string]any) {
	m["token_bound_cidrs"] = nonNil(t.TokenBoundCIDRs)
	m["token_explicit_max_ttl"] = int64(t.TokenExplicitMaxTTL / time.Second)
	m["token_max_ttl"] = int64(t.TokenMaxTTL / time.Second)
	m["token_no_default_policy"] = t.TokenNoDefaultPolicy
	m["token_period"] = int64(t.TokenPeriod / time.Second)
	m["token_policies"] = nonNil(t.TokenPolicies)
	m["token_type"] = t.tokenType()
	m["token_ttl"] = int64(t.TokenTTL / time.Second)
	m["token_num_uses"] = t.TokenNumUses
}

func (t *TokenParams) tokenType() string {
	if t.TokenType == "" {
		return TokenTypeDefault
	}
	return t.TokenType
}

// Auth returns the request side of a login's auth block. token_max_ttl and
// token_explicit_max_ttl both cap the token's life; the smaller one wins.
func (t *TokenParams) Auth() *engines.Auth {
	maxTTL := t.TokenExplicitMaxTTL
	if t.TokenMaxTTL > 0 && (maxTTL == 0 || t.TokenMaxTTL < maxTTL) {
		maxTTL = t.TokenMaxTTL
	}
	return &engines.Auth{
		Policies:        slices.Clone(nonNil(t.TokenPolicies)),
		LeaseDuration:   t.TokenTTL,
		ExplicitMaxTTL:  maxTTL,
		Period:          t.TokenPeriod,
		NumUses:         t.TokenNumUses,
		BoundCIDRs:      slices.Clone(t.TokenBoundCIDRs),
		Renewable:       true,
		NoDefaultPolicy: t.TokenNoDefaultPolicy,
		TokenType:       TokenTypeService,
	}
}

// SanitizePolicies trims and lower-cases policy names, drops empty ones
// and duplicates, and sorts them, as Vault's policyutil does.
func SanitizePolicies(in []string) []string {
	out := make([]string, 0, len(in))
	for _, p := range in {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
