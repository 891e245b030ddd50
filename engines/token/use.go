package token

import (
	"context"

	"coffer/engines"
)

// Use accounts one use of a token with a use limit (e.NumUses > 0; others
// return nil at once). Under the token's lock it re-reads the record,
// refuses with ErrUsesExhausted if the token is gone or has no use left,
// and persists the decrement, so concurrent requests never overspend.
//
// The last use is granted and the token revoked (with its children)
// before Use returns: Vault revokes after the request, but revoking first
// is simpler and no later request can slip in. e.NumUses is updated to the
// uses left, or -1 after the last one (as Vault shows it).
func (s *Store) Use(ctx context.Context, e *engines.TokenEntry) error {
	if e == nil {
		return errNoEntry
	}
	if e.NumUses == 0 {
		return nil
	}
	if e.NumUses < 0 {
		return ErrUsesExhausted
	}
	f, err := s.findAccessor(ctx, e.Accessor)
	if err != nil {
		return err
	}
	if f == nil {
		return ErrUsesExhausted
	}
	mu := s.lockFor(f.key)
	mu.Lock()
	r, err := s.read(ctx, f.key)
	if err != nil {
		mu.Unlock()
		return err
	}
	if r == nil || !r.live(s.now()) || r.accessor != e.Accessor || r.NumUses < 0 {
		mu.Unlock()
		return ErrUsesExhausted
	}
	if r.NumUses == 0 {
		mu.Unlock()
		return nil
	}
	last := r.NumUses == 1
	if last {
		r.Revoking = revokeTree
	} else {
		r.NumUses--
	}
	err = s.write(ctx, f.key, r)
	mu.Unlock()
	if err != nil {
		return err
	}
	if !last {
		e.NumUses = r.NumUses
		return nil
	}
	e.NumUses = -1
	// The token is already dead (marked); a failure here is finished by
	// Revoke or Tidy, and must not cost the caller its last use.
	if err := s.revokeKey(ctx, f.key, revokeTree); err != nil {
		s.logger.Error("revoke a token after its last use", "error", err)
	}
	return nil
}
