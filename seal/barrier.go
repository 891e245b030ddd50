package seal

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// reloadTimeout bounds the keyring reload Decrypt may do on an unknown
// term, since Decrypt takes no context (Get uses its caller's).
const reloadTimeout = 10 * time.Second

// Barrier is the encrypted view of Storage: every value written through it
// is sealed with the keyring's active term, AAD = its path. It starts
// sealed; Initialize creates the keys, Unseal loads them, Seal zeroes them.
//
// All methods are safe for concurrent use. Seal may race with Encrypt,
// Decrypt, Get and Put: those hold mu for reading while they touch key
// material, Seal holds it for writing while it zeroes, so no key is used
// after it is zeroed.
type Barrier struct {
	store  Storage
	logger *slog.Logger

	// mu guards the key material. It is never held across storage I/O.
	mu sync.RWMutex
	// sealed changes only under mu (for writing); Sealed reads it
	// without the lock, as a hint: what uses a key checks it again
	// under mu.
	sealed   atomic.Bool
	rootKey  []byte
	rootAEAD cipher.AEAD
	keys     *keyring

	// keyringMu serialises whatever reads or writes the barrier's own
	// records: Initialize, Unseal, Rotate and the keyring reload. It is
	// held across storage I/O and taken before mu, never after.
	keyringMu sync.Mutex

	// progressMu guards the unseal shares submitted so far.
	progressMu sync.Mutex
	parts      [][]byte
	nonce      string

	// initialized caches a true Initialized (it cannot become false).
	initialized atomic.Bool

	// pending are the records a joining node was sent by the leader, used
	// until its own store holds them (see SetPendingRecords).
	pending atomic.Pointer[Records]
}

// NewBarrier returns a sealed barrier over store. A nil logger discards.
func NewBarrier(store Storage, logger *slog.Logger) *Barrier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Barrier{store: store, logger: logger}
	b.sealed.Store(true)
	return b
}

// Sealed reports whether the barrier is sealed.
func (b *Barrier) Sealed() bool { return b.sealed.Load() }

// Seal zeroes the root key and every keyring key and drops their AEADs;
// afterwards Get, Put, List, Delete, Encrypt and Decrypt return ErrSealed.
// It waits for in-flight encryptions and decryptions, never for I/O.
// Sealing a sealed barrier does nothing.
func (b *Barrier) Seal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed.Load() {
		return
	}
	b.keys.zero()
	b.keys = nil
	clear(b.rootKey)
	b.rootKey = nil
	b.rootAEAD = nil
	b.sealed.Store(true)
	b.logger.Info("barrier sealed")
}

// Encrypt seals plaintext for storage at path with the active term.
func (b *Barrier) Encrypt(path string, plaintext []byte) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed.Load() {
		return nil, ErrSealed
	}
	t := b.keys.active
	t.encryptions.Add(1)
	return sealBlob(t.aead, t.number, path, plaintext), nil
}

// Decrypt opens a blob read from path. It fails, with an error wrapping
// ErrDecrypt, on a blob that is short, of an unknown version or term,
// altered in any bit, or stored at another path. On an unknown term it
// first reloads the keyring from storage once (another node may have
// rotated), waiting at most reloadTimeout.
func (b *Barrier) Decrypt(path string, blob []byte) ([]byte, error) {
	plaintext, err := b.open(path, blob)
	if !errors.Is(err, errUnknownTerm) {
		return plaintext, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	return b.openReloading(ctx, path, blob, err)
}

// errUnknownTerm is open's error for a blob whose term the keyring lacks.
var errUnknownTerm = fmt.Errorf("%w: unknown key term", ErrDecrypt)

// open decrypts blob with the keyring as it is.
func (b *Barrier) open(path string, blob []byte) ([]byte, error) {
	n, nonce, payload, err := parseBlob(blob)
	if err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed.Load() {
		return nil, ErrSealed
	}
	t, ok := b.keys.terms[n]
	if !ok {
		return nil, errUnknownTerm
	}
	return openPayload(t.aead, nonce, payload, path)
}

// openReloading reloads the keyring and retries a blob open failed on
// with errUnknownTerm.
func (b *Barrier) openReloading(ctx context.Context, path string, blob []byte, openErr error) ([]byte, error) {
	if err := b.reloadFor(ctx, blob); err != nil {
		b.logger.Warn("keyring reload for unknown term failed", "error", err)
		return nil, openErr
	}
	return b.open(path, blob)
}

// Get reads and decrypts key; (nil, nil) when absent.
func (b *Barrier) Get(ctx context.Context, key string) ([]byte, error) {
	if err := b.usable(key); err != nil {
		return nil, err
	}
	blob, err := b.store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("seal: read: %w", err)
	}
	if blob == nil {
		return nil, nil
	}
	plaintext, err := b.open(key, blob)
	if errors.Is(err, errUnknownTerm) {
		return b.openReloading(ctx, key, blob, err)
	}
	return plaintext, err
}

