// Package token is Coffer's token store, mounted at auth/token/: service
// tokens kept only by a salted HMAC of their ID, with TTLs, renewal, use
// limits, parent/child trees, accessors, roles and tidy.
package token

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"coffer/engines"
)

// Config describes a token store.
type Config struct {
	// Storage is the store's private view of the barrier; every key the
	// store writes lives under it.
	Storage engines.Storage
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// DefaultTTL and MaxTTL are the system defaults for tokens; zero means
	// 768h each, as in Vault.
	DefaultTTL, MaxTTL time.Duration
	Logger             *slog.Logger
	// HasSudo reports whether te holds the sudo capability on path (the
	// full request path, "auth/token/create"). The create endpoints ask it
	// before honouring no_parent, id, period and policies beyond the
	// caller's own. Nil means only root tokens have sudo. The sudo-only
	// paths (SudoPaths) are checked by the caller before HandleRequest.
	HasSudo func(ctx context.Context, te *engines.TokenEntry, path string) bool
	// OnRevoke is told, before a token's record is deleted (revocation,
	// expiry, tidy), the accessor of the token going away, so the leases
	// it created go with it. Nil: nothing.
	OnRevoke func(ctx context.Context, accessor string)
}

// Store is the token store. All methods are safe for concurrent use.
//
// Every read-modify-write of a token record holds that record's shard
// lock (lockFor) and re-reads the record under it, so a use, a renewal and
// a revocation of the same token are serialised; Lookup takes no lock.
type Store struct {
	storage    engines.Storage
	clock      func() time.Time
	defaultTTL time.Duration
	maxTTL     time.Duration
	logger     *slog.Logger
	hasSudo    func(ctx context.Context, te *engines.TokenEntry, path string) bool
	onRevoke   func(ctx context.Context, accessor string)

	// mu guards keys; keys is nil while sealed.
	mu   sync.RWMutex
	keys *keyring

	locks [lockShards]sync.Mutex

	// cache keeps opened records for Lookup; see recordCache.
	cache recordCache

	// bgMu guards bgCtx and bgCancel, and orders tidyWG.Add (handleTidy)
	// before tidyWG.Wait (Reset). bgCtx lives from Load to Reset: the
	// background work a request starts (the manual tidy) runs under it,
	// so sealing stops that work and waits for it.
	bgMu     sync.Mutex
	bgCtx    context.Context
	bgCancel context.CancelFunc
	tidying  atomic.Bool
	tidyWG   sync.WaitGroup
}

var (
	_ engines.Backend          = (*Store)(nil)
	_ engines.PathsSudo        = (*Store)(nil)
	_ engines.TokenCreator     = (*Store)(nil)
	_ engines.ExistenceChecker = (*Store)(nil)
)

// Storage layout, all under Config.Storage.
const (
	saltKey        = "salt"
	idPrefix       = "id/"       // id/<mac(id)> -> record
	accessorPrefix = "accessor/" // accessor/<mac(accessor)> -> <mac(id)>
	parentPrefix   = "parent/"   // parent/<mac(parent accessor)>/<mac(child accessor)> -> <mac(child id)>
	rolePrefix     = "roles/"    // roles/<name> -> role
)

const (
	systemDefaultTTL = 768 * time.Hour
	saltBytes        = 32
	lockShards       = 256
	// maxIDLength bounds what Lookup will hash; longer strings are no token.
	maxIDLength = 512
)

// The package's sentinel errors.
var (
	// ErrUsesExhausted is returned by Use when a token has no use left (or
	// is gone). It reaches the client as a plain 403, like any bad token.
	ErrUsesExhausted = &engines.Error{Code: engines.CodePermissionDenied, Message: "permission denied"}

	errCorrupt     = errors.New("token: corrupt record")
	errNoEntry     = errors.New("token: nil token entry")
	errEmptyPrefix = errors.New("token: empty path prefix")
)

