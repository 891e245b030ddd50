package engines

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
)

// MountEntry is one row of the mount table, as stored and as listed by
// sys/mounts.
type MountEntry struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	UUID        string            `json:"uuid"`
	Accessor    string            `json:"accessor"`
	Options     map[string]string `json:"options,omitempty"`
	// DefaultLeaseTTL and MaxLeaseTTL are zero for the system defaults.
	DefaultLeaseTTL time.Duration `json:"default_lease_ttl"`
	MaxLeaseTTL     time.Duration `json:"max_lease_ttl"`
	Local           bool          `json:"local"`
	SealWrap        bool          `json:"seal_wrap"`
}

// RouterConfig describes one mount table: the secrets engines' or the auth
// methods'.
type RouterConfig struct {
	Storage   Storage
	Factories map[string]Factory
	// TableKey is where the table is kept (encrypted by the barrier like
	// every other value): "core/mounts" or "core/auth".
	TableKey string
	// PathPrefix is what request paths start with before the mount path:
	// "" for secrets engines, "auth/" for auth methods.
	PathPrefix string
	// ViewPrefix is the storage prefix of each mount's view:
	// "logical/" or "auth/", followed by the mount's UUID.
	ViewPrefix string
	// Reserved are mount paths users cannot mount or unmount.
	Reserved []string
	// Logger receives what operators must know (a mount that failed to
	// start); nil discards.
	Logger *slog.Logger
	// Event is handed to backends (BackendConfig.Event) with the mount's
	// entry; nil: none.
	Event func(ctx context.Context, e MountEntry, path string, data map[string]any) error
	// RunWhileLeader is handed to backends for their leader-only work
	// (BackendConfig.RunWhileLeader); nil: none.
	RunWhileLeader func(name string, svc func(ctx context.Context)) (stop func())
	// DefaultLeaseTTL and MaxLeaseTTL are the system's lease TTLs, used by
	// mounts that do not tune their own; zero means 768h (Vault's).
	DefaultLeaseTTL, MaxLeaseTTL time.Duration
}

// systemTTL is Vault's default for both the default and max lease TTL.
const systemTTL = 768 * time.Hour

// SecretsRouterConfig is the secrets engines' table.
func SecretsRouterConfig(s Storage, f map[string]Factory) RouterConfig {
	return RouterConfig{Storage: s, Factories: f, TableKey: "core/mounts", ViewPrefix: "logical/",
		Reserved: []string{"sys/", "auth/", "cubbyhole/", "identity/"}}
}

// AuthRouterConfig is the auth methods' table; "token/" is built in.
func AuthRouterConfig(s Storage, f map[string]Factory) RouterConfig {
	return RouterConfig{Storage: s, Factories: f, TableKey: "core/auth", PathPrefix: "auth/", ViewPrefix: "auth/",
		Reserved: []string{"token/"}}
}

type mounted struct {
	entry   MountEntry
	backend Backend
	builtin bool
}

// Router holds the mount table and dispatches each request to the backend
// mounted at the longest matching path prefix.
//
// Lookups take a read lock on a small sorted table; Mount and Unmount
// persist the table before changing it in memory, serialised by mu.
type Router struct {
	cfg     RouterConfig
	storage Storage
	clock   func() time.Time

	mu       sync.RWMutex
	mounts   []*mounted // sorted by path length, longest first
	builtins []*mounted
	// loaded is true between Load and Reset: changes to the table are
	// refused outside it, so a half-loaded table is never persisted.
	loaded bool
}

// NewRouter returns an empty router for one mount table.
func NewRouter(cfg RouterConfig) *Router {
	return &Router{cfg: cfg, storage: cfg.Storage, clock: time.Now}
}

// AddBuiltin mounts a backend that is not kept in the table and cannot be
// unmounted (the token store at auth/token/). It survives Load and Reset.
func (r *Router) AddBuiltin(e MountEntry, b Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &mounted{entry: e, backend: b, builtin: true}
	r.builtins = append(r.builtins, m)
	r.mounts = append(r.mounts, m)
	sortMounts(r.mounts)
}

