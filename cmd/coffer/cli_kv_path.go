package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/hashicorp/vault/api"
)

// kvPath is a key in a KV secrets engine, resolved against its mount.
type kvPath struct {
	mount string // mount path with a trailing slash; "" if the server knows no mount
	key   string // key inside the mount, without leading or trailing slashes
	v2    bool
}

// apiPath is the request path for the key: "<mount><key>" for KV v1 and
// "<mount><prefix>/<key>" for v2, where prefix is data, metadata, delete,
// undelete or destroy.
func (k kvPath) apiPath(prefix string) string {
	if !k.v2 {
		return path.Join(k.mount, k.key)
	}
	return path.Join(k.mount, prefix, k.key)
}

// kvMount is what sys/internal/ui/mounts says about the mount holding a path.
type kvMount struct {
	path    string // e.g. "secret/"; "" when the server has no such endpoint
	version int    // 1 or 2
}

// lookupKVMount asks the server which mount serves p and whether it is KV v1
// or v2 (GET sys/internal/ui/mounts/<p>), as Vault's CLI does. A 404 means
// the server cannot say; like Vault, the path is then treated as KV v1.
func lookupKVMount(ctx context.Context, cl *api.Client, p string) (kvMount, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.ClientTimeout())
	defer cancel()
	resp, err := cl.Logical().ReadRawWithContext(ctx, "sys/internal/ui/mounts/"+p)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return kvMount{version: 1}, nil
		}
		return kvMount{}, err
	}
	s, err := api.ParseSecret(resp.Body)
	if err != nil {
		return kvMount{}, fmt.Errorf("parse mount info: %w", err)
	}
	if s == nil || s.Data == nil {
		return kvMount{}, errors.New("nil response from pre-flight request")
	}
	m := kvMount{version: 1}
	if p, ok := s.Data["path"].(string); ok {
		m.path = ensureTrailingSlash(p)
	}
	if opts, ok := s.Data["options"].(map[string]any); ok {
		if v, ok := opts["version"].(string); ok && v == "2" {
			m.version = 2
		}
	}
	return m, nil
}

// splitKVPath splits a command's path argument into mount and key. With
// -mount the argument is the key alone; without, it is "<mount>/<key>" and
// the mount reported by the server is stripped off the front.
func splitKVPath(mountFlag, arg string, m kvMount) kvPath {
	arg = sanitizePath(arg)
	if mountFlag != "" {
		mount := m.path
		if mount == "" {
			mount = ensureTrailingSlash(sanitizePath(mountFlag))
		}
		return kvPath{mount: mount, key: arg, v2: m.version == 2}
	}
	if m.path == "" {
		return kvPath{key: arg, v2: m.version == 2}
	}
	key := arg
	switch {
	case arg+"/" == m.path:
		key = ""
	case strings.HasPrefix(arg, m.path):
		key = strings.TrimPrefix(arg, m.path)
	}
	return kvPath{mount: m.path, key: sanitizePath(key), v2: m.version == 2}
}

// resolveKV finds the mount for a kv command's path argument (or its -mount
// flag) and splits the argument accordingly.
func (c *command) resolveKV(cl *api.Client, mountFlag, arg string) (kvPath, error) {
	probe := sanitizePath(arg)
	if mountFlag != "" {
		probe = sanitizePath(mountFlag)
	}
	m, err := lookupKVMount(c.ctx(), cl, probe)
	if err != nil {
		return kvPath{}, err
	}
	return splitKVPath(mountFlag, arg, m), nil
}
