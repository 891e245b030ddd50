package system

import (
	"context"

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
func (s *System) authPath(ctx context.Context, req *engines.Request, path string) (*engines.Response, error) {
	return s.tablePath(ctx, req, s.authRouter, path, engines.MountEntry{})
}