// Load reads the mount table from storage and builds every backend,
// replacing what the router held. Called at unseal.
func (r *Router) Load(ctx context.Context) error {
	raw, err := r.storage.Get(ctx, r.cfg.TableKey)
	if err != nil {
		return fmt.Errorf("engines: read mount table: %w", err)
	}
	var entries []MountEntry
	if raw != nil {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return fmt.Errorf("engines: decode mount table: %w", err)
		}
	}
	// A reload (another node changed the table) keeps the backends of
	// mounts that did not change.
	r.mu.RLock()
	existing := make(map[string]*mounted, len(r.mounts))
	for _, m := range r.mounts {
		if m.entry.UUID != "" {
			existing[m.entry.UUID] = m
		}
	}
	r.mu.RUnlock()
	built := make([]*mounted, 0, len(entries)+len(r.builtins))
	built = append(built, r.builtins...)
	for _, e := range entries {
		if old, ok := existing[e.UUID]; ok && old.entry.Type == e.Type && old.entry.Path == e.Path && maps.Equal(old.entry.Options, e.Options) {
			built = append(built, &mounted{entry: e, backend: old.backend})
			continue
		}
		b, err := r.build(ctx, e)
		if err != nil {
			// One broken mount must not keep the node sealed: it stays in
			// the table (so it is not lost) and answers 503.
			r.logger().Error("mount could not be started; it answers 503", "path", r.cfg.PathPrefix+e.Path, "type", e.Type, "error", err)
			b = unavailable{path: r.cfg.PathPrefix + e.Path}
		}
		built = append(built, &mounted{entry: e, backend: b})
	}
	sortMounts(built)
	r.mu.Lock()
	old := r.mounts
	r.mounts = built
	r.loaded = true
	r.mu.Unlock()
	// Backends replaced by the reload (their mount changed or went away).
	kept := make(map[Backend]bool, len(built))
	for _, m := range built {
		kept[m.backend] = true
	}
	for _, m := range old {
		if !m.builtin && !kept[m.backend] {
			r.closeBackend(m)
		}
	}
	return nil
}

func (r *Router) logger() *slog.Logger {
	if r.cfg.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.cfg.Logger
}

// unavailable serves a mount whose backend could not be built.
type unavailable struct{ path string }

func (u unavailable) HandleRequest(context.Context, *Request) (*Response, error) {
	return nil, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("the backend mounted at %s could not be started; see the server log", u.path)}
}

// Reset drops every backend (closing those that hold resources); called
// when the node seals.
func (r *Router) Reset() {
	r.mu.Lock()
	old := r.mounts
	r.mounts = append([]*mounted(nil), r.builtins...)
	r.loaded = false
	r.mu.Unlock()
	for _, m := range old {
		if !m.builtin {
			r.closeBackend(m)
		}
	}
}

// closeBackend closes a backend that holds connections or background work.
func (r *Router) closeBackend(m *mounted) {
	if c, ok := m.backend.(Closer); ok {
		if err := c.Close(); err != nil {
			r.logger().Warn("closing a backend", "path", r.cfg.PathPrefix+m.entry.Path, "error", err)
		}
	}
}

