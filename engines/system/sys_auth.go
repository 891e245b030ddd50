package system

import (
	"context"
	"fmt"
	"strings"

	"coffer/engines"
)

// listAuth answers GET sys/auth: every auth method, token/ included.
func (s *System) listAuth(*engines.Request) (*engines.Response, error) {
	data := map[string]any{}
	for _, e := range s.authRouter.Mounts() {
		data[e.Path] = mountOutput(e)
	}
	return &engines.Response{Data: data}, nil
}

// authPath serves sys/auth/:path (enable, disable, read) and its /tune.
// Disabling a method revokes every token it issued, as Vault does.
func (s *System) authPath(ctx context.Context, req *engines.Request, path string) (*engines.Response, error) {
	resp, err := s.tablePath(ctx, req, s.authRouter, path, engines.MountEntry{})
	if err != nil || req.Operation != engines.DeleteOperation || strings.HasSuffix(strings.TrimSuffix(path, "/"), "/tune") {
		return resp, err
	}
	prefix := "auth/" + engines.NormalizeMountPath(path)
	n, err := s.tokens.RevokeByPath(context.WithoutCancel(ctx), prefix)
	if err != nil {
		return nil, fmt.Errorf("system: revoke tokens of %s: %w", prefix, err)
	}
	s.logger.Info("auth method disabled; its tokens revoked", "path", prefix, "tokens", n)
	return resp, nil
}