// New returns a store over cfg.Storage; Load must run (after unseal)
// before any other method.
func New(cfg Config) *Store {
	s := &Store{
		storage:    cfg.Storage,
		clock:      cfg.Clock,
		defaultTTL: cfg.DefaultTTL,
		maxTTL:     cfg.MaxTTL,
		logger:     cfg.Logger,
		hasSudo:    cfg.HasSudo,
		onRevoke:   cfg.OnRevoke,
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.defaultTTL <= 0 {
		s.defaultTTL = systemDefaultTTL
	}
	if s.maxTTL <= 0 {
		s.maxTTL = systemDefaultTTL
	}
	if s.defaultTTL > s.maxTTL {
		s.defaultTTL = s.maxTTL
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// Load reads the HMAC salt, creating it (32 random bytes) on first use.
// Called at unseal.
func (s *Store) Load(ctx context.Context) error {
	salt, err := s.storage.Get(ctx, saltKey)
	if err != nil {
		return fmt.Errorf("token: read salt: %w", err)
	}
	if salt == nil {
		salt = make([]byte, saltBytes)
		if _, err := rand.Read(salt); err != nil {
			return fmt.Errorf("token: make salt: %w", err)
		}
		if err := s.storage.Put(ctx, saltKey, salt); err != nil {
			clear(salt)
			return fmt.Errorf("token: write salt: %w", err)
		}
	}
	if len(salt) != saltBytes {
		clear(salt)
		return fmt.Errorf("token: salt: %w", errCorrupt)
	}
	kr, err := newKeyring(salt)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.keys
	s.keys = kr
	s.mu.Unlock()
	old.zero()
	s.cache.purge()
	s.bgMu.Lock()
	if s.bgCtx == nil {
		s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	}
	s.bgMu.Unlock()
	return nil
}

// Reset stops the store's background work (a tidy started through
// auth/token/tidy), waits for it to return, then zeroes and forgets the
// salt; called when the node seals. Every method fails with
// engines.ErrSealed until the next Load.
func (s *Store) Reset() {
	s.bgMu.Lock()
	if s.bgCancel != nil {
		s.bgCancel()
	}
	s.bgCtx, s.bgCancel = nil, nil
	s.bgMu.Unlock()
	s.tidyWG.Wait()

	s.mu.Lock()
	old := s.keys
	s.keys = nil
	s.mu.Unlock()
	old.zero()
	s.cache.purge()
}

// keyring is the key material derived from the salt.
type keyring struct {
	salt []byte
	// macs pools keyed HMAC-SHA-256 states (macState): Reset restores the
	// keyed state without hashing the key again, and the buffers spare
	// the per-request hash its allocations. Pooled states hold key-derived
	// pads that cannot be cleared; they are dropped with the keyring.
	macs sync.Pool
	// fields seals the accessor and parent inside each record, so a
	// storage dump names no accessor either.
	fields cipher.AEAD
}

type macState struct {
	h   hash.Hash
	in  []byte
	out [sha256.Size]byte
}

func newKeyring(salt []byte) (*keyring, error) {
	k := &keyring{salt: salt}
	k.macs.New = func() any { return &macState{h: hmac.New(sha256.New, k.salt)} }
	fk := k.sum("fields", "")
	defer clear(fk[:])
	block, err := aes.NewCipher(fk[:])
	if err != nil {
		return nil, fmt.Errorf("token: field cipher: %w", err)
	}
	if k.fields, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("token: field cipher: %w", err)
	}
	return k, nil
}

// zero clears the salt. The AES key schedule inside fields cannot be
// reached to clear; dropping it is the best Go allows.
func (k *keyring) zero() {
	if k != nil {
		clear(k.salt)
	}
}

// sum is HMAC-SHA-256 of label‖0‖value under the salt. The input (a
// token ID, say) does not outlive the call in the pooled buffer.
func (k *keyring) sum(label, value string) [sha256.Size]byte {
	st := k.macs.Get().(*macState)
	st.in = append(append(append(st.in[:0], label...), 0), value...)
	st.h.Reset()
	st.h.Write(st.in)
	st.h.Sum(st.out[:0])
	out := st.out
	clear(st.in)
	k.macs.Put(st)
	return out
}

// mac computes keyring.sum under the current salt, or fails if sealed.
// The read lock keeps Reset from zeroing the salt mid-hash.
func (s *Store) mac(label, value string) ([32]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.keys == nil {
		return [32]byte{}, engines.ErrSealed
	}
	return s.keys.sum(label, value), nil
}

// idKey is a token ID's storage key: the hex of a keyed hash.
func (s *Store) idKey(id string) (string, error) {
	sum, err := s.mac("id", id)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}

// idCheck is a second, independent keyed hash of a token ID, kept in the
// record and compared in constant time on lookup.
func (s *Store) idCheck(id string) ([]byte, error) {
	sum, err := s.mac("check", id)
	if err != nil {
		return nil, err
	}
	return sum[:], nil
}

// accessorKey is the keyed hash naming an accessor in the indexes.
func (s *Store) accessorKey(accessor string) (string, error) {
	sum, err := s.mac("accessor", accessor)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}

func (s *Store) cipher() (cipher.AEAD, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.keys == nil {
		return nil, engines.ErrSealed
	}
	return s.keys.fields, nil
}

// lockFor returns the shard lock of a record key (hex).
func (s *Store) lockFor(key string) *sync.Mutex {
	var b [1]byte
	if len(key) >= 2 {
		_, _ = hex.Decode(b[:], []byte(key[:2]))
	}
	return &s.locks[b[0]]
}

func (s *Store) sudo(ctx context.Context, te *engines.TokenEntry, path string) bool {
	if te.IsRoot() {
		return true
	}
	return s.hasSudo != nil && s.hasSudo(ctx, te, path)
}

func (s *Store) now() time.Time { return s.clock().UTC() }
