package system

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"coffer/engines"
	"coffer/engines/policy"
)

// handleSys serves the authenticated sys/ endpoints.
func (s *System) handleSys(ctx context.Context, req *engines.Request, tok *engines.TokenEntry, acl *policy.ACL) (*engines.Response, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(req.Path, "sys"), "/")
	req.MountPoint = "sys/"
	switch {
	case path == "mounts":
		return only(req, s.listMounts, engines.ReadOperation, engines.ListOperation)
	case strings.HasPrefix(path, "mounts/"):
		return s.mountPath(ctx, req, strings.TrimPrefix(path, "mounts/"))
	case path == "internal/ui/mounts":
		return only(req, s.listMounts, engines.ReadOperation)
	case strings.HasPrefix(path, "internal/ui/mounts/"):
		return s.uiMount(req, strings.TrimPrefix(path, "internal/ui/mounts/"), acl)
	case path == "auth":
		return only(req, s.listAuth, engines.ReadOperation)
	case strings.HasPrefix(path, "auth/"):
		return s.authPath(ctx, req, strings.TrimPrefix(path, "auth/"))
	case path == "policies/acl" || path == "policies/acl/":
		return only(req, func(*engines.Request) (*engines.Response, error) { return s.listPolicies(ctx, false) }, engines.ListOperation, engines.ReadOperation)
	case strings.HasPrefix(path, "policies/acl/"):
		return s.policyPath(ctx, req, strings.TrimPrefix(path, "policies/acl/"), false)
	case path == "policy" || path == "policy/":
		return only(req, func(*engines.Request) (*engines.Response, error) { return s.listPolicies(ctx, true) }, engines.ReadOperation, engines.ListOperation)
	case strings.HasPrefix(path, "policy/"):
		return s.policyPath(ctx, req, strings.TrimPrefix(path, "policy/"), true)
	case path == "capabilities", path == "capabilities-self", path == "capabilities-accessor":
		return only(req, func(*engines.Request) (*engines.Response, error) { return s.capabilities(ctx, req, path, tok, acl) }, engines.UpdateOperation, engines.CreateOperation)
	case path == "audit":
		return only(req, s.listAudit, engines.ReadOperation)
	case strings.HasPrefix(path, "audit/"):
		return s.auditPath(ctx, req, strings.TrimPrefix(path, "audit/"))
	case strings.HasPrefix(path, "audit-hash/"):
		return only(req, func(r *engines.Request) (*engines.Response, error) {
			return s.auditHash(r, strings.TrimPrefix(path, "audit-hash/"))
		}, engines.UpdateOperation, engines.CreateOperation)
	case path == "rotate":
		return only(req, func(*engines.Request) (*engines.Response, error) {
			if _, err := s.barrier.Rotate(ctx); err != nil {
				return nil, fmt.Errorf("system: rotate: %w", err)
			}
			return nil, nil
		}, engines.UpdateOperation, engines.CreateOperation)
	case path == "key-status":
		return only(req, s.keyStatus, engines.ReadOperation)
	case path == "leases" || strings.HasPrefix(path, "leases/"):
		return s.leasePath(ctx, req, strings.TrimPrefix(strings.TrimPrefix(path, "leases"), "/"))
	case path == "renew" || strings.HasPrefix(path, "renew/") || path == "revoke" || strings.HasPrefix(path, "revoke/") ||
		strings.HasPrefix(path, "revoke-prefix/") || strings.HasPrefix(path, "revoke-force/"):
		return s.leasePath(ctx, req, path)
	case strings.HasPrefix(path, "storage/raft/"):
		return s.raftPath(ctx, req, strings.TrimPrefix(path, "storage/raft/"))
	case path == "step-down":
		return only(req, func(*engines.Request) (*engines.Response, error) { return s.stepDown(ctx) }, engines.UpdateOperation, engines.CreateOperation)
	case path == "ha-status":
		return only(req, func(*engines.Request) (*engines.Response, error) { return s.haStatus(ctx) }, engines.ReadOperation)
	case path == "metrics":
		return only(req, func(r *engines.Request) (*engines.Response, error) { return s.metrics(ctx, r) }, engines.ReadOperation)
	case path == "pprof" || strings.HasPrefix(path, "pprof/"):
		return s.pprofPath(ctx, req, strings.TrimPrefix(strings.TrimPrefix(path, "pprof"), "/"))
	case path == "seal":
		// Handle seals once this request's response is on the record.
		return only(req, func(*engines.Request) (*engines.Response, error) {
			return nil, nil
		}, engines.UpdateOperation, engines.CreateOperation)
	}
	return nil, engines.ErrUnsupportedPath
}

func only(req *engines.Request, h func(*engines.Request) (*engines.Response, error), ops ...engines.Operation) (*engines.Response, error) {
	for _, op := range ops {
		if req.Operation == op {
			return h(req)
		}
	}
	return nil, engines.ErrUnsupportedOperation
}

