package approle

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// secretIDEntry is a secret ID's properties, stored under the HMAC of the
// secret ID; the secret ID itself is never stored.
type secretIDEntry struct {
	// Check is a second keyed hash of the secret ID, compared in constant
	// time on every use.
	Check           string            `json:"check"`
	Accessor        string            `json:"secret_id_accessor"`
	NumUses         int               `json:"secret_id_num_uses"`
	TTL             time.Duration     `json:"secret_id_ttl"`
	CreationTime    time.Time         `json:"creation_time"`
	ExpirationTime  time.Time         `json:"expiration_time"`
	LastUpdatedTime time.Time         `json:"last_updated_time"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	CIDRList        []string          `json:"cidr_list,omitempty"`
	TokenBoundCIDRs []string          `json:"token_bound_cidrs,omitempty"`
}

// accessorEntry maps a secret-ID accessor (stored under its HMAC) to the
// secret ID's storage key.
type accessorEntry struct {
	Role         string `json:"role"`
	SecretIDHMAC string `json:"secret_id_hmac"`
}

// expired reports whether the secret ID is past its expiration time.
func (e *secretIDEntry) expired(now time.Time) bool {
	return !e.ExpirationTime.IsZero() && !now.Before(e.ExpirationTime)
}

// data is Vault's lookup response for a secret ID.
func (e *secretIDEntry) data() map[string]any {
	md := e.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return map[string]any{
		"secret_id_accessor": e.Accessor,
		"secret_id_num_uses": e.NumUses,
		"secret_id_ttl":      int64(e.TTL / time.Second),
		"creation_time":      e.CreationTime,
		"expiration_time":    e.ExpirationTime,
		"last_updated_time":  e.LastUpdatedTime,
		"metadata":           md,
		"cidr_list":          nonNil(e.CIDRList),
		"token_bound_cidrs":  nonNil(e.TokenBoundCIDRs),
	}
}

// secretRef names one secret ID of one role in storage.
type secretRef struct {
	role string
	hmac string // lookup hash of the secret ID
}

func (s secretRef) key() string { return secretIDPrefix + s.role + "/" + s.hmac }

// refFor hashes secretID for role; check is the second hash kept in the
// entry.
func (b *backend) refFor(ctx context.Context, roleName, secretID string) (ref secretRef, check string, err error) {
	key, err := b.hmacKey(ctx)
	if err != nil {
		return secretRef{}, "", err
	}
	return secretRef{role: roleName, hmac: keyedHash(key, "secret_id", roleName, secretID)},
		keyedHash(key, "secret_id_check", roleName, secretID), nil
}

func (b *backend) accessorKey(ctx context.Context, accessor string) (string, error) {
	key, err := b.hmacKey(ctx)
	if err != nil {
		return "", err
	}
	return accessorPrefix + keyedHash(key, "accessor", accessor), nil
}

// getSecretID reads an entry; the caller holds its secret lock.
func (b *backend) getSecretID(ctx context.Context, ref secretRef) (*secretIDEntry, error) {
	raw, err := b.storage.Get(ctx, ref.key())
	if err != nil {
		return nil, wrapStorage("read secret ID", err)
	}
	if raw == nil {
		return nil, nil
	}
	var e secretIDEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("approle: decode secret ID: %w", err)
	}
	return &e, nil
}

func (b *backend) putSecretID(ctx context.Context, ref secretRef, e *secretIDEntry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("approle: encode secret ID: %w", err)
	}
	if err := b.storage.Put(ctx, ref.key(), raw); err != nil {
		return wrapStorage("write secret ID", err)
	}
	return nil
}

// removeSecretID deletes the accessor index, then the entry; the caller
// holds the secret lock.
func (b *backend) removeSecretID(ctx context.Context, ref secretRef, accessor string) error {
	if accessor != "" {
		ak, err := b.accessorKey(ctx, accessor)
		if err != nil {
			return err
		}
		if err := b.storage.Delete(ctx, ak); err != nil {
			return wrapStorage("delete secret ID accessor", err)
		}
	}
	if err := b.storage.Delete(ctx, ref.key()); err != nil {
		return wrapStorage("delete secret ID", err)
	}
	return nil
}

// hasAccessor reports whether the entry's accessor index still exists; a
// secret ID without one is half-deleted and no longer valid.
func (b *backend) hasAccessor(ctx context.Context, e *secretIDEntry) (bool, error) {
	ak, err := b.accessorKey(ctx, e.Accessor)
	if err != nil {
		return false, err
	}
	raw, err := b.storage.Get(ctx, ak)
	if err != nil {
		return false, wrapStorage("read secret ID accessor", err)
	}
	return raw != nil, nil
}

// createSecretID registers secretID against the role with the properties
// in f (metadata, cidr_list, token_bound_cidrs, num_uses, ttl).
func (b *backend) createSecretID(ctx context.Context, name, secretID string, f tokenfields.Fields) (*engines.Response, error) {
	if secretID == "" {
		return nil, engines.BadRequest("missing secret_id")
	}
	if len(secretID) > maxHMACInput {
		return nil, engines.BadRequest("secret_id is longer than maximum of %d bytes", maxHMACInput)
	}
	b.tidyMu.RLock()
	defer b.tidyMu.RUnlock()
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	r, err := b.getRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errRoleMissing(name)
	}
	if !r.BindSecretID {
		return nil, engines.BadRequest("bind_secret_id is not set on the role")
	}
	e, err := secretIDProperties(r, f)
	if err != nil {
		return nil, err
	}
	ref, check, err := b.refFor(ctx, name, secretID)
	if err != nil {
		return nil, err
	}
	e.Check = check
	if e.Accessor, err = newUUID(); err != nil {
		return nil, err
	}
	now := b.clock().UTC()
	e.CreationTime, e.LastUpdatedTime = now, now
	if e.TTL > 0 {
		e.ExpirationTime = now.Add(e.TTL)
	}

	sl := b.secretLock(ref.hmac)
	sl.Lock()
	defer sl.Unlock()
	existing, err := b.getSecretID(ctx, ref)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, engines.BadRequest("SecretID is already registered")
	}
	// The accessor index goes first: a secret ID without one is invalid, so
	// a crash between the writes leaves nothing usable behind.
	ak, err := b.accessorKey(ctx, e.Accessor)
	if err != nil {
		return nil, err
	}
	idx, err := json.Marshal(accessorEntry{Role: name, SecretIDHMAC: ref.hmac})
	if err != nil {
		return nil, fmt.Errorf("approle: encode accessor: %w", err)
	}
	if err := b.storage.Put(ctx, ak, idx); err != nil {
		return nil, wrapStorage("write secret ID accessor", err)
	}
	if err := b.putSecretID(ctx, ref, e); err != nil {
		return nil, err
	}
	return &engines.Response{Data: map[string]any{
		"secret_id":          secretID,
		"secret_id_accessor": e.Accessor,
		"secret_id_ttl":      int64(e.TTL / time.Second),
		"secret_id_num_uses": e.NumUses,
	}}, nil
}

// boundedCIDRs reads a secret ID's CIDR list from field, which must lie
// within the role's blocks; absent or empty gives nil.
func boundedCIDRs(f tokenfields.Fields, field string, roleBlocks []string, mismatch string) ([]string, error) {
	v, ok, err := f.Strings(field)
	if err != nil || !ok || len(v) == 0 {
		return nil, err
	}
	blocks, err := tokenfields.ParseCIDRs(field, v)
	if err != nil {
		return nil, err
	}
	if !tokenfields.CIDRSubset(blocks, roleBlocks) {
		return nil, engines.BadRequest(mismatch, roleBlocks, blocks)
	}
	return blocks, nil
}

// secretIDProperties reads a new secret ID's options, bounded by the
// role's, as Vault does.
func secretIDProperties(r *role, f tokenfields.Fields) (*secretIDEntry, error) {
	e := &secretIDEntry{NumUses: r.SecretIDNumUses, TTL: r.SecretIDTTL}
	var err error
	if e.CIDRList, err = boundedCIDRs(f, "cidr_list", r.SecretIDBoundCIDRs,
		"failed to verify subset relationship between CIDR blocks on the role %q and CIDR blocks on the secret ID %q"); err != nil {
		return nil, err
	}
	if e.TokenBoundCIDRs, err = boundedCIDRs(f, "token_bound_cidrs", r.TokenBoundCIDRs,
		"failed to verify subset relationship between the token CIDR blocks on the role %q and those on the secret ID %q"); err != nil {
		return nil, err
	}
	if n, ok, err := f.Int("num_uses"); err != nil {
		return nil, err
	} else if ok {
		if n < 0 {
			return nil, engines.BadRequest("num_uses cannot be negative")
		}
		if r.SecretIDNumUses > 0 && (n == 0 || n > r.SecretIDNumUses) {
			return nil, engines.BadRequest("num_uses cannot be higher than the role's secret_id_num_uses")
		}
		e.NumUses = n
	}
	if d, ok, err := f.Duration("ttl"); err != nil {
		return nil, err
	} else if ok {
		if d < 0 {
			return nil, engines.BadRequest("ttl cannot be negative")
		}
		if r.SecretIDTTL > 0 && (d == 0 || d > r.SecretIDTTL) {
			return nil, engines.BadRequest("ttl cannot be longer than the role's secret_id_ttl")
		}
		e.TTL = d
	}
	md, _, err := f.StringMap("metadata")
	if err != nil {
		return nil, err
	}
	e.Metadata = md
	return e, nil
}

// findSecretID locates the secret ID given in f for a lookup or destroy;
// the caller holds the role lock and gets the secret lock held.
func (b *backend) findSecretID(ctx context.Context, name string, f tokenfields.Fields) (ref secretRef, e *secretIDEntry, unlock func(), err error) {
	secretID, _, err := f.Str("secret_id")
	if err != nil {
		return secretRef{}, nil, nil, err
	}
	if secretID == "" {
		return secretRef{}, nil, nil, engines.BadRequest("missing secret_id")
	}
	if len(secretID) > maxHMACInput {
		return secretRef{}, nil, nil, engines.BadRequest("secret_id is longer than maximum of %d bytes", maxHMACInput)
	}
	r, err := b.getRole(ctx, name)
	if err != nil {
		return secretRef{}, nil, nil, err
	}
	if r == nil {
		return secretRef{}, nil, nil, errRoleMissing(name)
	}
	ref, check, err := b.refFor(ctx, name, secretID)
	if err != nil {
		return secretRef{}, nil, nil, err
	}
	sl := b.secretLock(ref.hmac)
	sl.Lock()
	e, err = b.getSecretID(ctx, ref)
	if err != nil {
		sl.Unlock()
		return secretRef{}, nil, nil, err
	}
	if e != nil && subtle.ConstantTimeCompare([]byte(check), []byte(e.Check)) != 1 {
		e = nil
	}
	return ref, e, sl.Unlock, nil
}

func (b *backend) lookupSecretID(ctx context.Context, name string, f tokenfields.Fields) (*engines.Response, error) {
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	_, e, unlock, err := b.findSecretID(ctx, name, f)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if e == nil || e.expired(b.clock()) {
		return nil, nil
	}
	ok, err := b.hasAccessor(ctx, e)
	if err != nil || !ok {
		return nil, err
	}
	return &engines.Response{Data: e.data()}, nil
}

func (b *backend) destroySecretID(ctx context.Context, name string, f tokenfields.Fields) error {
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	ref, e, unlock, err := b.findSecretID(ctx, name, f)
	if err != nil {
		return err
	}
	defer unlock()
	if e == nil {
		return nil
	}
	return b.removeSecretID(ctx, ref, e.Accessor)
}

// findAccessor resolves the secret_id_accessor in f for the role.
func (b *backend) findAccessor(ctx context.Context, name string, f tokenfields.Fields) (ref secretRef, accessor string, err error) {
	accessor, _, err = f.Str("secret_id_accessor")
	if err != nil {
		return secretRef{}, "", err
	}
	if accessor == "" {
		return secretRef{}, "", engines.BadRequest("missing secret_id_accessor")
	}
	r, err := b.getRole(ctx, name)
	if err != nil {
		return secretRef{}, "", err
	}
	if r == nil {
		return secretRef{}, "", errRoleMissing(name)
	}
	ak, err := b.accessorKey(ctx, accessor)
	if err != nil {
		return secretRef{}, "", err
	}
	raw, err := b.storage.Get(ctx, ak)
	if err != nil {
		return secretRef{}, "", wrapStorage("read secret ID accessor", err)
	}
	var ae accessorEntry
	if raw != nil {
		if err := json.Unmarshal(raw, &ae); err != nil {
			return secretRef{}, "", fmt.Errorf("approle: decode accessor: %w", err)
		}
	}
	if raw == nil || ae.Role != name {
		return secretRef{}, "", &engines.Error{Code: engines.CodeNotFound,
			Message: fmt.Sprintf("failed to find accessor entry for secret_id_accessor: %q", accessor)}
	}
	return secretRef{role: name, hmac: ae.SecretIDHMAC}, accessor, nil
}

func (b *backend) lookupAccessor(ctx context.Context, name string, f tokenfields.Fields) (*engines.Response, error) {
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	ref, _, err := b.findAccessor(ctx, name, f)
	if err != nil {
		return nil, err
	}
	sl := b.secretLock(ref.hmac)
	sl.Lock()
	defer sl.Unlock()
	e, err := b.getSecretID(ctx, ref)
	if err != nil || e == nil || e.expired(b.clock()) {
		return nil, err
	}
	return &engines.Response{Data: e.data()}, nil
}

func (b *backend) destroyAccessor(ctx context.Context, name string, f tokenfields.Fields) error {
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	ref, accessor, err := b.findAccessor(ctx, name, f)
	if err != nil {
		return err
	}
	sl := b.secretLock(ref.hmac)
	sl.Lock()
	defer sl.Unlock()
	return b.removeSecretID(ctx, ref, accessor)
}

// listSecretIDs lists the accessors of the role's secret IDs.
func (b *backend) listSecretIDs(ctx context.Context, name string) (*engines.Response, error) {
	lock := b.roleLock(name)
	lock.RLock()
	defer lock.RUnlock()
	r, err := b.getRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errRoleMissing(name)
	}
	hmacs, err := b.storage.List(ctx, secretIDPrefix+name+"/")
	if err != nil {
		return nil, wrapStorage("list secret IDs", err)
	}
	var accessors []string
	for _, h := range hmacs {
		if strings.HasSuffix(h, "/") {
			continue
		}
		ref := secretRef{role: name, hmac: h}
		sl := b.secretLock(h)
		sl.Lock()
		e, err := b.getSecretID(ctx, ref)
		sl.Unlock()
		if err != nil {
			return nil, err
		}
		if e != nil {
			accessors = append(accessors, e.Accessor)
		}
	}
	slices.Sort(accessors)
	return listResponse(accessors), nil
}

// flushSecretIDs deletes every secret ID of a role; the caller holds the
// role's write lock.
func (b *backend) flushSecretIDs(ctx context.Context, name string) error {
	hmacs, err := b.storage.List(ctx, secretIDPrefix+name+"/")
	if err != nil {
		return wrapStorage("list secret IDs", err)
	}
	for _, h := range hmacs {
		if strings.HasSuffix(h, "/") {
			continue
		}
		if err := b.dropSecretID(ctx, secretRef{role: name, hmac: h}, func(*secretIDEntry) bool { return true }); err != nil {
			return err
		}
	}
	return nil
}

// dropSecretID deletes the secret ID at ref (and its accessor) if drop
// says so, under its secret lock.
func (b *backend) dropSecretID(ctx context.Context, ref secretRef, drop func(*secretIDEntry) bool) error {
	sl := b.secretLock(ref.hmac)
	sl.Lock()
	defer sl.Unlock()
	e, err := b.getSecretID(ctx, ref)
	if err != nil || e == nil || !drop(e) {
		return err
	}
	return b.removeSecretID(ctx, ref, e.Accessor)
}

// tidy deletes expired secret IDs, secret IDs whose accessor is gone and
// accessors whose secret ID is gone.
func (b *backend) tidy(ctx context.Context) error {
	b.tidyMu.Lock()
	defer b.tidyMu.Unlock()
	now := b.clock()
	roles, err := b.storage.List(ctx, secretIDPrefix)
	if err != nil {
		return wrapStorage("list secret ID roles", err)
	}
	for _, dir := range roles {
		name := strings.TrimSuffix(dir, "/")
		lock := b.roleLock(name)
		lock.RLock()
		err := b.tidyRole(ctx, name, now)
		lock.RUnlock()
		if err != nil {
			return err
		}
	}
	accessors, err := b.storage.List(ctx, accessorPrefix)
	if err != nil {
		return wrapStorage("list accessors", err)
	}
	for _, a := range accessors {
		raw, err := b.storage.Get(ctx, accessorPrefix+a)
		if err != nil {
			return wrapStorage("read accessor", err)
		}
		var ae accessorEntry
		if raw == nil || json.Unmarshal(raw, &ae) != nil {
			continue
		}
		lock := b.roleLock(ae.Role)
		lock.RLock()
		sl := b.secretLock(ae.SecretIDHMAC)
		sl.Lock()
		e, err := b.getSecretID(ctx, secretRef{role: ae.Role, hmac: ae.SecretIDHMAC})
		if err == nil && e == nil {
			err = b.storage.Delete(ctx, accessorPrefix+a)
		}
		sl.Unlock()
		lock.RUnlock()
		if err != nil {
			return wrapStorage("tidy accessor", err)
		}
	}
	return nil
}

func (b *backend) tidyRole(ctx context.Context, name string, now time.Time) error {
	hmacs, err := b.storage.List(ctx, secretIDPrefix+name+"/")
	if err != nil {
		return wrapStorage("list secret IDs", err)
	}
	for _, h := range hmacs {
		if strings.HasSuffix(h, "/") {
			continue
		}
		err := b.dropSecretID(ctx, secretRef{role: name, hmac: h}, func(e *secretIDEntry) bool {
			if e.expired(now) {
				return true
			}
			ok, err := b.hasAccessor(ctx, e)
			return err == nil && !ok
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// cloneMetadata copies a secret ID's metadata for a login's auth block.
func cloneMetadata(md map[string]string) map[string]string {
	if md == nil {
		return map[string]string{}
	}
	return maps.Clone(md)
}