// LeaseTTLs returns the default and max lease TTL of the mount with uuid:
// its tuned values, else the system's.
func (r *Router) LeaseTTLs(uuid string) (def, max time.Duration) {
	def, max = r.cfg.DefaultLeaseTTL, r.cfg.MaxLeaseTTL
	if def == 0 {
		def = systemTTL
	}
	if max == 0 {
		max = systemTTL
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.mounts {
		if m.entry.UUID == uuid {
			if m.entry.DefaultLeaseTTL > 0 {
				def = m.entry.DefaultLeaseTTL
			}
			if m.entry.MaxLeaseTTL > 0 {
				max = m.entry.MaxLeaseTTL
			}
		}
	}
	return min(def, max), max
}

func (r *Router) build(ctx context.Context, e MountEntry) (Backend, error) {
	f, ok := r.cfg.Factories[e.Type]
	if !ok {
		return nil, BadRequest("unknown backend type: %q", e.Type)
	}
	uuid := e.UUID
	conf := &BackendConfig{
		MountPath:      e.Path,
		Options:        e.Options,
		Storage:        NewView(r.storage, r.cfg.ViewPrefix+e.UUID+"/"),
		Clock:          r.clock,
		Logger:         r.logger().With("mount", r.cfg.PathPrefix+e.Path),
		RunWhileLeader: r.cfg.RunWhileLeader,
		LeaseTTLs:      func() (time.Duration, time.Duration) { return r.LeaseTTLs(uuid) },
	}
	if r.cfg.Event != nil {
		entry := e
		conf.Event = func(ctx context.Context, path string, data map[string]any) error {
			return r.cfg.Event(ctx, entry, path, data)
		}
	}
	b, err := f(ctx, conf)
	if err != nil {
		return nil, fmt.Errorf("engines: build %s backend at %s: %w", e.Type, e.Path, err)
	}
	return b, nil
}

func sortMounts(ms []*mounted) {
	sort.Slice(ms, func(i, j int) bool {
		if len(ms[i].entry.Path) != len(ms[j].entry.Path) {
			return len(ms[i].entry.Path) > len(ms[j].entry.Path)
		}
		return ms[i].entry.Path < ms[j].entry.Path
	})
}

// NormalizeMountPath trims slashes and adds the single trailing one.
func NormalizeMountPath(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// Mount adds a mount, persisting the table first.
func (r *Router) Mount(ctx context.Context, e MountEntry) error {
	e.Path = NormalizeMountPath(e.Path)
	if e.Path == "" {
		return BadRequest("mount path cannot be empty")
	}
	if r.reserved(e.Path) {
		return BadRequest("cannot mount %q: path is reserved", r.cfg.PathPrefix+e.Path)
	}
	if _, ok := r.cfg.Factories[e.Type]; !ok {
		return BadRequest("plugin not found in the catalog: %s", e.Type)
	}
	if e.UUID == "" {
		e.UUID = randomID()
	}
	if e.Accessor == "" {
		e.Accessor = e.Type + "_" + randomID()[:8]
	}
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		return ErrSealed
	}
	for _, m := range r.mounts {
		if strings.HasPrefix(m.entry.Path, e.Path) || strings.HasPrefix(e.Path, m.entry.Path) {
			return &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("path is already in use at %s", m.entry.Path)}
		}
	}
	b, err := r.build(ctx, e)
	if err != nil {
		return err
	}
	next := append(append([]*mounted(nil), r.mounts...), &mounted{entry: e, backend: b})
	sortMounts(next)
	if err := r.persist(ctx, next); err != nil {
		return err
	}
	r.mounts = next
	return nil
}

// Unmount removes the mount at path and deletes its data. The table is
// changed under the lock; the data is deleted after it is released (one
// prefix delete where the storage can), so other mounts keep serving.
func (r *Router) Unmount(ctx context.Context, path string) error {
	path = NormalizeMountPath(path)
	if r.reserved(path) {
		return BadRequest("cannot unmount %q", r.cfg.PathPrefix+path)
	}
	// Finish what was started even if the client goes away.
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	if !r.loaded {
		r.mu.Unlock()
		return ErrSealed
	}
	idx := -1
	for i, m := range r.mounts {
		if m.entry.Path == path && !m.builtin {
			idx = i
		}
	}
	if idx < 0 {
		r.mu.Unlock()
		// Vault answers a disable of a missing mount with success.
		return nil
	}
	gone := r.mounts[idx]
	next := append(append([]*mounted(nil), r.mounts[:idx]...), r.mounts[idx+1:]...)
	if err := r.persist(ctx, next); err != nil {
		r.mu.Unlock()
		return err
	}
	r.mounts = next
	r.mu.Unlock()
	r.closeBackend(gone)
	prefix := r.cfg.ViewPrefix + gone.entry.UUID + "/"
	var err error
	if pd, ok := r.storage.(PrefixDeleter); ok {
		err = pd.DeletePrefix(ctx, prefix)
	} else {
		err = deleteTree(ctx, r.storage, prefix)
	}
	if err != nil {
		return fmt.Errorf("engines: clear data of %s: %w", path, err)
	}
	return nil
}

// PrefixDeleter is the optional part of a Storage that removes a whole
// prefix in one write.
type PrefixDeleter interface {
	DeletePrefix(ctx context.Context, prefix string) error
}

// deleteTree deletes every key under prefix, depth first.
func deleteTree(ctx context.Context, s Storage, prefix string) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			if err := deleteTree(ctx, s, prefix+k); err != nil {
				return err
			}
			continue
		}
		if err := s.Delete(ctx, prefix+k); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) reserved(path string) bool {
	for _, res := range r.cfg.Reserved {
		if strings.HasPrefix(path, res) {
			return true
		}
	}
	return false
}

