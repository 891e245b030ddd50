package lease

import (
	"slices"
	"testing"
	"time"
)

func TestTidy(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.ScanPage = 2 })
	var ls []*Entry
	for range 5 {
		l := e.lease("database/", "creds/ro", time.Hour)
		l.TokenKey = "acc"
		ls = append(ls, e.mustRegister(t, l))
	}
	irr := e.lease("database/", "creds/ro", time.Hour)
	irr.Irrevocable = true
	e.mustRegister(t, irr)
	healthy := e.st.keys("sys/expire/")
	if n, err := e.m.Tidy(e.ctx); n != 0 || err != nil {
		t.Fatalf("Tidy on healthy indexes = %d, %v", n, err)
	}

	// Dangling: a record gone without its index entries (two of them).
	e.st.del(recordKey(ls[0].LeaseID))
	// Missing: a record whose time-index and token entries are gone (two),
	// and an irrevocable one without its entry (one).
	e.st.del(timeKey(ls[1].ExpireTime, ls[1].LeaseID))
	e.st.del(tokenIndexKey("acc", ls[1].LeaseID))
	e.st.del(irrevocableKey(irr.LeaseID))
	// Stale: an old time entry of a live lease (one), and garbage (one).
	if err := e.st.Batch(e.ctx, map[string][]byte{
		timeKey(t0.Add(time.Minute), ls[2].LeaseID): []byte(ls[2].LeaseID),
		timePrefix + "garbage":                      []byte("database/creds/ro/x"),
	}, nil); err != nil {
		t.Fatal(err)
	}
	n, err := e.m.Tidy(e.ctx)
	if err != nil || n != 7 {
		t.Fatalf("Tidy = %d, %v; want 7", n, err)
	}
	want := slices.DeleteFunc(healthy, func(k string) bool {
		return k == recordKey(ls[0].LeaseID) || k == timeKey(ls[0].ExpireTime, ls[0].LeaseID) ||
			k == tokenIndexKey("acc", ls[0].LeaseID)
	})
	if got := e.st.keys("sys/expire/"); !slices.Equal(got, want) {
		t.Errorf("after Tidy:\n%v\nwant\n%v", got, want)
	}
	if n, err := e.m.Tidy(e.ctx); n != 0 || err != nil {
		t.Errorf("second Tidy = %d, %v", n, err)
	}
}
