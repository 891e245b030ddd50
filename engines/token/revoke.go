package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"coffer/engines"
)

// Revoke revokes the token with this ID and its whole child tree. An
// unknown ID is not an error. It is idempotent: a revocation cut short (a
// crash, a storage error) is finished by calling it again, or by Tidy.
func (s *Store) Revoke(ctx context.Context, id string) error {
	f, err := s.findID(ctx, id)
	if err != nil || f == nil {
		return err
	}
	return s.revokeKey(ctx, f.key, revokeTree)
}

// RevokeAccessor revokes the token an accessor names, with its child tree.
func (s *Store) RevokeAccessor(ctx context.Context, accessor string) error {
	f, err := s.findAccessor(ctx, accessor)
	if err != nil || f == nil {
		return err
	}
	return s.revokeKey(ctx, f.key, revokeTree)
}

// RevokeOrphan revokes the token with this ID and makes its children
// orphans instead of revoking them.
func (s *Store) RevokeOrphan(ctx context.Context, id string) error {
	f, err := s.findID(ctx, id)
	if err != nil || f == nil {
		return err
	}
	return s.revokeKey(ctx, f.key, revokeOrphan)
}

// RevokeByPath revokes, each with its child tree, every token whose
// creation path (TokenEntry.Path) starts with prefix: given
// "auth/userpass/" (with its slash, so "auth/userpass2/" is spared), every
// token a login at that auth mount issued. The system calls it when an
// auth method is disabled, after unmounting it so no new login races the
// scan. It returns how many matching tokens it revoked itself; a token
// already taken down with a matching parent earlier in the scan, and the
// non-matching descendants revoked with their trees, are not counted.
//
// There is no index by path: it lists and decodes every token record,
// O(N) in the number of tokens, so it is for rare administrative events,
// never per request. It is idempotent (tokens already gone are skipped,
// revocations already under way are finished) and safe to run alongside
// requests: each revocation takes the record's lock as Revoke does, and a
// child created under a matching token while it dies revokes itself
// (Store.create). An empty prefix is refused rather than revoking every
// token. Records that cannot be read or revoked are skipped and reported
// in the error, joined; run it again (or Tidy) to finish.
func (s *Store) RevokeByPath(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, errEmptyPrefix
	}
	keys, err := s.storage.List(ctx, idPrefix)
	if err != nil {
		return 0, fmt.Errorf("token: revoke by path: list tokens: %w", err)
	}
	// Revocations run revokeByPathWorkers at a time, so their Raft writes
	// share log entries (group commit) instead of paying a commit each in
	// turn: disabling a method with a hundred thousand tokens takes
	// seconds, not minutes.
	var (
		mu      sync.Mutex
		revoked int
		failed  int
		errs    []error
		sealed  error
	)
	work := make(chan string)
	var wg sync.WaitGroup
	for range revokeByPathWorkers {
		wg.Go(func() {
			for key := range work {
				r, err := s.read(ctx, key)
				if err == nil && (r == nil || !strings.HasPrefix(r.Path, prefix)) {
					continue
				}
				if err == nil {
					err = s.revokeKey(ctx, key, revokeTree)
				}
				mu.Lock()
				switch {
				case errors.Is(err, engines.ErrSealed):
					sealed = err
				case err != nil:
					failed++
					if len(errs) < 8 {
						errs = append(errs, err)
					}
				default:
					revoked++
				}
				mu.Unlock()
			}
		})
	}
	for _, key := range keys {
		mu.Lock()
		stop := sealed != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		work <- key
	}
	close(work)
	wg.Wait()
	if sealed != nil {
		return revoked, sealed
	}
	if err := ctx.Err(); err != nil {
		return revoked, err
	}
	if failed > 0 {
		return revoked, fmt.Errorf("token: revoke by path: %d tokens left: %w", failed, errors.Join(errs...))
	}
	return revoked, nil
}

// revokeByPathWorkers is how many revocations RevokeByPath runs at once.
const revokeByPathWorkers = 16

// revokeKey marks the record at key as being revoked (which kills it at
// once) and then does the work: children first, the token last. A tree
// revocation already under way is never downgraded to an orphaning one.
func (s *Store) revokeKey(ctx context.Context, key, mode string) error {
	mu := s.lockFor(key)
	mu.Lock()
	r, err := s.read(ctx, key)
	if err == nil && r != nil && r.Revoking != revokeTree && r.Revoking != mode {
		r.Revoking = mode
		err = s.write(ctx, key, r)
	}
	mu.Unlock()
	if err != nil || r == nil {
		return err
	}
	akey, err := s.accessorKey(r.accessor)
	if err != nil {
		return err
	}
	if r.Revoking == revokeOrphan {
		if err := s.orphanChildren(ctx, akey, r.accessor); err != nil {
			return err
		}
		return s.deleteToken(ctx, key)
	}
	return s.revokeTree(ctx, key, akey)
}