// Put encrypts value for key and writes it.
func (b *Barrier) Put(ctx context.Context, key string, value []byte) error {
	if reserved(key) {
		return fmt.Errorf("%w: %s", ErrReservedPath, key)
	}
	blob, err := b.Encrypt(key, value)
	if err != nil {
		return err
	}
	if err := b.store.Put(ctx, key, blob); err != nil {
		return fmt.Errorf("seal: write: %w", err)
	}
	return nil
}

// List lists the immediate children of prefix (names are not encrypted).
func (b *Barrier) List(ctx context.Context, prefix string) ([]string, error) {
	if b.Sealed() {
		return nil, ErrSealed
	}
	keys, err := b.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("seal: list: %w", err)
	}
	return keys, nil
}

// Delete removes key.
func (b *Barrier) Delete(ctx context.Context, key string) error {
	if err := b.usable(key); err != nil {
		return err
	}
	if err := b.store.Delete(ctx, key); err != nil {
		return fmt.Errorf("seal: delete: %w", err)
	}
	return nil
}

// usable fails fast, before any I/O, for a reserved key or a sealed barrier.
func (b *Barrier) usable(key string) error {
	if reserved(key) {
		return fmt.Errorf("%w: %s", ErrReservedPath, key)
	}
	if b.Sealed() {
		return ErrSealed
	}
	return nil
}

// KeyStatus describes the active keyring term.
type KeyStatus struct {
	Term        uint32
	InstallTime time.Time
	// Encryptions counts values sealed with the term by this node since
	// it was unsealed.
	Encryptions uint64
}

// KeyStatus reports the active term; ErrSealed when sealed.
func (b *Barrier) KeyStatus() (*KeyStatus, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed.Load() {
		return nil, ErrSealed
	}
	t := b.keys.active
	return &KeyStatus{Term: t.number, InstallTime: t.installed, Encryptions: t.encryptions.Load()}, nil
}

// PrefixDeleter is the optional part of Storage that removes a whole
// key prefix in one write (cluster.Node has it).
type PrefixDeleter interface {
	DeletePrefix(ctx context.Context, prefix string) error
}

// DeletePrefix removes every key under prefix in one write when the store
// can, else key by key. A prefix covering the barrier's own records
// ("core/" or shorter) is refused.
func (b *Barrier) DeletePrefix(ctx context.Context, prefix string) error {
	if err := b.usable(prefix); err != nil {
		return err
	}
	if prefix == "" || strings.HasPrefix("core/", prefix) || reserved(prefix) {
		return fmt.Errorf("%w: %q", ErrReservedPath, prefix)
	}
	pd, ok := b.store.(PrefixDeleter)
	if !ok {
		return deleteTree(ctx, b.store, prefix)
	}
	if err := pd.DeletePrefix(ctx, prefix); err != nil {
		return fmt.Errorf("seal: delete prefix: %w", err)
	}
	return nil
}

// deleteTree deletes every key under prefix, depth first.
func deleteTree(ctx context.Context, s Storage, prefix string) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("seal: list: %w", err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			if err := deleteTree(ctx, s, prefix+k); err != nil {
				return err
			}
			continue
		}
		if err := s.Delete(ctx, prefix+k); err != nil {
			return fmt.Errorf("seal: delete: %w", err)
		}
	}
	return nil
}
