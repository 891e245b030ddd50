package token

import (
	"context"
	"errors"
	"fmt"
	"time"

	"coffer/engines"
)

var errPastMaxTTL = errors.New("past the max TTL, cannot renew")

// calculateTTL is Vault's TTL rule for a token granted at now and created
// at start. A periodic token gets its period (capped by the effective max
// TTL) and is bounded only by its explicit max TTL; any other token gets
// increment, else ttl, else the default, and may not outlive start plus
// the effective max TTL (the smallest of MaxTTL, backendMax and
// explicitMax that is set). Times are whole seconds, as in Vault.
func (s *Store) calculateTTL(now time.Time, increment, ttl, period, backendMax, explicitMax time.Duration, start time.Time) (time.Duration, []string, error) {
	now = now.Truncate(time.Second)
	start = start.Truncate(time.Second)
	maxTTL := s.maxTTL
	if backendMax > 0 && backendMax < maxTTL {
		maxTTL = backendMax
	}
	if explicitMax > 0 && explicitMax < maxTTL {
		maxTTL = explicitMax
	}
	var warnings []string
	var limit time.Time
	switch {
	case period > 0:
		if period > maxTTL {
			warnings = append(warnings, fmt.Sprintf("period of %q exceeded the effective max_ttl of %q; period value is capped accordingly", period, maxTTL))
			period = maxTTL
		}
		ttl = period
		if explicitMax > 0 {
			limit = start.Add(explicitMax)
		}
	default:
		switch {
		case increment > 0:
			ttl = increment
		case ttl > 0:
		default:
			ttl = s.defaultTTL
		}
		limit = start.Add(maxTTL)
	}
	if !limit.IsZero() {
		left := limit.Sub(now)
		if left <= 0 {
			return 0, nil, errPastMaxTTL
		}
		if ttl > left {
			warnings = append(warnings, fmt.Sprintf("TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly", ttl, left))
			ttl = left
		}
	}
	return ttl, warnings, nil
}

// renew extends the token at key by increment (zero: its current TTL), as
// Vault's token renewal: a periodic token gets its period again, others
// are capped by the explicit max TTL and the max TTL counted from
// creation. Tokens made from a role take period and explicit max TTL from
// the role as it is now. id is echoed as client_token (empty for
// renew-accessor).
func (s *Store) renew(ctx context.Context, key, id string, increment time.Duration) (*engines.Response, error) {
	mu := s.lockFor(key)
	mu.Lock()
	defer mu.Unlock()
	r, err := s.read(ctx, key)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if r == nil || !r.live(now) {
		return nil, engines.BadRequest("token not found")
	}
	if !r.Renewable || r.Expires == 0 {
		return nil, engines.BadRequest("lease is not renewable")
	}
	period, explicitMax, backendMax := r.Period, r.ExplicitMaxTTL, time.Duration(0)
	if r.Role != "" {
		role, err := s.readRole(ctx, r.Role)
		if err != nil {
			return nil, err
		}
		if role == nil {
			return nil, engines.BadRequest("original token role %q could not be found, not renewing", r.Role)
		}
		period, explicitMax, backendMax = role.TokenPeriod, role.TokenExplicitMaxTTL, role.TokenMaxTTL
	}
	if increment < 0 {
		increment = 0
	}
	ttl, warnings, err := s.calculateTTL(now, increment, r.TTL, period, backendMax, explicitMax, time.Unix(0, r.Created))
	if err != nil {
		return nil, engines.BadRequest("%s", err.Error())
	}
	r.TTL = ttl
	r.Expires = now.Add(ttl).UnixNano()
	r.Renewed = now.UnixNano()
	if err := s.write(ctx, key, r); err != nil {
		return nil, err
	}
	return &engines.Response{Auth: authBlock(id, r, ttl, true), Warnings: warnings}, nil
}
