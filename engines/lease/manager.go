package lease

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Storage is the barrier: values encrypted, keys not. All methods are safe
// for concurrent use and linearizable (the Raft-backed barrier on the
// active node).
type Storage interface {
	// Get returns (nil, nil) when key is absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the immediate children of prefix, Vault style ("a", "b/").
	List(ctx context.Context, prefix string) ([]string, error)
	// Batch writes puts, then deletes, atomically (one Raft entry).
	Batch(ctx context.Context, puts map[string][]byte, deletes []string) error
	// Scan returns up to limit whole keys under prefix that sort after
	// after, in order.
	Scan(ctx context.Context, prefix, after string, limit int) ([]string, error)
}

// Revoker reaches the backend that issued a lease. The manager calls it
// concurrently, at most PerMountConcurrency revocations at once per mount.
// Its errors are stored in Entry.LastError and logged, so they must not
// carry secrets.
type Revoker interface {
	// Revoke revokes what e stands for. It is idempotent: revoking what is
	// already gone returns nil.
	Revoke(ctx context.Context, e *Entry) error
	// Renew extends what e stands for until newExpire (already capped); an
	// error refuses the renewal.
	Renew(ctx context.Context, e *Entry, newExpire time.Time) error
}

// Config describes a Manager. Storage and Revoker are required.
type Config struct {
	Storage Storage
	Revoker Revoker
	// Logger is the operational log; nil discards.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// MaxAttempts is how many failed revocations make a lease irrevocable
	// (kept, listed, never lost); default 6.
	MaxAttempts int
	// Backoff is the wait before retry number attempt+1 after attempt
	// failures; default min(2^attempt s, 5m) with ±20% jitter.
	Backoff func(attempt int) time.Duration
	// PerMountConcurrency bounds concurrent revocations per mount; default 16.
	PerMountConcurrency int
	// MaxInFlight bounds the expiry loop's revocations in flight over all
	// mounts (and so its goroutines); default 256.
	MaxInFlight int
	// ScanPage is how many index keys one Scan reads; default 256.
	ScanPage int
	// Interval is the longest wait between two scans of the time index;
	// default and maximum 1 s.
	Interval time.Duration
	// RevokeTimeout bounds one revocation by the expiry loop; default 1 min.
	RevokeTimeout time.Duration
}

// Manager keeps leases in Storage and revokes them through the Revoker.
// All methods are safe for concurrent use.
//
// Every read-modify-write of a lease (renew, revoke, the expiry loop's
// revocation, tidy's repair) holds that lease's lock (locks) and re-reads
// the record under it, so two of them never interleave on one node.
type Manager struct {
	st            Storage
	rv            Revoker
	log           *slog.Logger
	now           func() time.Time
	maxAttempts   int
	backoff       func(int) time.Duration
	perMount      int
	page          int
	interval      time.Duration
	revokeTimeout time.Duration

	locks idLocks
	// slots bounds the expiry loop's revocations in flight.
	slots chan struct{}
	// runMu serialises Run: a node that regains leadership starts after
	// the previous loop has wound down.
	runMu sync.Mutex

	mu sync.Mutex
	// mounts holds each mount's revocation semaphore.
	mounts map[string]chan struct{}
	// inflight holds the hashes of the leases the expiry loop is revoking.
	inflight map[string]struct{}
	// passes counts the expiry loop's completed passes (tests wait on it).
	passes atomic.Int64
}

