package kv

import (
	"context"
	"strings"

	"coffer/engines"
)

var (
	_ engines.ExistenceChecker = (*versioned)(nil)
	_ engines.ExistenceChecker = (*passthrough)(nil)
)

// Exists reports whether a write to req.Path updates an existing key (so
// the ACL asks for update) or creates one (create). For KV v2 a key exists
// once it has metadata, as in Vault; config always exists.
func (b *versioned) Exists(ctx context.Context, req *engines.Request) (bool, error) {
	if req.Path == "config" {
		return true, nil
	}
	section, key, _ := strings.Cut(req.Path, "/")
	switch section {
	case "data", "metadata":
	default:
		return true, nil
	}
	if key == "" {
		return false, nil
	}
	raw, err := b.storage.Get(ctx, metadataKey(key))
	if err != nil {
		return false, wrapStorage("check existence", err)
	}
	return raw != nil, nil
}

// Exists reports whether the KV v1 key at req.Path holds a value.
func (b *passthrough) Exists(ctx context.Context, req *engines.Request) (bool, error) {
	if req.Path == "" {
		return false, nil
	}
	raw, err := b.storage.Get(ctx, req.Path)
	if err != nil {
		return false, wrapStorage("check existence", err)
	}
	return raw != nil, nil
}
