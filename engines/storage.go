package engines

import "context"

// Storage is the key-value storage a backend writes to. Implementations
// (the barrier, a mount's view of it) encrypt every value before it leaves
// the process.
//
// All methods are safe for concurrent use. Get returns (nil, nil) for a
// missing key. List returns the immediate children of prefix in sorted
// order: a key "a/b/c" under prefix "a/" is listed as "b/". Put and Delete
// return only after the write is durable (committed through Raft); they are
// linearizable with respect to Get and List.
type Storage interface {
	Get(ctx context.Context, key string) ([]byte, error)
	List(ctx context.Context, prefix string) ([]string, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// View is a Storage confined to a key prefix, such as one mount's
// "logical/<uuid>/". Keys passed to it are relative to the prefix.
type View struct {
	prefix string
	under  Storage
}

var _ Storage = (*View)(nil)

// NewView returns the part of s under prefix.
func NewView(s Storage, prefix string) *View { return &View{prefix: prefix, under: s} }

// Prefix is the view's prefix in the underlying storage.
func (v *View) Prefix() string { return v.prefix }

// Get reads key under the view's prefix.
func (v *View) Get(ctx context.Context, key string) ([]byte, error) {
	return v.under.Get(ctx, v.prefix+key)
}

// List lists children of prefix under the view's prefix.
func (v *View) List(ctx context.Context, prefix string) ([]string, error) {
	return v.under.List(ctx, v.prefix+prefix)
}

// Put writes key under the view's prefix.
func (v *View) Put(ctx context.Context, key string, value []byte) error {
	return v.under.Put(ctx, v.prefix+key, value)
}

// Delete removes key under the view's prefix.
func (v *View) Delete(ctx context.Context, key string) error {
	return v.under.Delete(ctx, v.prefix+key)
}

// Batcher is implemented by storage that writes several keys atomically
// (the barrier: one Raft entry).
type Batcher interface {
	Batch(ctx context.Context, puts map[string][]byte, deletes []string) error
}

// TryBatch writes puts and deletes atomically when s can (the barrier, or
// a view of it), and reports whether it could; a caller that gets false
// writes them one by one.
func TryBatch(ctx context.Context, s Storage, puts map[string][]byte, deletes []string) (bool, error) {
	prefix := ""
	for {
		v, ok := s.(*View)
		if !ok {
			break
		}
		prefix = v.prefix + prefix
		s = v.under
	}
	b, ok := s.(Batcher)
	if !ok {
		return false, nil
	}
	if prefix != "" {
		full := make(map[string][]byte, len(puts))
		for k, val := range puts {
			full[prefix+k] = val
		}
		puts = full
		dels := make([]string, len(deletes))
		for i, k := range deletes {
			dels[i] = prefix + k
		}
		deletes = dels
	}
	return true, b.Batch(ctx, puts, deletes)
}
