package lease

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRevoke(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.lease("database/", "creds/ro", time.Hour)
	l.TokenKey = "acc"
	e.mustRegister(t, l)
	other := e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))

	// A backend failure keeps the lease untouched.
	e.rv.set(func(r *fakeRevoker) { r.failN[l.LeaseID] = 1 })
	if err := e.m.Revoke(e.ctx, l.LeaseID); !errors.Is(err, errBackend) {
		t.Fatalf("Revoke with a failing backend = %v", err)
	}
	if got := e.mustLookup(t, l.LeaseID); got == nil || got.Attempts != 0 {
		t.Fatalf("after a failed revoke: %+v", got)
	}

	batches := e.st.batches.Load()
	if err := e.m.Revoke(e.ctx, l.LeaseID); err != nil {
		t.Fatal(err)
	}
	if n := e.st.batches.Load() - batches; n != 1 {
		t.Errorf("Revoke wrote %d batches, want 1", n)
	}
	if got := e.mustLookup(t, l.LeaseID); got != nil {
		t.Error("record still there")
	}
	for _, k := range e.st.keys("sys/expire/") {
		if k != recordKey(other.LeaseID) && k != timeKey(other.ExpireTime, other.LeaseID) {
			t.Errorf("left behind: %s", k)
		}
	}
	if err := e.m.Revoke(e.ctx, l.LeaseID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Revoke = %v, want ErrNotFound", err)
	}
	if err := e.m.Revoke(e.ctx, "a//b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(invalid) = %v, want ErrNotFound", err)
	}
	if got := e.rv.revokedIDs(); !slices.Equal(got, []string{l.LeaseID}) {
		t.Errorf("backend revoked %v", got)
	}
}

func TestRevokePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		prefix    string
		force     bool
		fail      bool // the first ro lease's backend fails
		wantN     int
		wantErr   bool
		wantLeft  int
		wantCalls int
	}{
		{name: "all under a role", prefix: "database/creds/ro", wantN: 20, wantLeft: 5, wantCalls: 20},
		{name: "with the slash", prefix: "database/creds/ro/", wantN: 20, wantLeft: 5, wantCalls: 20},
		{name: "the whole mount", prefix: "database/", wantN: 25, wantLeft: 0, wantCalls: 25},
		{name: "no partial segment", prefix: "database/creds/r", wantN: 0, wantLeft: 25},
		{name: "a failure keeps that lease", prefix: "database/creds/ro", fail: true,
			wantN: 19, wantErr: true, wantLeft: 6, wantCalls: 20},
		{name: "force deletes it anyway", prefix: "database/creds/ro", fail: true, force: true,
			wantN: 20, wantLeft: 5, wantCalls: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, func(c *Config) { c.ScanPage = 3; c.PerMountConcurrency = 4 })
			var ro []string
			for i := range 20 {
				ro = append(ro, e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour+time.Duration(i))).LeaseID)
			}
			for range 5 {
				e.mustRegister(t, e.lease("database/", "creds/rw", time.Hour))
			}
			if tt.fail {
				e.rv.set(func(r *fakeRevoker) { r.failN[ro[0]] = 1 })
			}
			n, err := e.m.RevokePrefix(e.ctx, tt.prefix, tt.force)
			if n != tt.wantN || (err != nil) != tt.wantErr {
				t.Fatalf("RevokePrefix = %d, %v; want %d, error %v", n, err, tt.wantN, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, errBackend) {
				t.Errorf("error %v does not wrap the backend's", err)
			}
			if left := e.mustCount(t); left != tt.wantLeft {
				t.Errorf("%d leases left, want %d", left, tt.wantLeft)
			}
			if calls := int(e.rv.total.Load()); calls != tt.wantCalls {
				t.Errorf("%d backend calls, want %d", calls, tt.wantCalls)
			}
			if left := len(e.st.keys(timePrefix)); left != tt.wantLeft {
				t.Errorf("%d time-index entries left, want %d", left, tt.wantLeft)
			}
			if m := e.rv.maxOf("database/"); m > 4 {
				t.Errorf("%d concurrent revocations on one mount, limit 4", m)
			}
		})
	}
}

