package system

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"coffer/seal"
)

// watchedPrefixes are the replicated records whose change a node must
// reload or forget: mount tables, policies, the keyring, token records
// (and everything, after a snapshot restore).
var watchedPrefixes = []string{"core/mounts", "core/auth", "core/policy/", "core/keyring", tokenView}

// tokenView is where the token store keeps its records; the observer tells
// it of every change there (token.Store.Invalidate).
const tokenView = "core/token/"

// refreshState counts replicated changes (bumped on Raft's FSM goroutine,
// before the applied index moves) and what has been reloaded since, so a
// request that passed its read barrier reloads what changed before it is
// served: a mount or policy change is visible on every node as soon as it
// is acknowledged.
type refreshState struct {
	mounts, auth, keyring, restored atomic.Uint64
	// loaded* are the generations last reloaded; guarded by mu.
	mu                                               sync.Mutex
	loadedMounts, loadedAuth, loadedKeys, loadedRest uint64
}

func (r *refreshState) reset() {
	r.mu.Lock()
	r.loadedMounts, r.loadedAuth, r.loadedKeys, r.loadedRest = r.mounts.Load(), r.auth.Load(), r.keyring.Load(), r.restored.Load()
	r.mu.Unlock()
}

// observe is the FSM observer: cheap, never blocking.
func (s *System) observe(key string) {
	if rest, ok := strings.CutPrefix(key, tokenView); ok {
		s.tokens.Invalidate(rest)
		return
	}
	if strings.HasPrefix(tokenView, key) {
		// A restore ("") or a delete-prefix above the token records.
		s.tokens.Invalidate("")
	}
	switch {
	case key == "" || key == "core/":
		s.refresh.restored.Add(1)
		s.refresh.mounts.Add(1)
		s.refresh.auth.Add(1)
		s.policies.reset()
		go s.reloadAfterRestore()
	case key == "core/mounts":
		s.refresh.mounts.Add(1)
	case key == "core/auth":
		s.refresh.auth.Add(1)
	case key == "core/keyring":
		// Another node rotated: new writes here must use the new term.
		s.refresh.keyring.Add(1)
	case strings.HasPrefix(key, "core/policy/"):
		s.policies.invalidate(strings.TrimPrefix(key, "core/policy/"))
	}
}

// reloadAfterRestore reloads at once after a snapshot restore, rather than
// at the next request, so a node whose keys no longer open the data seals
// straight away.
func (s *System) reloadAfterRestore() {
	if !s.active.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bctx, err := s.readyBarrier(ctx)
	if err != nil {
		return
	}
	if err := s.reloadChanged(bctx); errors.Is(err, errReloadSeal) {
		s.logger.Error("the restored data does not open with this node's keys; sealing")
		s.Seal()
	}
}

// errReloadSeal: after a restore the node's keys no longer open the data.
var errReloadSeal = errors.New("system: the restored data was made with other keys; sealing")

// reloadChanged reloads what changed since the last reload. ctx has passed
// the read barrier, so the reload sees at least the changes counted.
func (s *System) reloadChanged(ctx context.Context) error {
	r := &s.refresh
	m, a, k, rs := r.mounts.Load(), r.auth.Load(), r.keyring.Load(), r.restored.Load()
	r.mu.Lock()
	if m == r.loadedMounts && a == r.loadedAuth && k == r.loadedKeys && rs == r.loadedRest {
		r.mu.Unlock()
		return nil
	}
	defer r.mu.Unlock()
	if rs != r.loadedRest {
		if err := s.barrier.ReloadKeyring(ctx); err != nil {
			if errors.Is(err, seal.ErrDecrypt) {
				return errReloadSeal
			}
			return err
		}
		if err := s.tokens.Load(ctx); err != nil {
			return err
		}
		r.loadedRest = rs
	}
	if k != r.loadedKeys {
		if err := s.barrier.ReloadKeyring(ctx); err != nil {
			return err
		}
		r.loadedKeys = k
	}
	if m != r.loadedMounts {
		if err := s.router.Load(ctx); err != nil {
			return err
		}
		r.loadedMounts = m
	}
	if a != r.loadedAuth {
		if err := s.authRouter.Load(ctx); err != nil {
			return err
		}
		r.loadedAuth = a
	}
	return nil
}
