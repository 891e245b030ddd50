package engines

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Authenticator resolves a client token to what it grants. The full token
// store (TTLs, children, roles) arrives with its own issue and will
// implement this interface; until then TokenStore holds root tokens.
type Authenticator interface {
	// Lookup returns the entry for token, or (nil, nil) if the token is
	// unknown or expired.
	Lookup(ctx context.Context, token string) (*TokenEntry, error)
}

const (
	tokenSaltKey   = "core/token-salt"
	tokenPrefix    = "core/tokens/"
	tokenIDBytes   = 24
	tokenIDVersion = "hvs."
)

// TokenStore keeps tokens in storage by the salted HMAC of their ID. The
// salt is random, created once and kept behind the barrier, so a storage
// dump yields neither a token nor a way to test guesses offline.
type TokenStore struct {
	storage Storage
	clock   func() time.Time

	mu   sync.RWMutex
	salt []byte
}

var _ Authenticator = (*TokenStore)(nil)

// storedRoot is a token entry as stored, with the keyed hash of the full
// token ID, compared in constant time on lookup so a hash-prefix collision
// can never authenticate.
type storedRoot struct {
	TokenEntry
	Check string `json:"check"`
}

// NewTokenStore returns a token store over storage; Load must run after
// unseal before use.
func NewTokenStore(storage Storage) *TokenStore {
	return &TokenStore{storage: storage, clock: time.Now}
}

// Load reads (or on first use creates) the salt.
func (s *TokenStore) Load(ctx context.Context) error {
	salt, err := s.storage.Get(ctx, tokenSaltKey)
	if err != nil {
		return fmt.Errorf("engines: read token salt: %w", err)
	}
	if salt == nil {
		salt = make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return fmt.Errorf("engines: make token salt: %w", err)
		}
		if err := s.storage.Put(ctx, tokenSaltKey, salt); err != nil {
			return fmt.Errorf("engines: write token salt: %w", err)
		}
	}
	s.mu.Lock()
	s.salt = salt
	s.mu.Unlock()
	return nil
}

// Reset forgets the salt; called when the node seals.
func (s *TokenStore) Reset() {
	s.mu.Lock()
	clear(s.salt)
	s.salt = nil
	s.mu.Unlock()
}

func (s *TokenStore) hash(label, id string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.salt == nil {
		return "", ErrSealed
	}
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// NewTokenID returns a fresh random token ID in Vault's service-token shape.
func NewTokenID() (string, error) {
	b := make([]byte, tokenIDBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("engines: make token: %w", err)
	}
	return tokenIDVersion + base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateRoot stores a root token and returns its ID. id may name the token
// (the -dev-root-token-id flag); empty means a fresh random one.
func (s *TokenStore) CreateRoot(ctx context.Context, id string) (string, error) {
	if id == "" {
		var err error
		if id, err = NewTokenID(); err != nil {
			return "", err
		}
	}
	key, err := s.hash("lookup", id)
	if err != nil {
		return "", err
	}
	check, err := s.hash("check", id)
	if err != nil {
		return "", err
	}
	accessor, err := NewTokenID()
	if err != nil {
		return "", err
	}
	e := storedRoot{TokenEntry: TokenEntry{
		Accessor:     strings.TrimPrefix(accessor, tokenIDVersion),
		Policies:     []string{"root"},
		DisplayName:  "root",
		CreationTime: s.clock().UTC(),
	}, Check: check}
	raw, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("engines: encode token: %w", err)
	}
	if err := s.storage.Put(ctx, tokenPrefix+key, raw); err != nil {
		return "", fmt.Errorf("engines: store token: %w", err)
	}
	return id, nil
}

// Lookup implements Authenticator.
func (s *TokenStore) Lookup(ctx context.Context, token string) (*TokenEntry, error) {
	if token == "" || len(token) > 256 {
		return nil, nil
	}
	key, err := s.hash("lookup", token)
	if err != nil {
		return nil, err
	}
	raw, err := s.storage.Get(ctx, tokenPrefix+key)
	if err != nil {
		return nil, fmt.Errorf("engines: read token: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	var e storedRoot
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("engines: decode token: %w", err)
	}
	check, err := s.hash("check", token)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(check), []byte(e.Check)) != 1 {
		return nil, nil
	}
	if e.TTL > 0 && s.clock().After(e.CreationTime.Add(e.TTL)) {
		return nil, nil
	}
	return &e.TokenEntry, nil
}
