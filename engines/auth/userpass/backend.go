// Package userpass implements Vault's userpass auth method (usernames and
// argon2id-hashed passwords) as an engines.Backend.
package userpass

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// The package's errors. The first two are internal (clients see an
// internal error); the others are client answers in Vault's words, and
// errInvalidCredentials is the one answer to both an unknown user and a
// wrong password.
var (
	errNoStorage          = errors.New("userpass: backend config has no storage")
	errBadHash            = errors.New("userpass: malformed password hash")
	errInvalidCredentials = engines.BadRequest("invalid username or password")
	errNoSuchUser         = engines.BadRequest("username does not exist")
)

// Storage layout, relative to the mount's view: user/<username> holds a
// user with its password hash, never the password.
const (
	userPrefix      = "user/"
	maxNameLen      = 512
	userLockStripes = 64
)

// nameRe is Vault's GenericNameRegex for usernames.
var nameRe = regexp.MustCompile(`^\w(([\w.@-]+)?\w)?$`)

// backend is one userpass mount. A user's stripe of userLocks is held for
// writing across every read-modify-write of that user; logins only read.
type backend struct {
	storage   engines.Storage
	hasher    *hasher
	userLocks [userLockStripes]sync.Mutex
}

var (
	_ engines.Backend              = (*backend)(nil)
	_ engines.PathsUnauthenticated = (*backend)(nil)
	_ engines.ExistenceChecker     = (*backend)(nil)
)

// Factory builds a userpass backend for one mount.
func Factory(_ context.Context, conf *engines.BackendConfig) (engines.Backend, error) {
	return newBackend(conf, defaultKDF)
}

func newBackend(conf *engines.BackendConfig, kdf kdfParams) (*backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, errNoStorage
	}
	h, err := newHasher(kdf)
	if err != nil {
		return nil, err
	}
	return &backend{storage: conf.Storage, hasher: h}, nil
}

// UnauthenticatedPaths implements engines.PathsUnauthenticated.
func (b *backend) UnauthenticatedPaths() []string { return []string{"login/*"} }

// HandleRequest implements engines.Backend.
func (b *backend) HandleRequest(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	f := tokenfields.Fields(req.Data)
	if f == nil {
		f = tokenfields.Fields{}
	}
	path := req.Path
	if req.Operation == engines.ListOperation {
		path = strings.TrimSuffix(path, "/")
	}
	write := req.Operation == engines.UpdateOperation || req.Operation == engines.CreateOperation
	parts := strings.Split(path, "/")
	switch {
	case parts[0] == "login" && len(parts) == 2:
		if !write {
			return nil, engines.ErrUnsupportedOperation
		}
		return b.login(ctx, req, strings.ToLower(parts[1]), f)
	case parts[0] != "users":
		return nil, engines.ErrUnsupportedPath
	case len(parts) == 1:
		if req.Operation != engines.ListOperation {
			return nil, engines.ErrUnsupportedOperation
		}
		return b.listUsers(ctx)
	}
	name, err := pathName(parts[1])
	if err != nil {
		return nil, err
	}
	switch {
	case len(parts) == 2:
		switch {
		case req.Operation == engines.ReadOperation:
			return b.readUser(ctx, name)
		case write:
			return b.writeUser(ctx, name, f)
		case req.Operation == engines.DeleteOperation:
			return nil, b.deleteUser(ctx, name)
		}
		return nil, engines.ErrUnsupportedOperation
	case len(parts) == 3 && parts[2] == "password":
		if !write {
			return nil, engines.ErrUnsupportedOperation
		}
		return nil, b.setPassword(ctx, name, f)
	case len(parts) == 3 && parts[2] == "policies":
		if !write {
			return nil, engines.ErrUnsupportedOperation
		}
		return nil, b.setPolicies(ctx, name, f)
	}
	return nil, engines.ErrUnsupportedPath
}

// pathName returns the user named by a path segment outside login. A name
// that is not lower case is refused, not folded: the ACL matched the path
// as written, so folding would let a write to users/ADMIN reach the user a
// policy guards as users/admin.
func pathName(seg string) (string, error) {
	lower := strings.ToLower(seg)
	if !validName(lower) {
		return "", engines.ErrUnsupportedPath
	}
	if seg != lower {
		return "", engines.BadRequest("user names are lower case; use %q", lower)
	}
	return seg, nil
}

func validName(name string) bool {
	return name != "" && len(name) <= maxNameLen && nameRe.MatchString(name)
}

func (b *backend) userLock(name string) *sync.Mutex {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return &b.userLocks[h%userLockStripes]
}

func wrapStorage(what string, err error) error {
	return fmt.Errorf("userpass: %s: %w", what, err)
}