func mountOutput(e engines.MountEntry) map[string]any {
	opts := e.Options
	if opts == nil {
		opts = map[string]string{}
	}
	return map[string]any{
		"type":        e.Type,
		"description": e.Description,
		"accessor":    e.Accessor,
		"uuid":        e.UUID,
		"config": map[string]any{
			"default_lease_ttl": int64(e.DefaultLeaseTTL / time.Second),
			"max_lease_ttl":     int64(e.MaxLeaseTTL / time.Second),
			"force_no_cache":    false,
		},
		"options":                 opts,
		"local":                   e.Local,
		"seal_wrap":               e.SealWrap,
		"external_entropy_access": false,
		"plugin_version":          "",
		"running_plugin_version":  "",
		"running_sha256":          "",
	}
}

var systemMount = engines.MountEntry{Path: "sys/", Type: "system", Description: "system endpoints used for control, policy and debugging", Accessor: "system", UUID: "system"}

func (s *System) listMounts(*engines.Request) (*engines.Response, error) {
	data := map[string]any{systemMount.Path: mountOutput(systemMount)}
	for _, e := range s.router.Mounts() {
		data[e.Path] = mountOutput(e)
	}
	return &engines.Response{Data: data}, nil
}

func (s *System) mountPath(ctx context.Context, req *engines.Request, path string) (*engines.Response, error) {
	// The stock client tunes auth methods through sys/mounts/auth/<path>/tune.
	if rest, ok := strings.CutPrefix(path, "auth/"); ok && strings.HasSuffix(strings.TrimSuffix(rest, "/"), "/tune") {
		return s.tablePath(ctx, req, s.authRouter, rest, engines.MountEntry{})
	}
	return s.tablePath(ctx, req, s.router, path, systemMount)
}

// tablePath serves sys/mounts/:path and sys/auth/:path (and their /tune)
// against one mount table.
func (s *System) tablePath(ctx context.Context, req *engines.Request, r *engines.Router, path string, fixed engines.MountEntry) (*engines.Response, error) {
	if mount, ok := strings.CutSuffix(strings.TrimSuffix(path, "/"), "/tune"); ok {
		return s.tune(ctx, req, r, engines.NormalizeMountPath(mount), fixed)
	}
	path = engines.NormalizeMountPath(path)
	if path == "" {
		return nil, engines.BadRequest("mount path cannot be empty")
	}
	switch req.Operation {
	case engines.ReadOperation:
		e, ok := findMount(r, path, fixed)
		if !ok {
			return nil, engines.BadRequest("no matching mount at %q", path)
		}
		return &engines.Response{Data: mountOutput(e)}, nil
	case engines.CreateOperation, engines.UpdateOperation:
		e, err := mountInput(path, req.Data)
		if err != nil {
			return nil, err
		}
		if err := r.Mount(ctx, e); err != nil {
			return nil, err
		}
		s.logger.Info("mounted", "path", e.Path, "type", e.Type)
		return nil, nil
	case engines.DeleteOperation:
		// Vault revokes a mount's leases before it goes away.
		if r == s.router {
			if _, err := s.leases.RevokePrefix(ctx, engines.NormalizeMountPath(path), false); err != nil {
				return nil, fmt.Errorf("system: revoke the leases of %s before unmounting: %w", path, err)
			}
		}
		if err := r.Unmount(ctx, path); err != nil {
			return nil, err
		}
		s.logger.Info("unmounted", "path", path)
		return nil, nil
	}
	return nil, engines.ErrUnsupportedOperation
}

func findMount(r *engines.Router, path string, fixed engines.MountEntry) (engines.MountEntry, bool) {
	if fixed.Path != "" && path == fixed.Path {
		return fixed, true
	}
	for _, e := range r.Mounts() {
		if e.Path == path {
			return e, true
		}
	}
	return engines.MountEntry{}, false
}

// tune reads or changes a mount's description and lease TTLs.
func (s *System) tune(ctx context.Context, req *engines.Request, r *engines.Router, path string, fixed engines.MountEntry) (*engines.Response, error) {
	switch req.Operation {
	case engines.ReadOperation:
		e, ok := findMount(r, path, fixed)
		if !ok {
			return nil, engines.BadRequest("no matching mount at %q", path)
		}
		return &engines.Response{Data: map[string]any{
			"description":       e.Description,
			"default_lease_ttl": int64(s.defaultTTL(e) / time.Second),
			"max_lease_ttl":     int64(s.maxTTL(e) / time.Second),
			"force_no_cache":    false,
			"options":           e.Options,
		}}, nil
	case engines.CreateOperation, engines.UpdateOperation:
		err := r.Tune(ctx, path, func(e *engines.MountEntry) error {
			if v, ok := req.Data["description"].(string); ok {
				e.Description = v
			}
			for key, dst := range map[string]*time.Duration{"default_lease_ttl": &e.DefaultLeaseTTL, "max_lease_ttl": &e.MaxLeaseTTL} {
				raw, ok := req.Data[key]
				if !ok {
					continue
				}
				if str, _ := raw.(string); str == "system" {
					*dst = 0
					continue
				}
				d, err := ParseDuration(raw)
				if err != nil {
					return engines.BadRequest("invalid %s: %v", key, err)
				}
				*dst = d
			}
			if e.MaxLeaseTTL > 0 && e.DefaultLeaseTTL > e.MaxLeaseTTL {
				return engines.BadRequest("default_lease_ttl cannot be greater than max_lease_ttl")
			}
			return nil
		})
		return nil, err
	}
	return nil, engines.ErrUnsupportedOperation
}

