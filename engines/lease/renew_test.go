package lease

import (
	"errors"
	"testing"
	"time"
)

func TestRenew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ttl       time.Duration // from issue
		maxExpire time.Duration // from issue
		renewable bool
		advance   time.Duration // before renewing
		increment time.Duration
		want      time.Duration // new expiry, from issue; 0 if an error
		wantErr   error
	}{
		{name: "increment from now", ttl: time.Hour, maxExpire: 10 * time.Hour, renewable: true,
			advance: 30 * time.Minute, increment: 2 * time.Hour, want: 150 * time.Minute},
		{name: "zero increment keeps the TTL length", ttl: time.Hour, maxExpire: 10 * time.Hour, renewable: true,
			advance: 30 * time.Minute, want: 90 * time.Minute},
		{name: "capped at max expire", ttl: time.Hour, maxExpire: 2 * time.Hour, renewable: true,
			advance: 30 * time.Minute, increment: 24 * time.Hour, want: 2 * time.Hour},
		{name: "shortening is allowed", ttl: time.Hour, maxExpire: 2 * time.Hour, renewable: true,
			advance: time.Minute, increment: 10 * time.Second, want: 70 * time.Second},
		{name: "not renewable", ttl: time.Hour, maxExpire: 2 * time.Hour,
			advance: time.Minute, wantErr: ErrNotRenewable},
		{name: "expired", ttl: time.Hour, maxExpire: 2 * time.Hour, renewable: true,
			advance: time.Hour, increment: time.Hour, wantErr: ErrExpired},
		{name: "cap leaves under a second", ttl: time.Hour, maxExpire: time.Hour, renewable: true,
			advance: time.Hour - 500*time.Millisecond, increment: time.Hour, wantErr: ErrExpired},
		{name: "cap leaves exactly a second", ttl: time.Hour, maxExpire: time.Hour, renewable: true,
			advance: time.Hour - time.Second, increment: time.Hour, wantErr: ErrExpired},
		{name: "tiny increment", ttl: time.Hour, maxExpire: 2 * time.Hour, renewable: true,
			advance: time.Minute, increment: time.Millisecond, wantErr: ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t)
			l := e.lease("database/", "creds/ro", tt.ttl)
			l.Renewable = tt.renewable
			l.MaxExpire = t0.Add(tt.maxExpire)
			e.mustRegister(t, l)
			e.clock.Advance(tt.advance)
			got, err := e.m.Renew(e.ctx, l.LeaseID, tt.increment)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Renew = %v, want %v", err, tt.wantErr)
				}
				if st := e.mustLookup(t, l.LeaseID); !st.ExpireTime.Equal(l.ExpireTime) {
					t.Errorf("a refused renewal changed the expiry to %v", st.ExpireTime)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := t0.Add(tt.want)
			if !got.ExpireTime.Equal(want) || !got.LastRenewal.Equal(t0.Add(tt.advance)) {
				t.Errorf("Renew: expire %v last renewal %v; want %v", got.ExpireTime, got.LastRenewal, want)
			}
			if r := e.rv.renewed[l.LeaseID]; !r.Equal(want) {
				t.Errorf("backend renewed to %v, want %v", r, want)
			}
			// The time index moved: the old key is gone, the new one points at the lease.
			if v, _ := e.st.Get(e.ctx, timeKey(l.ExpireTime, l.LeaseID)); v != nil {
				t.Error("old time-index entry still there")
			}
			if v, _ := e.st.Get(e.ctx, timeKey(want, l.LeaseID)); string(v) != l.LeaseID {
				t.Error("new time-index entry missing")
			}
			if st := e.mustLookup(t, l.LeaseID); !st.ExpireTime.Equal(want) {
				t.Errorf("stored expiry %v", st.ExpireTime)
			}
			if n := len(e.st.keys(timePrefix)); n != 1 {
				t.Errorf("%d time-index entries", n)
			}
		})
	}
}

func TestRenewRefusals(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	if _, err := e.m.Renew(e.ctx, "database/creds/ro/none", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := e.m.Renew(e.ctx, "", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty: %v", err)
	}
	l := e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))
	e.rv.set(func(r *fakeRevoker) { r.renewErr = errBackend })
	if _, err := e.m.Renew(e.ctx, l.LeaseID, time.Hour); !errors.Is(err, errBackend) {
		t.Errorf("backend refusal: %v", err)
	}
	if st := e.mustLookup(t, l.LeaseID); !st.ExpireTime.Equal(l.ExpireTime) {
		t.Error("a refused renewal changed the lease")
	}
	e.rv.set(func(r *fakeRevoker) { r.renewErr = nil })

	irr := e.lease("database/", "creds/ro", time.Hour)
	irr.Irrevocable = true
	e.mustRegister(t, irr)
	if _, err := e.m.Renew(e.ctx, irr.LeaseID, time.Hour); !errors.Is(err, ErrIrrevocable) {
		t.Errorf("irrevocable: %v", err)
	}
}

func TestRenewStorageFailureKeepsLease(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.mustRegister(t, e.lease("database/", "creds/ro", time.Hour))
	e.st.setFailBatch(func(map[string][]byte, []string) error { return errors.New("raft: no leader") })
	if _, err := e.m.Renew(e.ctx, l.LeaseID, 2*time.Hour); err == nil {
		t.Fatal("Renew succeeded without storage")
	}
	e.st.setFailBatch(nil)
	if st := e.mustLookup(t, l.LeaseID); !st.ExpireTime.Equal(l.ExpireTime) {
		t.Error("lease changed")
	}
	if v, _ := e.st.Get(e.ctx, timeKey(l.ExpireTime, l.LeaseID)); v == nil {
		t.Error("time-index entry lost")
	}
}
