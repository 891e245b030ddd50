// Package database is the database secrets engine: dynamic and static
// PostgreSQL credentials.
package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"coffer/engines"
)

// The package's errors.
var (
	errNoStorage = errors.New("database: backend config has no storage")
	errAuth      = errors.New("database: login refused")
)

// Storage layout under the mount's view.
const (
	configPrefix        = "config/"
	rolePrefix          = "role/"
	staticRolePrefix    = "static-role/"
	staticAccountPrefix = "static-account/"
	walPrefix           = "rotation-wal/"
)

// defaultLeaseTTL is Vault's default and max lease TTL when the mount
// gives none.
const defaultLeaseTTL = 768 * time.Hour

// backend is one database mount.
type backend struct {
	storage   engines.Storage
	clock     func() time.Time
	logger    *slog.Logger
	mount     string
	leaseTTLs func() (def, max time.Duration)
	// event records a rotation in the audit log (nil in tests).
	event func(ctx context.Context, path string, data map[string]any) error

	poolsMu sync.Mutex
	pools   map[string]*pool

	// configMu serialises read-modify-write of config entries.
	configMu sync.Mutex
	// rootLocks serialise root rotations per connection; roleLocks
	// serialise static rotations (and role writes) per static role.
	rootLocks keyedMutex
	roleLocks keyedMutex

	sched    *schedule
	stop     func()
	stopOnce sync.Once
}

var (
	_ engines.Backend          = (*backend)(nil)
	_ engines.SecretBackend    = (*backend)(nil)
	_ engines.Closer           = (*backend)(nil)
	_ engines.ExistenceChecker = (*backend)(nil)
)

// Factory builds a database backend for one mount. With
// conf.RunWhileLeader set it runs the static rotation scheduler as the
// leader-only service "database-rotation:<mount>"; without, nothing runs
// in the background and rotations happen through RotateDue.
func Factory(_ context.Context, conf *engines.BackendConfig) (engines.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, errNoStorage
	}
	b := &backend{
		storage:   conf.Storage,
		clock:     conf.Clock,
		logger:    conf.Logger,
		mount:     conf.MountPath,
		leaseTTLs: conf.LeaseTTLs,
		pools:     map[string]*pool{},
		sched:     newSchedule(),
	}
	if b.clock == nil {
		b.clock = time.Now
	}
	if b.logger == nil {
		b.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b.event = conf.Event
	if conf.RunWhileLeader != nil {
		b.stop = conf.RunWhileLeader("database-rotation:"+conf.MountPath, b.runScheduler)
	}
	return b, nil
}

// Close stops the rotation scheduler and closes every connection pool.
func (b *backend) Close() error {
	if b.stop != nil {
		b.stopOnce.Do(b.stop)
	}
	b.poolsMu.Lock()
	pools := b.pools
	b.pools = map[string]*pool{}
	b.poolsMu.Unlock()
	for _, p := range pools {
		p.close()
	}
	return nil
}

// nameRE is Vault's GenericNameRegex for item names.
var nameRE = regexp.MustCompile(`^\w(([\w.-]+)?\w)?$`)

// handler serves one operation on a named item.
type handler func(ctx context.Context, req *engines.Request, name string) (*engines.Response, error)

// HandleRequest serves the engine's paths.
func (b *backend) HandleRequest(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	section, name, hasName := strings.Cut(strings.Trim(req.Path, "/"), "/")
	op := req.Operation
	if !hasName || name == "" {
		if op != engines.ListOperation {
			return nil, engines.ErrUnsupportedPath
		}
		switch section {
		case "config":
			return b.list(ctx, configPrefix)
		case "roles":
			return b.list(ctx, rolePrefix)
		case "static-roles":
			return b.list(ctx, staticRolePrefix)
		}
		return nil, engines.ErrUnsupportedPath
	}
	if !nameRE.MatchString(name) {
		return nil, engines.BadRequest("invalid name %q", name)
	}
	write := op == engines.CreateOperation || op == engines.UpdateOperation
	var h handler
	switch {
	case section == "config" && op == engines.ReadOperation:
		h = b.readConfig
	case section == "config" && write:
		h = b.writeConfig
	case section == "config" && op == engines.DeleteOperation:
		h = b.deleteConfig
	case section == "reset" && write:
		h = b.reset
	case section == "rotate-root" && write:
		h = b.rotateRoot
	case section == "roles" && op == engines.ReadOperation:
		h = b.readRole
	case section == "roles" && write:
		h = b.writeRole
	case section == "roles" && op == engines.DeleteOperation:
		h = b.deleteRole
	case section == "creds" && op == engines.ReadOperation:
		h = b.creds
	case section == "static-roles" && op == engines.ReadOperation:
		h = b.readStaticRole
	case section == "static-roles" && write:
		h = b.writeStaticRole
	case section == "static-roles" && op == engines.DeleteOperation:
		h = b.deleteStaticRole
	case section == "static-creds" && op == engines.ReadOperation:
		h = b.staticCreds
	case section == "rotate-role" && write:
		h = b.rotateRole
	}
	if h == nil {
		switch section {
		case "config", "reset", "rotate-root", "roles", "creds", "static-roles", "static-creds", "rotate-role":
			return nil, engines.ErrUnsupportedOperation
		}
		return nil, engines.ErrUnsupportedPath
	}
	if req.Data == nil {
		req.Data = map[string]any{}
	}
	return h(ctx, req, name)
}

// Exists tells the ACL whether a write to config, roles or static-roles
// creates or updates; every other path counts as existing.
func (b *backend) Exists(ctx context.Context, req *engines.Request) (bool, error) {
	section, name, _ := strings.Cut(strings.Trim(req.Path, "/"), "/")
	var key string
	switch section {
	case "config":
		key = configPrefix + name
	case "roles":
		key = rolePrefix + name
	case "static-roles":
		key = staticRolePrefix + name
	default:
		return true, nil
	}
	if name == "" {
		return false, nil
	}
	raw, err := b.storage.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("database: check existence: %w", err)
	}
	return raw != nil, nil
}

func (b *backend) list(ctx context.Context, prefix string) (*engines.Response, error) {
	keys, err := b.storage.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("database: list %s: %w", prefix, err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return &engines.Response{Data: map[string]any{"keys": keys}}, nil
}

// keyedMutex is a mutex per name; entries are never freed (there are as
// many as configured items).
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (k *keyedMutex) lock(name string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*sync.Mutex{}
	}
	l, ok := k.locks[name]
	if !ok {
		l = &sync.Mutex{}
		k.locks[name] = l
	}
	k.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// mountTTLs returns the mount's default and max lease TTLs.
func (b *backend) mountTTLs() (def, max time.Duration) {
	if b.leaseTTLs != nil {
		def, max = b.leaseTTLs()
	}
	if def <= 0 {
		def = defaultLeaseTTL
	}
	if max <= 0 {
		max = defaultLeaseTTL
	}
	return def, max
}