// systemMaxTTL is the default and maximum lease TTL of mounts that set none.
const systemMaxTTL = 768 * time.Hour

func (s *System) defaultTTL(e engines.MountEntry) time.Duration {
	if e.DefaultLeaseTTL > 0 {
		return e.DefaultLeaseTTL
	}
	return systemMaxTTL
}

func (s *System) maxTTL(e engines.MountEntry) time.Duration {
	if e.MaxLeaseTTL > 0 {
		return e.MaxLeaseTTL
	}
	return systemMaxTTL
}

// mountInput decodes the body of POST sys/mounts/:path.
func mountInput(path string, data map[string]any) (engines.MountEntry, error) {
	e := engines.MountEntry{Path: path, Options: map[string]string{}}
	typ, _ := data["type"].(string)
	if typ == "" {
		return e, engines.BadRequest("backend type must be specified as a string")
	}
	e.Description, _ = data["description"].(string)
	e.Local, _ = data["local"].(bool)
	e.SealWrap, _ = data["seal_wrap"].(bool)
	if raw, ok := data["options"]; ok && raw != nil {
		opts, ok := raw.(map[string]any)
		if !ok {
			return e, engines.BadRequest("options must be an object of strings")
		}
		for k, v := range opts {
			e.Options[k] = fmt.Sprint(v)
		}
	}
	if typ == "kv-v2" {
		typ = "kv"
		e.Options["version"] = "2"
	}
	e.Type = typ
	if raw, ok := data["config"]; ok && raw != nil {
		cfg, ok := raw.(map[string]any)
		if !ok {
			return e, engines.BadRequest("config must be an object")
		}
		var err error
		if e.DefaultLeaseTTL, err = ParseDuration(cfg["default_lease_ttl"]); err != nil {
			return e, engines.BadRequest("invalid default_lease_ttl: %v", err)
		}
		if e.MaxLeaseTTL, err = ParseDuration(cfg["max_lease_ttl"]); err != nil {
			return e, engines.BadRequest("invalid max_lease_ttl: %v", err)
		}
	}
	return e, nil
}

// ParseDuration reads a Vault duration: seconds as a number or numeric
// string, or a Go duration string ("1h"); nil and "" are zero.
func ParseDuration(v any) (time.Duration, error) {
	switch t := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := t.Int64()
		if err != nil {
			return 0, fmt.Errorf("not a whole number of seconds")
		}
		return time.Duration(n) * time.Second, nil
	case float64:
		return time.Duration(t) * time.Second, nil
	case string:
		if t == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("not a duration")
		}
		return d, nil
	}
	return 0, fmt.Errorf("not a duration")
}

// uiMount answers sys/internal/ui/mounts/:path, which CLIs call before
// using a KV path to learn its mount and version. Any token may ask; the
// answer is given only if the token's ACL grants something on the path
// (or on its KV v2 data/ or metadata/ form), so a token cannot discover
// mounts it has no business with.
func (s *System) uiMount(req *engines.Request, path string, acl *policy.ACL) (*engines.Response, error) {
	if req.Operation != engines.ReadOperation {
		return nil, engines.ErrUnsupportedOperation
	}
	path = strings.TrimPrefix(path, "/")
	e, ok := s.router.Match(path)
	if !ok {
		return nil, &engines.Error{Code: engines.CodeInvalidRequest, Message: fmt.Sprintf("preflight capability check returned 403, please ensure client's policies grant access to path %q", path)}
	}
	rest := strings.TrimPrefix(path, e.Path)
	granted := false
	for _, p := range []string{path, e.Path + "data/" + rest, e.Path + "metadata/" + rest, e.Path + "metadata/" + rest + "/"} {
		if caps := acl.Capabilities(p); len(caps) > 0 && caps[0] != "deny" {
			granted = true
			break
		}
	}
	if !granted {
		return nil, engines.ErrPermissionDenied
	}
	out := mountOutput(e)
	out["path"] = e.Path
	return &engines.Response{Data: out}, nil
}

func (s *System) keyStatus(*engines.Request) (*engines.Response, error) {
	ks, err := s.barrier.KeyStatus()
	if err != nil {
		return nil, fmt.Errorf("system: key status: %w", err)
	}
	return &engines.Response{Data: map[string]any{
		"term":         ks.Term,
		"install_time": ks.InstallTime.UTC().Format(time.RFC3339Nano),
		"encryptions":  ks.Encryptions,
	}}, nil
}
