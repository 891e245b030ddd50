// Package approle implements Vault's AppRole auth method (role IDs and
// secret IDs for machines) as an engines.Backend.
package approle

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// The package's errors. The first two are internal (clients see an
// internal error); errInvalidCredentials is the one answer to a wrong role
// ID or secret ID, whichever part was wrong, in Vault's words.
var (
	errNoStorage          = errors.New("approle: backend config has no storage")
	errBadSalt            = errors.New("approle: stored salt has the wrong size")
	errInvalidCredentials = engines.BadRequest("invalid role or secret ID")
)

// Storage layout, relative to the mount's view:
//
//	salt                       32 random bytes keying every HMAC below
//	role/<name>                a role
//	role_id/<HMAC(role_id)>    role ID -> role name
//	secret_id/<name>/<HMAC>    a secret ID's properties, keyed by its HMAC
//	accessor/<HMAC(accessor)>  secret-ID accessor -> role name and secret HMAC
const (
	saltKey         = "salt"
	rolePrefix      = "role/"
	roleIDPrefix    = "role_id/"
	secretIDPrefix  = "secret_id/"
	accessorPrefix  = "accessor/"
	saltBytes       = 32
	maxHMACInput    = 4096
	roleLockStripes = 64
	secretStripes   = 256
)

// nameRe is Vault's GenericNameRegex for role names.
var nameRe = regexp.MustCompile(`^\w(([\w.@-]+)?\w)?$`)

// backend is one AppRole mount.
//
// Locking: a role's stripe of roleLocks is held for reading by every
// operation that uses the role (login, secret-ID work) and for writing by
// those that change or delete it; a secret ID's stripe of secretLocks is
// held exclusively for any read-modify-write of that secret ID (so a
// secret ID with one use left logs in exactly once). roleIDMu serialises
// claims on role IDs; tidyMu keeps tidy from racing secret-ID creation.
// Locks are always taken in the order tidyMu, role, secret.
type backend struct {
	storage engines.Storage
	clock   func() time.Time

	saltMu sync.Mutex
	salt   []byte

	roleLocks   [roleLockStripes]sync.RWMutex
	secretLocks [secretStripes]sync.Mutex
	roleIDMu    sync.Mutex
	tidyMu      sync.RWMutex
}

var (
	_ engines.Backend              = (*backend)(nil)
	_ engines.PathsUnauthenticated = (*backend)(nil)
	_ engines.ExistenceChecker     = (*backend)(nil)
)

// Factory builds an AppRole backend for one mount.
func Factory(_ context.Context, conf *engines.BackendConfig) (engines.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, errNoStorage
	}
	clock := conf.Clock
	if clock == nil {
		clock = time.Now
	}
	return &backend{storage: conf.Storage, clock: clock}, nil
}

// UnauthenticatedPaths implements engines.PathsUnauthenticated.
func (b *backend) UnauthenticatedPaths() []string { return []string{"login"} }

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
	parts := strings.Split(path, "/")
	switch {
	case path == "login":
		if req.Operation != engines.UpdateOperation && req.Operation != engines.CreateOperation {
			return nil, engines.ErrUnsupportedOperation
		}
		return b.login(ctx, req, f)
	case path == "tidy/secret-id":
		if req.Operation != engines.UpdateOperation && req.Operation != engines.CreateOperation {
			return nil, engines.ErrUnsupportedOperation
		}
		return nil, b.tidy(ctx)
	case parts[0] != "role":
		return nil, engines.ErrUnsupportedPath
	case len(parts) == 1:
		if req.Operation != engines.ListOperation {
			return nil, engines.ErrUnsupportedOperation
		}
		return b.listRoles(ctx)
	}
	name, err := pathName(parts[1])
	if err != nil {
		return nil, err
	}
	switch len(parts) {
	case 2:
		return b.handleRole(ctx, req.Operation, name, f)
	case 3:
		return b.handleRoleSub(ctx, req.Operation, name, parts[2], f)
	case 4:
		return b.handleSecretIDOp(ctx, req.Operation, name, parts[2]+"/"+parts[3], f)
	}
	return nil, engines.ErrUnsupportedPath
}

// pathName returns the role named by a path segment. A name that is not
// lower case is refused, not folded: the ACL matched the path as written,
// so folding would let a write to role/ADMIN reach the role a policy
// guards as role/admin.
func pathName(seg string) (string, error) {
	lower := strings.ToLower(seg)
	if lower == "" || len(lower) > maxHMACInput || !nameRe.MatchString(lower) {
		return "", engines.ErrUnsupportedPath
	}
	if seg != lower {
		return "", engines.BadRequest("role names are lower case; use %q", lower)
	}
	return seg, nil
}

