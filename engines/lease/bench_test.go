package lease

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRegister is the per-secret cost of recording a lease (one
// encode and one Batch into the in-memory store).
func BenchmarkRegister(b *testing.B) {
	e := mustEnv(b)
	l := e.lease("database/", "creds/ro", time.Hour)
	l.TokenKey = "acc"
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.LeaseID = fmt.Sprintf("database/creds/ro/%024d", i)
		i++
		if err := e.m.Register(e.ctx, l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpire10000 measures the expiry loop revoking 10,000 due leases
// over four mounts, from the first scan to the last delete.
func BenchmarkExpire10000(b *testing.B) {
	const n = 10000
	mounts := []string{"db1/", "db2/", "db3/", "db4/"}
	for b.Loop() {
		b.StopTimer()
		e := mustEnv(b)
		for i := range n {
			l := e.lease(mounts[i%len(mounts)], "creds/ro", time.Duration(i)*time.Millisecond)
			l.LeaseID = fmt.Sprintf("%screds/ro/%024d", l.MountPath, i)
			e.mustRegister(b, l)
		}
		e.clock.Advance(time.Minute)
		b.StartTimer()
		stop := e.mustRun(b)
		waitFor(b, "all leases revoked", func() bool { return e.rv.total.Load() >= n && e.mustCount(b) == 0 })
		stop()
	}
}