// New returns a Manager over cfg.Storage.
func New(cfg Config) *Manager {
	m := &Manager{
		st:            cfg.Storage,
		rv:            cfg.Revoker,
		log:           cfg.Logger,
		now:           cfg.Clock,
		maxAttempts:   cfg.MaxAttempts,
		backoff:       cfg.Backoff,
		perMount:      cfg.PerMountConcurrency,
		page:          cfg.ScanPage,
		interval:      cfg.Interval,
		revokeTimeout: cfg.RevokeTimeout,
		mounts:        map[string]chan struct{}{},
		inflight:      map[string]struct{}{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.maxAttempts <= 0 {
		m.maxAttempts = 6
	}
	if m.backoff == nil {
		m.backoff = defaultBackoff
	}
	if m.perMount <= 0 {
		m.perMount = 16
	}
	if m.page <= 0 {
		m.page = 256
	}
	if m.interval <= 0 || m.interval > time.Second {
		m.interval = time.Second
	}
	if m.revokeTimeout <= 0 {
		m.revokeTimeout = time.Minute
	}
	inFlight := cfg.MaxInFlight
	if inFlight <= 0 {
		inFlight = 256
	}
	m.slots = make(chan struct{}, inFlight)
	return m
}

// defaultBackoff is min(2^attempt s, 5m) with ±20% jitter.
func defaultBackoff(attempt int) time.Duration {
	d := 5 * time.Minute
	if attempt < 9 {
		d = min(time.Second<<max(attempt, 0), d)
	}
	jitter := (rand.Float64()*0.4 - 0.2) * float64(d)
	return d + time.Duration(jitter)
}

// load reads lease id's record; (nil, nil) when absent.
func (m *Manager) load(ctx context.Context, id string) (*Entry, error) {
	raw, err := m.st.Get(ctx, recordKey(id))
	if err != nil {
		return nil, fmt.Errorf("lease: read: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	e, err := decodeEntry(raw)
	if err != nil {
		return nil, err
	}
	if e.LeaseID != id {
		return nil, fmt.Errorf("lease: read: %w: record names another lease", ErrInvalid)
	}
	return e, nil
}

// save writes e's record and its index entries, and deletes the entries
// of before it no longer has, in one Batch.
func (m *Manager) save(ctx context.Context, before []string, e *Entry) error {
	rec, err := encodeEntry(e)
	if err != nil {
		return err
	}
	want := indexKeys(e)
	puts := make(map[string][]byte, 1+len(want))
	puts[recordKey(e.LeaseID)] = rec
	for _, k := range want {
		puts[k] = []byte(e.LeaseID)
	}
	var deletes []string
	for _, k := range before {
		if !slices.Contains(want, k) {
			deletes = append(deletes, k)
		}
	}
	if err := m.st.Batch(ctx, puts, deletes); err != nil {
		return fmt.Errorf("lease: write: %w", err)
	}
	return nil
}

// remove deletes e's record and every index entry it may have, in one
// Batch.
func (m *Manager) remove(ctx context.Context, e *Entry) error {
	deletes := append([]string{recordKey(e.LeaseID)}, allIndexKeys(e)...)
	if err := m.st.Batch(ctx, nil, deletes); err != nil {
		return fmt.Errorf("lease: delete: %w", err)
	}
	return nil
}

// dropKey deletes one index key that points at nothing (or at a record
// that no longer wants it).
func (m *Manager) dropKey(ctx context.Context, key string) error {
	if err := m.st.Batch(ctx, nil, []string{key}); err != nil {
		return fmt.Errorf("lease: delete index entry: %w", err)
	}
	return nil
}

// callRevoke asks the backend to revoke e, holding a slot of e's mount's
// semaphore; timeout, if not zero, bounds the backend's call (not the wait
// for a slot).
func (m *Manager) callRevoke(ctx context.Context, e *Entry, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sem := m.mountSem(e)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-sem }()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c := *e
	return m.rv.Revoke(ctx, &c)
}

// mountSem returns the revocation semaphore of e's mount.
func (m *Manager) mountSem(e *Entry) chan struct{} {
	key := e.MountAccessor
	if key == "" {
		key = "path:" + e.MountPath
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sem, ok := m.mounts[key]
	if !ok {
		sem = make(chan struct{}, m.perMount)
		m.mounts[key] = sem
	}
	return sem
}

// failed records a failed revocation of e: Attempts and LastError, and
// either a retry after Backoff (the time-index entry moves) or, after
// MaxAttempts, the irrevocable mark. The lease is expired from now on (a
// lease whose token was revoked is cut short), so it cannot be renewed.
func (m *Manager) failed(ctx context.Context, e *Entry, cause error) error {
	before := indexKeys(e)
	now := m.now()
	e.Attempts++
	e.LastError = safeText(cause)
	if e.ExpireTime.After(now) {
		e.ExpireTime = now
	}
	if e.Attempts >= m.maxAttempts {
		e.Irrevocable = true
		e.NextAttempt = time.Time{}
		m.log.Error("lease revocation failed; giving up, the lease is irrevocable",
			"lease_id", e.LeaseID, "attempts", e.Attempts, "error", e.LastError)
	} else {
		e.NextAttempt = now.Add(max(m.backoff(e.Attempts), 0))
		m.log.Warn("lease revocation failed; will retry",
			"lease_id", e.LeaseID, "attempts", e.Attempts, "retry_at", e.NextAttempt, "error", e.LastError)
	}
	return m.save(ctx, before, e)
}

// scanAll calls fn for every key under prefix, in order, a page at a time.
func (m *Manager) scanAll(ctx context.Context, prefix string, fn func(key string) error) error {
	after := ""
	for {
		keys, err := m.st.Scan(ctx, prefix, after, m.page)
		if err != nil {
			return fmt.Errorf("lease: scan: %w", err)
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(keys) < m.page {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

// claim marks lease hash h as in flight in the expiry loop; false if it
// already is.
func (m *Manager) claim(h string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.inflight[h]; ok {
		return false
	}
	m.inflight[h] = struct{}{}
	return true
}

func (m *Manager) unclaim(h string) {
	m.mu.Lock()
	delete(m.inflight, h)
	m.mu.Unlock()
}