// revokeTree deletes the token at rootKey and every descendant, depth
// first and children before parents, without recursion. A token leaves
// its parent's index only when it is deleted, so a walk cut short is
// picked up by the next one. Dangling index entries are dropped on the
// way, and a cycle cannot loop (each accessor is visited once).
func (s *Store) revokeTree(ctx context.Context, rootKey, rootAccessorKey string) error {
	type node struct{ key, akey string }
	stack := []node{{rootKey, rootAccessorKey}}
	seen := map[string]bool{rootAccessorKey: true}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		dir := parentPrefix + n.akey + "/"
		children, err := s.storage.List(ctx, dir)
		if err != nil {
			return fmt.Errorf("token: list children: %w", err)
		}
		var push []node
		for _, c := range children {
			c = strings.TrimSuffix(c, "/")
			if c == "" {
				continue
			}
			if seen[c] {
				// Already revoked in this walk, or a cycle: the entry is stale.
				if err := s.storage.Delete(ctx, dir+c); err != nil {
					return fmt.Errorf("token: delete parent index: %w", err)
				}
				continue
			}
			raw, err := s.storage.Get(ctx, dir+c)
			if err != nil {
				return fmt.Errorf("token: read parent index: %w", err)
			}
			if raw == nil {
				continue
			}
			seen[c] = true
			push = append(push, node{string(raw), c})
		}
		if len(push) > 0 {
			stack = append(stack, push...)
			continue
		}
		// A child whose record was already gone leaves its index entry
		// behind; its parent's next listing drops it as seen.
		if err := s.deleteToken(ctx, n.key); err != nil {
			return err
		}
		stack = stack[:len(stack)-1]
	}
	return nil
}

// deleteToken removes a record and then its indexes: the token is dead
// from the first delete; what a crash leaves behind is a dangling index,
// which revokeTree and Tidy drop.
func (s *Store) deleteToken(ctx context.Context, key string) error {
	mu := s.lockFor(key)
	mu.Lock()
	defer mu.Unlock()
	r, err := s.read(ctx, key)
	if err != nil || r == nil {
		return err
	}
	if s.onRevoke != nil {
		s.onRevoke(ctx, r.accessor)
	}
	err = s.storage.Delete(ctx, idPrefix+key)
	s.cache.invalidate(key)
	if err != nil {
		return fmt.Errorf("token: delete record: %w", err)
	}
	akey, err := s.accessorKey(r.accessor)
	if err != nil {
		return err
	}
	if err := s.storage.Delete(ctx, accessorPrefix+akey); err != nil {
		return fmt.Errorf("token: delete accessor index: %w", err)
	}
	if r.parent != "" {
		pkey, err := s.accessorKey(r.parent)
		if err != nil {
			return err
		}
		if err := s.storage.Delete(ctx, parentPrefix+pkey+"/"+akey); err != nil {
			return fmt.Errorf("token: delete parent index: %w", err)
		}
	}
	return nil
}

// orphanChildren makes every child of the token with accessor (index key
// akey) an orphan: its record forgets the parent, then the index entry
// goes.
func (s *Store) orphanChildren(ctx context.Context, akey, accessor string) error {
	dir := parentPrefix + akey + "/"
	children, err := s.storage.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("token: list children: %w", err)
	}
	for _, c := range children {
		c = strings.TrimSuffix(c, "/")
		if c == "" {
			continue
		}
		raw, err := s.storage.Get(ctx, dir+c)
		if err != nil {
			return fmt.Errorf("token: read parent index: %w", err)
		}
		if raw != nil {
			if err := s.orphan(ctx, string(raw), accessor); err != nil {
				return err
			}
		}
		if err := s.storage.Delete(ctx, dir+c); err != nil {
			return fmt.Errorf("token: delete parent index: %w", err)
		}
	}
	return nil
}

// orphan clears the parent of the record at key if it is parent.
func (s *Store) orphan(ctx context.Context, key, parent string) error {
	mu := s.lockFor(key)
	mu.Lock()
	defer mu.Unlock()
	r, err := s.read(ctx, key)
	if err != nil || r == nil || r.parent != parent {
		return err
	}
	r.parent = ""
	return s.write(ctx, key, r)
}