func TestRevokePrefixEmpty(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))
	for _, p := range []string{"", "/"} {
		if _, err := e.m.RevokePrefix(e.ctx, p, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("RevokePrefix(%q) = %v, want ErrInvalid", p, err)
		}
	}
	if e.mustCount(t) != 1 {
		t.Error("a lease was revoked")
	}
}

func TestRevokeByToken(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.ScanPage = 2 })
	var mine []string
	for i := range 7 {
		l := e.lease("database/", "creds/ro", time.Hour)
		l.TokenKey = "acc-1"
		if i == 6 {
			l.MountPath, l.MountAccessor = "aws/", "acc_aws/"
		}
		mine = append(mine, e.mustRegister(t, l).LeaseID)
	}
	other := e.lease("database/", "creds/ro", time.Hour)
	other.TokenKey = "acc-2"
	e.mustRegister(t, other)
	none := e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))

	// One backend is down: its lease is expired now and handed to the loop.
	down := mine[3]
	e.rv.set(func(r *fakeRevoker) { r.failN[down] = 1 })
	n, err := e.m.RevokeByToken(e.ctx, "acc-1")
	if err != nil || n != 7 {
		t.Fatalf("RevokeByToken = %d, %v; want 7", n, err)
	}
	for _, id := range mine {
		got := e.mustLookup(t, id)
		if id != down && got != nil {
			t.Errorf("%s not revoked", id)
		}
		if id == down && (got == nil || got.Attempts != 1 || !got.ExpireTime.Equal(t0) || got.LastError == "") {
			t.Errorf("the lease whose backend failed: %+v", got)
		}
	}
	if e.mustLookup(t, other.LeaseID) == nil || e.mustLookup(t, none.LeaseID) == nil {
		t.Error("another token's lease was revoked")
	}
	if _, err := e.m.Renew(e.ctx, down, time.Hour); !errors.Is(err, ErrExpired) {
		t.Errorf("renewing a dead token's lease: %v", err)
	}
	// The expiry loop finishes it at its retry time.
	stop := e.mustRun(t)
	e.clock.Advance(time.Second)
	waitFor(t, "the handed-over lease to be revoked", func() bool { return e.mustLookup(t, down) == nil })
	stop()
	if n, err := e.m.RevokeByToken(e.ctx, "acc-1"); n != 0 || err != nil {
		t.Errorf("second RevokeByToken = %d, %v", n, err)
	}
	if n, err := e.m.RevokeByToken(e.ctx, ""); n != 0 || err != nil {
		t.Errorf("RevokeByToken(\"\") = %d, %v", n, err)
	}
	if keys := e.st.keys(tokenPrefix + hashOf("acc-1")); len(keys) != 0 {
		t.Errorf("token index left: %v", keys)
	}
}

func TestRevokeByTokenDropsDanglingIndex(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.lease("database/", "creds/ro", time.Hour)
	l.TokenKey = "acc"
	e.mustRegister(t, l)
	e.st.del(recordKey(l.LeaseID))
	if n, err := e.m.RevokeByToken(e.ctx, "acc"); n != 0 || err != nil {
		t.Fatalf("RevokeByToken = %d, %v", n, err)
	}
	if keys := e.st.keys(tokenPrefix); len(keys) != 0 {
		t.Errorf("dangling token index entry kept: %v", keys)
	}
	if e.rv.total.Load() != 0 {
		t.Error("the backend was called for a lease without a record")
	}
}

func TestRevokeCancelled(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if n, err := e.m.RevokePrefix(ctx, "database/", false); n != 0 || err == nil {
		t.Errorf("RevokePrefix on a cancelled context = %d, %v", n, err)
	}
	if e.mustLookup(t, l.LeaseID) == nil {
		t.Error("lease lost")
	}
}
