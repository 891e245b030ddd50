package engines

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// mountTableKey is where the router keeps the mount table (encrypted by
// the barrier like every other value).
const mountTableKey = "core/mounts"

// logicalPrefix is the storage prefix under which each mount's view lives.
const logicalPrefix = "logical/"

// reservedMounts are paths users cannot mount or unmount.
var reservedMounts = []string{"sys/", "auth/", "cubbyhole/", "identity/"}

type mounted struct {
	entry   MountEntry
	backend Backend
}

// Router holds the mount table and dispatches each request to the backend
// mounted at the longest matching path prefix.
//
// Lookups take a read lock on a small sorted table; Mount and Unmount
// persist the table before changing it in memory, serialised by mu.
type Router struct {
	storage   Storage
	factories map[string]Factory
	clock     func() time.Time

	mu     sync.RWMutex
	mounts []*mounted // sorted by path length, longest first
}

// NewRouter returns an empty router over storage with the given backend
// factories by mount type.
func NewRouter(storage Storage, factories map[string]Factory) *Router {
	return &Router{storage: storage, factories: factories, clock: time.Now}
}

// Load reads the mount table from storage and builds every backend,
// replacing what the router held. Called at unseal.
func (r *Router) Load(ctx context.Context) error {
	raw, err := r.storage.Get(ctx, mountTableKey)
	if err != nil {
		return fmt.Errorf("engines: read mount table: %w", err)
	}
	var entries []MountEntry
	if raw != nil {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return fmt.Errorf("engines: decode mount table: %w", err)
		}
	}
	built := make([]*mounted, 0, len(entries))
	for _, e := range entries {
		b, err := r.build(ctx, e)
		if err != nil {
			return err
		}
		built = append(built, &mounted{entry: e, backend: b})
	}
	sortMounts(built)
	r.mu.Lock()
	r.mounts = built
	r.mu.Unlock()
	return nil
}

// Reset drops every backend; called when the node seals.
func (r *Router) Reset() {
	r.mu.Lock()
	r.mounts = nil
	r.mu.Unlock()
}

func (r *Router) build(ctx context.Context, e MountEntry) (Backend, error) {
	f, ok := r.factories[e.Type]
	if !ok {
		return nil, BadRequest("unknown backend type: %q", e.Type)
	}
	b, err := f(ctx, &BackendConfig{
		MountPath: e.Path,
		Options:   e.Options,
		Storage:   NewView(r.storage, logicalPrefix+e.UUID+"/"),
		Clock:     r.clock,
	})
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
	for _, res := range reservedMounts {
		if strings.HasPrefix(e.Path, res) {
			return BadRequest("cannot mount %q: path is reserved", e.Path)
		}
	}
	if _, ok := r.factories[e.Type]; !ok {
		return BadRequest("plugin not found in the catalog: %s", e.Type)
	}
	if e.UUID == "" {
		e.UUID = randomID()
	}
	if e.Accessor == "" {
		e.Accessor = e.Type + "_" + randomID()[:8]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
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

// Unmount removes the mount at path and deletes its data.
func (r *Router) Unmount(ctx context.Context, path string) error {
	path = NormalizeMountPath(path)
	for _, res := range reservedMounts {
		if strings.HasPrefix(path, res) {
			return BadRequest("cannot unmount %q", path)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	idx := -1
	for i, m := range r.mounts {
		if m.entry.Path == path {
			idx = i
		}
	}
	if idx < 0 {
		// Vault answers a disable of a missing mount with success.
		return nil
	}
	gone := r.mounts[idx]
	next := append(append([]*mounted(nil), r.mounts[:idx]...), r.mounts[idx+1:]...)
	if err := r.persist(ctx, next); err != nil {
		return err
	}
	r.mounts = next
	if err := deleteTree(ctx, r.storage, logicalPrefix+gone.entry.UUID+"/"); err != nil {
		return fmt.Errorf("engines: clear data of %s: %w", path, err)
	}
	return nil
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

func (r *Router) persist(ctx context.Context, ms []*mounted) error {
	entries := make([]MountEntry, len(ms))
	for i, m := range ms {
		entries[i] = m.entry
	}
	raw, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("engines: encode mount table: %w", err)
	}
	if err := r.storage.Put(ctx, mountTableKey, raw); err != nil {
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

// Match returns the mount entry whose path is the longest prefix of path.
func (r *Router) Match(path string) (MountEntry, bool) {
	m := r.match(path)
	if m == nil {
		return MountEntry{}, false
	}
	return m.entry, true
}

func (r *Router) match(path string) *mounted {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.mounts {
		if strings.HasPrefix(path, m.entry.Path) || path+"/" == m.entry.Path {
			return m
		}
	}
	return nil
}

// Route hands req to the backend of the mount that matches req.Path,
// rewriting Path relative to the mount and setting MountPoint and Storage.
func (r *Router) Route(ctx context.Context, req *Request) (*Response, error) {
	m := r.match(req.Path)
	if m == nil {
		return nil, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no handler for route %q. route entry not found.", req.Path)}
	}
	req.MountPoint = m.entry.Path
	req.Path = strings.TrimPrefix(req.Path, m.entry.Path)
	if req.Path+"/" == m.entry.Path {
		req.Path = ""
	}
	return m.backend.HandleRequest(ctx, req)
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
