package token

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"time"

	"coffer/engines"
)

// record is a token as stored under id/<key> (see encodeRecord). It never
// holds the token ID; the accessor and parent accessor are sealed (AES-GCM
// under a key derived from the salt, bound to the record key) so a storage
// dump names neither.
type record struct {
	// Check is the second keyed hash of the ID, compared in constant time.
	Check  []byte
	Sealed []byte

	Policies    []string
	Meta        map[string]string
	DisplayName string
	Path        string
	// Times are Unix nanoseconds; Expires zero never expires.
	Created int64
	Expires int64
	Renewed int64
	// CreationTTL is the TTL granted at creation, TTL the one granted at
	// creation or the last renewal.
	CreationTTL    time.Duration
	TTL            time.Duration
	ExplicitMaxTTL time.Duration
	Period         time.Duration
	NumUses        int
	Renewable      bool
	Role           string
	BoundCIDRs     []string
	Type           string
	EntityID       string
	// Revoking marks a revocation in progress ("tree" or "orphan"): the
	// token is dead from the moment it is set, and Revoke or Tidy finish
	// the job after a crash.
	Revoking string

	// accessor and parent are the opened Sealed; never serialised.
	accessor, parent string
}

// Revocation modes kept in record.Revoking.
const (
	revokeTree   = "tree"
	revokeOrphan = "orphan"
)

func (r *record) expired(now time.Time) bool {
	return r.Expires != 0 && now.UnixNano() >= r.Expires
}

func (r *record) live(now time.Time) bool {
	return r.Revoking == "" && !r.expired(now)
}

func (r *record) expireTime() time.Time {
	if r.Expires == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.Expires).UTC()
}

// entry is the record as the rest of Coffer sees it (ID left empty). It
// shares the record's slices and map: for a record decoded for this one
// use; a kept one (the record cache) answers with entryCopy.
func (r *record) entry() *engines.TokenEntry {
	return &engines.TokenEntry{
		Accessor:       r.accessor,
		Parent:         r.parent,
		Policies:       r.Policies,
		Meta:           r.Meta,
		DisplayName:    r.DisplayName,
		Path:           r.Path,
		CreationTime:   time.Unix(0, r.Created).UTC(),
		ExpireTime:     r.expireTime(),
		TTL:            r.TTL,
		ExplicitMaxTTL: r.ExplicitMaxTTL,
		Period:         r.Period,
		NumUses:        r.NumUses,
		Renewable:      r.Renewable,
		Orphan:         r.parent == "",
		Role:           r.Role,
		BoundCIDRs:     r.BoundCIDRs,
		Type:           r.Type,
		EntityID:       r.EntityID,
	}
}

// entryCopy is entry with its own slices and map, for a record that is
// kept (the record cache) and must not be changed through the entry.
func (r *record) entryCopy() *engines.TokenEntry {
	e := r.entry()
	e.Policies = slices.Clone(r.Policies)
	e.Meta = cloneMeta(r.Meta)
	e.BoundCIDRs = slices.Clone(r.BoundCIDRs)
	return e
}

func cloneMeta(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sealAAD(key string) []byte { return []byte("coffer-token-fields\x00" + key) }

// seal encrypts accessor and parent into r.Sealed for the record at key.
func (s *Store) seal(key string, r *record) error {
	aead, err := s.cipher()
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(r.accessor)+1+len(r.parent)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("token: nonce: %w", err)
	}
	r.Sealed = aead.Seal(nonce, nonce, []byte(r.accessor+"\x00"+r.parent), sealAAD(key))
	return nil
}

// open decrypts r.Sealed into r.accessor and r.parent.
func (s *Store) open(key string, r *record) error {
	aead, err := s.cipher()
	if err != nil {
		return err
	}
	n := aead.NonceSize()
	if len(r.Sealed) < n+aead.Overhead() {
		return fmt.Errorf("token: sealed fields: %w", errCorrupt)
	}
	plain, err := aead.Open(nil, r.Sealed[:n], r.Sealed[n:], sealAAD(key))
	if err != nil {
		return fmt.Errorf("token: sealed fields: %w", errCorrupt)
	}
	acc, parent, ok := strings.Cut(string(plain), "\x00")
	if !ok {
		return fmt.Errorf("token: sealed fields: %w", errCorrupt)
	}
	r.accessor, r.parent = acc, parent
	return nil
}

