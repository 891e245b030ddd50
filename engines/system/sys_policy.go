package system

import (
	"context"
	"fmt"
	"strings"

	"coffer/engines"
	"coffer/engines/policy"
)

// listPolicies answers LIST sys/policies/acl and GET sys/policy.
func (s *System) listPolicies(ctx context.Context, legacy bool) (*engines.Response, error) {
	names, err := s.policies.list(ctx)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"keys": names}
	if legacy {
		data["policies"] = names
	}
	return &engines.Response{Data: data}, nil
}

// policyPath serves sys/policies/acl/:name and the legacy sys/policy/:name.
func (s *System) policyPath(ctx context.Context, req *engines.Request, name string, legacy bool) (*engines.Response, error) {
	name, err := normalizePolicyName(name)
	if err != nil {
		return nil, err
	}
	switch req.Operation {
	case engines.ReadOperation:
		text, ok, err := s.policies.get(ctx, name)
		if err != nil || !ok {
			return nil, err
		}
		data := map[string]any{"name": name, "policy": text}
		if legacy {
			data = map[string]any{"name": name, "rules": text}
		}
		return &engines.Response{Data: data}, nil
	case engines.CreateOperation, engines.UpdateOperation:
		text, _ := req.Data["policy"].(string)
		if text == "" {
			text, _ = req.Data["rules"].(string)
		}
		if text == "" {
			return nil, engines.BadRequest("'policy' parameter not supplied or empty")
		}
		if err := s.policies.put(ctx, name, text); err != nil {
			return nil, err
		}
		s.logger.Info("policy written", "name", name)
		return nil, nil
	case engines.DeleteOperation:
		if err := s.policies.delete(ctx, name); err != nil {
			return nil, err
		}
		s.logger.Info("policy deleted", "name", name)
		return nil, nil
	}
	return nil, engines.ErrUnsupportedOperation
}

// capabilities answers sys/capabilities (a given token), -self (the
// caller's) and -accessor (a token named by accessor).
func (s *System) capabilities(ctx context.Context, req *engines.Request, which string, caller *engines.TokenEntry, callerACL *policy.ACL) (*engines.Response, error) {
	paths, err := stringList(req.Data["paths"])
	if err != nil {
		return nil, engines.BadRequest("paths: %v", err)
	}
	if p, ok := req.Data["path"].(string); ok && p != "" {
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return nil, engines.BadRequest("missing paths")
	}
	acl := callerACL
	switch which {
	case "capabilities":
		id, _ := req.Data["token"].(string)
		if id == "" {
			return nil, engines.BadRequest("missing token")
		}
		tok, err := s.tokens.Lookup(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("system: look up token: %w", err)
		}
		if tok == nil {
			return nil, engines.BadRequest("invalid token")
		}
		if acl, err = s.policies.acl(ctx, tok.Policies); err != nil {
			return nil, err
		}
	case "capabilities-accessor":
		accessor, _ := req.Data["accessor"].(string)
		if accessor == "" {
			return nil, engines.BadRequest("missing accessor")
		}
		tok, err := s.tokens.LookupAccessor(ctx, accessor)
		if err != nil {
			return nil, fmt.Errorf("system: look up accessor: %w", err)
		}
		if tok == nil {
			return nil, engines.BadRequest("invalid accessor")
		}
		if acl, err = s.policies.acl(ctx, tok.Policies); err != nil {
			return nil, err
		}
	}
	data := map[string]any{}
	for _, p := range paths {
		data[p] = acl.Capabilities(p)
	}
	if len(paths) == 1 {
		data["capabilities"] = data[paths[0]]
	}
	return &engines.Response{Data: data}, nil
}

// stringList reads a JSON array of strings or a comma-separated string.
func stringList(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return splitComma(t), nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("not a list of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a list of strings")
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
