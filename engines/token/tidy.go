package token

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"coffer/engines"
)

// TidyResult counts what a Tidy pass did.
type TidyResult struct {
	// Revoked counts tokens revoked: expired ones (with their trees) and
	// revocations cut short, finished.
	Revoked int
	// Accessors and Parents count dangling index entries removed.
	Accessors int
	Parents   int
	// Errors counts entries that could not be handled; they are retried by
	// the next pass.
	Errors int
}

// Tidy revokes expired tokens with their child trees, finishes
// revocations cut short, and removes accessor and parent index entries
// whose token is gone. Everything it does is idempotent, so it can run on
// any schedule on the active node; it reads every token record, so run it
// periodically, not per request. A live child whose parent record is gone
// (a creation that raced its parent's revocation and crashed) is revoked,
// not orphaned as Vault does.
func (s *Store) Tidy(ctx context.Context) (TidyResult, error) {
	var res TidyResult
	var errs []error
	fail := func(err error) {
		res.Errors++
		if len(errs) < 8 {
			errs = append(errs, err)
		}
	}

	keys, err := s.storage.List(ctx, idPrefix)
	if err != nil {
		return res, fmt.Errorf("token: tidy: list tokens: %w", err)
	}
	now := s.now()
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		r, err := s.read(ctx, key)
		if err != nil {
			fail(err)
			continue
		}
		mode := ""
		switch {
		case r == nil:
		case r.Revoking != "":
			mode = r.Revoking
		case r.expired(now):
			mode = revokeTree
		}
		if mode == "" {
			continue
		}
		if err := s.revokeKey(ctx, key, mode); err != nil {
			fail(err)
			continue
		}
		res.Revoked++
	}

	akeys, err := s.storage.List(ctx, accessorPrefix)
	if err != nil {
		return res, fmt.Errorf("token: tidy: list accessors: %w", err)
	}
	for _, ak := range akeys {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		removed, err := s.tidyAccessor(ctx, ak)
		if err != nil {
			fail(err)
			continue
		}
		if removed {
			res.Accessors++
		}
	}

	parents, err := s.storage.List(ctx, parentPrefix)
	if err != nil {
		return res, fmt.Errorf("token: tidy: list parents: %w", err)
	}
	for _, dir := range parents {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, err := s.tidyChildren(ctx, strings.TrimSuffix(dir, "/"), &res)
		res.Parents += n
		if err != nil {
			fail(err)
		}
	}
	// The leader tidies every minute: say so only when it did something.
	if res.Revoked+res.Accessors+res.Parents+res.Errors > 0 {
		s.logger.Info("token tidy done", "revoked", res.Revoked, "accessor_indexes_removed", res.Accessors,
			"parent_indexes_removed", res.Parents, "errors", res.Errors)
	}
	return res, errors.Join(errs...)
}

// tidyAccessor drops accessor/<ak> if it points at no token (or at one
// with another accessor). It holds the token's lock, as create does while
// writing, so an index of a token being created is never taken for
// dangling.
func (s *Store) tidyAccessor(ctx context.Context, ak string) (bool, error) {
	raw, err := s.storage.Get(ctx, accessorPrefix+ak)
	if err != nil {
		return false, fmt.Errorf("token: tidy: read accessor index: %w", err)
	}
	if raw == nil {
		return false, nil
	}
	key := string(raw)
	mu := s.lockFor(key)
	mu.Lock()
	defer mu.Unlock()
	r, err := s.read(ctx, key)
	if err != nil {
		return false, err
	}
	if r != nil {
		want, err := s.accessorKey(r.accessor)
		if err != nil || want == ak {
			return false, err
		}
	}
	if err := s.storage.Delete(ctx, accessorPrefix+ak); err != nil {
		return false, fmt.Errorf("token: tidy: delete accessor index: %w", err)
	}
	return true, nil
}

// tidyChildren drops parent/<pk>/ entries whose child is gone or no longer
// names that parent, and revokes children whose parent is gone.
func (s *Store) tidyChildren(ctx context.Context, pk string, res *TidyResult) (int, error) {
	dir := parentPrefix + pk + "/"
	children, err := s.storage.List(ctx, dir)
	if err != nil {
		return 0, fmt.Errorf("token: tidy: list children: %w", err)
	}
	parentGone, err := s.accessorGone(ctx, pk)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, c := range children {
		c = strings.TrimSuffix(c, "/")
		raw, err := s.storage.Get(ctx, dir+c)
		if err != nil {
			return removed, fmt.Errorf("token: tidy: read parent index: %w", err)
		}
		if raw == nil {
			continue
		}
		key := string(raw)
		valid, err := s.tidyChild(ctx, dir+c, key, pk, c)
		if err != nil {
			return removed, err
		}
		if !valid {
			removed++
			continue
		}
		if parentGone {
			// revokeTree drops the index entry with the child.
			if err := s.revokeKey(ctx, key, revokeTree); err != nil {
				return removed, err
			}
			res.Revoked++
		}
	}
	return removed, nil
}

// tidyChild checks one parent index entry under the child's lock (see
// tidyAccessor): valid if the child exists and names that parent;
// otherwise the entry is deleted.
func (s *Store) tidyChild(ctx context.Context, index, key, pk, ck string) (valid bool, err error) {
	mu := s.lockFor(key)
	mu.Lock()
	defer mu.Unlock()
	r, err := s.read(ctx, key)
	if err != nil {
		return false, err
	}
	if r != nil {
		have, err := s.accessorKey(r.accessor)
		if err != nil {
			return false, err
		}
		parent := ""
		if r.parent != "" {
			if parent, err = s.accessorKey(r.parent); err != nil {
				return false, err
			}
		}
		if have == ck && parent == pk {
			return true, nil
		}
	}
	if err := s.storage.Delete(ctx, index); err != nil {
		return false, fmt.Errorf("token: tidy: delete parent index: %w", err)
	}
	return false, nil
}

// accessorGone reports whether no token record stands behind accessor/<ak>.
func (s *Store) accessorGone(ctx context.Context, ak string) (bool, error) {
	raw, err := s.storage.Get(ctx, accessorPrefix+ak)
	if err != nil {
		return false, fmt.Errorf("token: tidy: read accessor index: %w", err)
	}
	if raw == nil {
		return true, nil
	}
	r, err := s.read(ctx, string(raw))
	return r == nil && err == nil, err
}

const (
	tidyStarted = "Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs."
	tidyRunning = "Tidy operation already in progress."
)

// handleTidy starts Tidy in the background, as Vault does (202 and a
// warning); one pass at a time. The pass keeps the request context's
// values but not its cancellation, and stops when the store is Reset
// (sealed), which waits for it.
func (s *Store) handleTidy(ctx context.Context) (*engines.Response, error) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgCtx == nil {
		return nil, engines.ErrSealed
	}
	if !s.tidying.CompareAndSwap(false, true) {
		return &engines.Response{Warnings: []string{tidyRunning}}, nil
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(s.bgCtx, cancel)
	s.tidyWG.Add(1)
	go func() {
		defer s.tidyWG.Done()
		defer s.tidying.Store(false)
		defer cancel()
		defer stop()
		_, err := s.Tidy(tctx)
		switch {
		case err != nil && tctx.Err() != nil:
			s.logger.Info("token tidy stopped", "error", err)
		case err != nil:
			s.logger.Error("token tidy failed", "error", err)
		}
	}()
	return &engines.Response{StatusCode: 202, Warnings: []string{tidyStarted}}, nil
}