// read loads and opens the record at key, whatever its state; (nil, nil)
// if there is none.
func (s *Store) read(ctx context.Context, key string) (*record, error) {
	raw, err := s.storage.Get(ctx, idPrefix+key)
	if err != nil {
		return nil, fmt.Errorf("token: read record: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	r, err := decodeRecord(raw)
	if err != nil {
		return nil, err
	}
	if err := s.open(key, r); err != nil {
		return nil, err
	}
	return r, nil
}

// write seals and stores r at key.
func (s *Store) write(ctx context.Context, key string, r *record) error {
	if err := s.seal(key, r); err != nil {
		return err
	}
	err := s.storage.Put(ctx, idPrefix+key, encodeRecord(r))
	// Whether or not it failed, the write may have been applied.
	s.cache.invalidate(key)
	if err != nil {
		return fmt.Errorf("token: write record: %w", err)
	}
	return nil
}

// found is a token record with its storage key.
type found struct {
	key string
	rec *record
}

// findID resolves a token ID to its record, whatever its state, checking
// the stored keyed hash in constant time; nil if unknown.
func (s *Store) findID(ctx context.Context, id string) (*found, error) {
	if id == "" || len(id) > maxIDLength {
		return nil, nil
	}
	key, err := s.idKey(id)
	if err != nil {
		return nil, err
	}
	r, err := s.read(ctx, key)
	if err != nil || r == nil {
		return nil, err
	}
	if ok, err := s.idMatches(id, r); !ok {
		return nil, err
	}
	return &found{key: key, rec: r}, nil
}

// idMatches reports whether r is id's record: the second keyed hash of id
// against the one r keeps, compared in constant time.
func (s *Store) idMatches(id string, r *record) (bool, error) {
	check, err := s.idCheck(id)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(check, r.Check) == 1, nil
}

// findAccessor resolves an accessor through its index, whatever the
// token's state; nil if unknown.
func (s *Store) findAccessor(ctx context.Context, accessor string) (*found, error) {
	if accessor == "" || len(accessor) > maxIDLength {
		return nil, nil
	}
	akey, err := s.accessorKey(accessor)
	if err != nil {
		return nil, err
	}
	raw, err := s.storage.Get(ctx, accessorPrefix+akey)
	if err != nil {
		return nil, fmt.Errorf("token: read accessor index: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	key := string(raw)
	r, err := s.read(ctx, key)
	if err != nil || r == nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(r.accessor), []byte(accessor)) != 1 {
		return nil, nil
	}
	return &found{key: key, rec: r}, nil
}

// Lookup returns the live entry for a token ID, or (nil, nil) if the ID is
// unknown, revoked, being revoked or expired (checked against the clock,
// whether or not tidy has run). Entry.ID is not set. It takes no token
// lock: a keyed hash, the record from the cache (or one storage read, a
// decode and the sealed-field open, then kept), the check hash compared in
// constant time.
//
// The cache holds the node's applied state (recordCache), so callers pass
// a read barrier first, as every request does (System.handle).
func (s *Store) Lookup(ctx context.Context, id string) (*engines.TokenEntry, error) {
	if id == "" || len(id) > maxIDLength {
		return nil, nil
	}
	key, err := s.idKey(id)
	if err != nil {
		return nil, err
	}
	r, ok := s.cache.get(key)
	if !ok {
		epoch := s.cache.begin()
		if r, err = s.read(ctx, key); err != nil || r == nil {
			return nil, err
		}
		s.cache.put(epoch, key, r)
	}
	if ok, err := s.idMatches(id, r); !ok || !r.live(s.now()) {
		return nil, err
	}
	return r.entryCopy(), nil
}

// LookupAccessor returns the live entry a token accessor names, or
// (nil, nil) as Lookup does.
func (s *Store) LookupAccessor(ctx context.Context, accessor string) (*engines.TokenEntry, error) {
	f, err := s.findAccessor(ctx, accessor)
	if err != nil || f == nil || !f.rec.live(s.now()) {
		return nil, err
	}
	return f.rec.entry(), nil
}
