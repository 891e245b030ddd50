package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"coffer/engines"
)

const (
	tokenPrefix    = "hvs."
	idRandomBytes  = 24
	accessorLength = 24
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// newID returns a fresh token ID: "hvs." and 24 random bytes.
func newID() (string, error) {
	b := make([]byte, idRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: make id: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// newAccessor returns 24 random base62 characters, as Vault's accessors.
func newAccessor() (string, error) {
	out := make([]byte, 0, accessorLength)
	buf := make([]byte, 2*accessorLength)
	for len(out) < accessorLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("token: make accessor: %w", err)
		}
		for _, c := range buf {
			// 248 = 4*62: reject the rest so every character is uniform.
			if c < 248 && len(out) < accessorLength {
				out = append(out, base62Alphabet[c%62])
			}
		}
	}
	return string(out), nil
}

// create stores a new token: r filled in except its accessor, check and
// key; id empty for a random one. Indexes are written before the record
// (a crash leaves a dangling index for tidy, never an unindexed token),
// and a child re-checks its parent afterwards, so a child created while
// its parent is being revoked is revoked too instead of escaping the tree.
func (s *Store) create(ctx context.Context, r *record, id string) (string, error) {
	if id == "" {
		var err error
		if id, err = newID(); err != nil {
			return "", err
		}
	} else {
		if len(id) > maxIDLength {
			return "", engines.BadRequest("custom token ID is too long")
		}
		f, err := s.findID(ctx, id)
		if err != nil {
			return "", err
		}
		if f != nil {
			return "", engines.BadRequest("cannot create a token with a duplicate ID")
		}
	}
	acc, err := newAccessor()
	if err != nil {
		return "", err
	}
	key, err := s.idKey(id)
	if err != nil {
		return "", err
	}
	check, err := s.idCheck(id)
	if err != nil {
		return "", err
	}
	akey, err := s.accessorKey(acc)
	if err != nil {
		return "", err
	}
	r.Check, r.accessor = check, acc
	// Hold the record's lock while its indexes exist without it, so
	// Tidy never sees (and drops) an index of a token half created.
	mu := s.lockFor(key)
	mu.Lock()
	err = s.writeNew(ctx, key, akey, r)
	mu.Unlock()
	if err != nil {
		return "", err
	}
	if r.parent != "" {
		p, err := s.findAccessor(ctx, r.parent)
		if err == nil && (p == nil || !p.rec.live(s.now())) {
			err = engines.BadRequest("parent token lookup failed: no parent found")
		}
		if err != nil {
			if rerr := s.revokeKey(ctx, key, revokeTree); rerr != nil {
				s.logger.Error("revoke a child created under a dying parent", "error", rerr)
			}
			return "", err
		}
	}
	return id, nil
}

// writeNew writes a new token's indexes and its record: in one atomic
// write when the storage can batch (one Raft entry), else the indexes
// first, then the record.
func (s *Store) writeNew(ctx context.Context, key, akey string, r *record) error {
	puts := map[string][]byte{accessorPrefix + akey: []byte(key)}
	if r.parent != "" {
		pkey, err := s.accessorKey(r.parent)
		if err != nil {
			return err
		}
		puts[parentPrefix+pkey+"/"+akey] = []byte(key)
	}
	if err := s.seal(key, r); err != nil {
		return err
	}
	puts[idPrefix+key] = encodeRecord(r)
	if ok, err := engines.TryBatch(ctx, s.storage, puts, nil); ok {
		if err != nil {
			return fmt.Errorf("token: write token: %w", err)
		}
		return nil
	}
	if r.parent != "" {
		pkey, err := s.accessorKey(r.parent)
		if err != nil {
			return err
		}
		if err := s.storage.Put(ctx, parentPrefix+pkey+"/"+akey, []byte(key)); err != nil {
			return fmt.Errorf("token: write parent index: %w", err)
		}
	}
	if err := s.storage.Put(ctx, accessorPrefix+akey, []byte(key)); err != nil {
		return fmt.Errorf("token: write accessor index: %w", err)
	}
	return s.write(ctx, key, r)
}

// CreateRoot stores a root token (policy "root", no TTL, orphan) and
// returns its ID. id names the token (dev mode); empty means random.
func (s *Store) CreateRoot(ctx context.Context, id string) (string, error) {
	now := s.now()
	r := &record{
		Policies:    []string{"root"},
		DisplayName: "root",
		Path:        "auth/token/root",
		Created:     now.UnixNano(),
		Type:        "service",
	}
	id, err := s.create(ctx, r, id)
	if err != nil {
		return "", err
	}
	s.logger.Info("root token created")
	return id, nil
}

// CreateFromAuth creates the token for a successful login, as Vault does:
// policies are auth.Policies plus "default" (unless NoDefaultPolicy), the
// token is an orphan, its path is the login path, its display name the
// mount path ("auth/" trimmed, "/" as "-") followed by auth.DisplayName,
// its TTL auth.LeaseDuration (zero: the default) or auth.Period, capped
// by auth.ExplicitMaxTTL and the store's MaxTTL. It fills auth's token
// fields and returns the entry with ID set.
func (s *Store) CreateFromAuth(ctx context.Context, req *engines.Request, auth *engines.Auth) (*engines.TokenEntry, error) {
	if req == nil || auth == nil {
		return nil, errNoEntry
	}
	policies := sanitizePolicies(auth.Policies, !auth.NoDefaultPolicy)
	if auth.NoDefaultPolicy {
		policies = remove(policies, "default")
	}
	if contains(policies, "root") {
		return nil, engines.BadRequest("auth methods cannot create root tokens")
	}
	if auth.NumUses < 0 {
		return nil, engines.BadRequest("number of uses cannot be negative")
	}
	cidrs, err := parseCIDRs(auth.BoundCIDRs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ttl, _, err := s.calculateTTL(now, 0, auth.LeaseDuration, auth.Period, 0, auth.ExplicitMaxTTL, now)
	if err != nil {
		return nil, engines.BadRequest("%s", err.Error())
	}
	source := strings.ReplaceAll(strings.TrimPrefix(req.MountPoint, "auth/"), "/", "-")
	display := auth.DisplayName
	if !strings.HasPrefix(display, source) {
		display = source + display
	}
	r := &record{
		Policies:       policies,
		Meta:           cloneMeta(auth.Metadata),
		DisplayName:    strings.TrimSuffix(display, "-"),
		Path:           req.MountPoint + req.Path,
		Created:        now.UnixNano(),
		Expires:        now.Add(ttl).UnixNano(),
		CreationTTL:    ttl,
		TTL:            ttl,
		ExplicitMaxTTL: auth.ExplicitMaxTTL,
		Period:         auth.Period,
		NumUses:        auth.NumUses,
		Renewable:      auth.Renewable,
		BoundCIDRs:     cidrs,
		Type:           "service",
	}
	id, err := s.create(ctx, r, "")
	if err != nil {
		return nil, err
	}
	e := r.entry()
	e.ID = id
	auth.ClientToken, auth.Accessor = id, e.Accessor
	auth.Policies, auth.TokenPolicies = e.Policies, e.Policies
	auth.LeaseDuration, auth.Orphan, auth.TokenType = ttl, true, "service"
	return e, nil
}

// authBlock is the auth block of a create or renew response.
func authBlock(id string, r *record, ttl time.Duration, renewable bool) *engines.Auth {
	return &engines.Auth{
		ClientToken:    id,
		Accessor:       r.accessor,
		Policies:       r.Policies,
		TokenPolicies:  r.Policies,
		Metadata:       r.Meta,
		DisplayName:    r.DisplayName,
		LeaseDuration:  ttl,
		ExplicitMaxTTL: r.ExplicitMaxTTL,
		Period:         r.Period,
		NumUses:        r.NumUses,
		BoundCIDRs:     r.BoundCIDRs,
		Renewable:      renewable,
		TokenType:      "service",
		Orphan:         r.parent == "",
	}
}