func (b *backend) handleRole(ctx context.Context, op engines.Operation, name string, f tokenfields.Fields) (*engines.Response, error) {
	switch op {
	case engines.ReadOperation:
		return b.readRole(ctx, name)
	case engines.CreateOperation, engines.UpdateOperation:
		return b.writeRole(ctx, name, f)
	case engines.DeleteOperation:
		return nil, b.deleteRole(ctx, name)
	}
	return nil, engines.ErrUnsupportedOperation
}

func (b *backend) handleRoleSub(ctx context.Context, op engines.Operation, name, sub string, f tokenfields.Fields) (*engines.Response, error) {
	switch sub {
	case "role-id":
		switch op {
		case engines.ReadOperation:
			return b.readRoleID(ctx, name)
		case engines.CreateOperation, engines.UpdateOperation:
			return nil, b.writeRoleID(ctx, name, f)
		}
		return nil, engines.ErrUnsupportedOperation
	case "secret-id":
		switch op {
		case engines.ListOperation:
			return b.listSecretIDs(ctx, name)
		case engines.CreateOperation, engines.UpdateOperation:
			id, err := newUUID()
			if err != nil {
				return nil, err
			}
			return b.createSecretID(ctx, name, id, f)
		}
		return nil, engines.ErrUnsupportedOperation
	case "custom-secret-id":
		if op != engines.CreateOperation && op != engines.UpdateOperation {
			return nil, engines.ErrUnsupportedOperation
		}
		id, _, err := f.Str("secret_id")
		if err != nil {
			return nil, err
		}
		return b.createSecretID(ctx, name, id, f)
	}
	if fp, ok := roleFieldPaths[sub]; ok {
		return b.handleRoleField(ctx, op, name, fp, f)
	}
	return nil, engines.ErrUnsupportedPath
}

func (b *backend) handleSecretIDOp(ctx context.Context, op engines.Operation, name, sub string, f tokenfields.Fields) (*engines.Response, error) {
	write := op == engines.CreateOperation || op == engines.UpdateOperation
	switch sub {
	case "secret-id/lookup":
		if !write {
			return nil, engines.ErrUnsupportedOperation
		}
		return b.lookupSecretID(ctx, name, f)
	case "secret-id/destroy":
		if !write && op != engines.DeleteOperation {
			return nil, engines.ErrUnsupportedOperation
		}
		return nil, b.destroySecretID(ctx, name, f)
	case "secret-id-accessor/lookup":
		if !write {
			return nil, engines.ErrUnsupportedOperation
		}
		return b.lookupAccessor(ctx, name, f)
	case "secret-id-accessor/destroy":
		if !write && op != engines.DeleteOperation {
			return nil, engines.ErrUnsupportedOperation
		}
		return nil, b.destroyAccessor(ctx, name, f)
	}
	return nil, engines.ErrUnsupportedPath
}

// hmacKey returns the mount's salt, creating it on first use.
func (b *backend) hmacKey(ctx context.Context) ([]byte, error) {
	b.saltMu.Lock()
	defer b.saltMu.Unlock()
	if b.salt != nil {
		return b.salt, nil
	}
	salt, err := b.storage.Get(ctx, saltKey)
	if err != nil {
		return nil, fmt.Errorf("approle: read salt: %w", err)
	}
	if salt == nil {
		salt = make([]byte, saltBytes)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("approle: make salt: %w", err)
		}
		if err := b.storage.Put(ctx, saltKey, salt); err != nil {
			return nil, fmt.Errorf("approle: write salt: %w", err)
		}
	}
	if len(salt) != saltBytes {
		return nil, errBadSalt
	}
	b.salt = salt
	return salt, nil
}

// keyedHash is the hex HMAC-SHA256 under the mount's salt of label and
// parts, each followed by a zero byte so no two inputs run together.
func keyedHash(key []byte, label string, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// fnv32 hashes s for lock striping.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func (b *backend) roleLock(name string) *sync.RWMutex {
	return &b.roleLocks[fnv32(name)%roleLockStripes]
}

func (b *backend) secretLock(secretHMAC string) *sync.Mutex {
	return &b.secretLocks[fnv32(secretHMAC)%secretStripes]
}

// newUUID returns a random version-4 UUID, the shape Vault gives role IDs,
// secret IDs and accessors (122 random bits).
func newUUID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", fmt.Errorf("approle: random id: %w", err)
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

func listResponse(keys []string) *engines.Response {
	if len(keys) == 0 {
		return nil
	}
	return &engines.Response{Data: map[string]any{"keys": keys}}
}

// nonNil makes a missing list read back as [] rather than null, as Vault's
// responses do.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func wrapStorage(what string, err error) error {
	return fmt.Errorf("approle: %s: %w", what, err)
}