func (r *Router) persist(ctx context.Context, ms []*mounted) error {
	entries := make([]MountEntry, 0, len(ms))
	for _, m := range ms {
		if !m.builtin {
			entries = append(entries, m.entry)
		}
	}
	raw, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("engines: encode mount table: %w", err)
	}
	if err := r.storage.Put(ctx, r.cfg.TableKey, raw); err != nil {
		return fmt.Errorf("engines: write mount table: %w", err)
	}
	return nil
}

// Mounts returns a copy of the mount table.
func (r *Router) Mounts() []MountEntry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]MountEntry, len(r.mounts))
	for i, m := range r.mounts {
		out[i] = m.entry
	}
	return out
}

// Match returns the mount entry serving a full request path ("secret/x",
// or "auth/approle/login" for the auth table); entry paths exclude the
// table's PathPrefix.
func (r *Router) Match(path string) (MountEntry, bool) {
	m, _ := r.resolve(path)
	if m == nil {
		return MountEntry{}, false
	}
	return m.entry, true
}

// Resolved is a request path resolved to its mount.
type Resolved struct {
	Entry   MountEntry
	Backend Backend
	// MountPoint is the mount's full path ("auth/approle/").
	MountPoint string
	// Path is the request path relative to the mount.
	Path string
}

// ByAccessor finds a mount by its accessor, with its storage view.
func (r *Router) ByAccessor(accessor string) (Resolved, Storage, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.mounts {
		if m.entry.Accessor == accessor && !m.builtin {
			return Resolved{Entry: m.entry, Backend: m.backend, MountPoint: r.cfg.PathPrefix + m.entry.Path},
				NewView(r.storage, r.cfg.ViewPrefix+m.entry.UUID+"/"), true
		}
	}
	return Resolved{}, nil, false
}

// Resolve finds the mount serving a full request path.
func (r *Router) Resolve(path string) (Resolved, bool) {
	m, rel := r.resolve(path)
	if m == nil {
		return Resolved{}, false
	}
	return Resolved{Entry: m.entry, Backend: m.backend, MountPoint: r.cfg.PathPrefix + m.entry.Path, Path: rel}, true
}

func (r *Router) resolve(path string) (*mounted, string) {
	path, ok := strings.CutPrefix(path, r.cfg.PathPrefix)
	if !ok {
		return nil, ""
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.mounts {
		if rel, ok := strings.CutPrefix(path, m.entry.Path); ok {
			return m, rel
		}
		if path+"/" == m.entry.Path {
			return m, ""
		}
	}
	return nil, ""
}

// Route hands req to the backend of the mount that matches req.Path,
// rewriting Path relative to the mount and setting MountPoint.
func (r *Router) Route(ctx context.Context, req *Request) (*Response, error) {
	res, ok := r.Resolve(req.Path)
	if !ok {
		return nil, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no handler for route %q. route entry not found.", req.Path)}
	}
	req.MountPoint, req.Path, req.MountAccessor = res.MountPoint, res.Path, res.Entry.Accessor
	return res.Backend.HandleRequest(ctx, req)
}

// Tune changes a mount's description and lease TTLs, persisting first.
func (r *Router) Tune(ctx context.Context, path string, tune func(*MountEntry) error) error {
	path = NormalizeMountPath(path)
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		return ErrSealed
	}
	next := make([]*mounted, len(r.mounts))
	found := false
	for i, m := range r.mounts {
		next[i] = m
		if m.entry.Path == path {
			if m.builtin {
				return BadRequest("cannot tune %q", r.cfg.PathPrefix+path)
			}
			e := m.entry
			if err := tune(&e); err != nil {
				return err
			}
			next[i] = &mounted{entry: e, backend: m.backend}
			found = true
		}
	}
	if !found {
		return BadRequest("no mount at %q", r.cfg.PathPrefix+path)
	}
	if err := r.persist(ctx, next); err != nil {
		return err
	}
	r.mounts = next
	return nil
}

// randomID returns a random UUID-shaped string.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("engines: crypto/rand failed: %v", err))
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// NewRequestID returns a fresh request id.
func NewRequestID() string { return randomID() }
