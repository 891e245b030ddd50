package lease

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestConcurrentOperations races renewals, revocations, token revocations,
// tidy and the expiry loop over the same leases; afterwards the indexes
// must be exact (Tidy finds nothing to fix) and every lease revoked at
// most once.
func TestConcurrentOperations(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.ScanPage = 8 })
	var ids []string
	for i := range 200 {
		l := e.lease("database/", "creds/ro", time.Duration(1+i%20)*time.Second)
		l.TokenKey = []string{"acc-1", "acc-2"}[i%2]
		ids = append(ids, e.mustRegister(t, l).LeaseID)
	}
	e.mustRun(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(ids); i += 4 {
				_, err := e.m.Renew(e.ctx, ids[i], 5*time.Second)
				if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrExpired) {
					t.Errorf("Renew: %v", err)
				}
				if i%3 == 0 {
					if err := e.m.Revoke(e.ctx, ids[i]); err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("Revoke: %v", err)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			e.clock.Advance(time.Second)
			if _, err := e.m.Tidy(e.ctx); err != nil {
				t.Errorf("Tidy: %v", err)
			}
		}
	})
	wg.Go(func() {
		if _, err := e.m.RevokeByToken(e.ctx, "acc-1"); err != nil {
			t.Errorf("RevokeByToken: %v", err)
		}
	})
	wg.Wait()
	if n, err := e.m.Tidy(e.ctx); n != 0 || err != nil {
		t.Errorf("Tidy after the race = %d, %v; the indexes drifted", n, err)
	}
	e.clock.Advance(time.Hour)
	waitFor(t, "all leases revoked", func() bool { return e.mustCount(t) == 0 })
	for _, id := range ids {
		if c := e.rv.callsOf(id); c != 1 {
			t.Errorf("%s: revoked %d times", id, c)
		}
	}
	if keys := e.st.keys("sys/expire/"); len(keys) != 0 {
		t.Errorf("left behind: %v", keys)
	}
}
