// Package kv implements Vault's key-value secrets engine, versions 1 and 2,
// as an engines.Backend.
package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"coffer/engines"
)

// The package's internal errors; clients see them as internal errors.
var (
	errVersionDataMissing = errors.New("kv: version data missing from storage")
	errNoStorage          = errors.New("kv: backend config has no storage")
	errCorruptMetadata    = errors.New("kv: corrupt key metadata")
	errCorruptVersion     = errors.New("kv: corrupt version record")
	errCorruptJSON        = errors.New("kv: invalid stored JSON")
	errTimeOutOfRange     = errors.New("kv: time outside the years 0 to 9999")
)

// Factory builds a KV backend for one mount: conf.Options["version"] "2"
// selects the versioned engine, "1" or "" the unversioned one.
func Factory(_ context.Context, conf *engines.BackendConfig) (engines.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, errNoStorage
	}
	clock := conf.Clock
	if clock == nil {
		clock = time.Now
	}
	switch v := conf.Options["version"]; v {
	case "", "1":
		return &passthrough{storage: conf.Storage}, nil
	case "2":
		return &versioned{storage: conf.Storage, clock: clock}, nil
	default:
		return nil, engines.BadRequest("kv: unsupported version %q: want 1 or 2", v)
	}
}

// checkKey rejects key names a write or read cannot address: the empty
// name and names ending in a slash, which would read back as folders.
func checkKey(key string) error {
	if key == "" {
		return engines.BadRequest("missing path")
	}
	if strings.HasSuffix(key, "/") {
		return engines.BadRequest("invalid path %q: a key name cannot end with /", key)
	}
	return nil
}

// listPrefix turns a list path into a storage prefix with one trailing
// slash, leaving the root empty.
func listPrefix(p string) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// listResponse is Vault's list answer; an empty list is a 404 (nil).
func listResponse(keys []string) *engines.Response {
	if len(keys) == 0 {
		return nil
	}
	return &engines.Response{Data: map[string]any{"keys": keys}}
}

func wrapStorage(what string, err error) error {
	return fmt.Errorf("kv: %s: %w", what, err)
}
