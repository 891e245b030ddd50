package system

import (
	"context"
	"fmt"
	"strings"

	"coffer/engines"
)

func errSealed() error { return engines.ErrSealed }

// Handle authenticates req by its token and serves it: sys/ paths here,
// everything else through the router. The unauthenticated sys endpoints
// (init, unseal, seal-status, health, leader) are served by the transport
// through the methods above, never through Handle.
func (s *System) Handle(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	if s.barrier.Sealed() {
		if ok, err := s.barrier.Initialized(ctx); err == nil && !ok {
			return nil, &engines.Error{Code: engines.CodeSealed, Message: "Vault is not initialized"}
		}
		return nil, engines.ErrSealed
	}
	tok, err := s.tokens.Lookup(ctx, req.ClientToken)
	if err != nil {
		return nil, fmt.Errorf("system: look up token: %w", err)
	}
	if tok == nil {
		return nil, engines.ErrPermissionDenied
	}
	if req.Path == "sys" || strings.HasPrefix(req.Path, "sys/") {
		return s.handleSys(ctx, req, tok)
	}
	return s.router.Route(ctx, req)
}

// Router exposes the mount table (for tests and the transport's mount-type
// reporting).
func (s *System) Router() *engines.Router { return s.router }

// Tokens exposes the token store (for dev mode's root token).
func (s *System) Tokens() *engines.TokenStore { return s.tokens }

// MountType names the type of the mount serving path ("kv", "system"), or
// "" when no mount matches.
func (s *System) MountType(path string) string {
	if path == "sys" || strings.HasPrefix(path, "sys/") {
		return "system"
	}
	if e, ok := s.router.Match(path); ok {
		return e.Type
	}
	return ""
}
