package lease

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewLeaseID(t *testing.T) {
	t.Parallel()
	tests := []struct{ mount, path, prefix string }{
		{"database/", "creds/ro", "database/creds/ro/"},
		{"auth/approle/", "login", "auth/approle/login/"},
		{"database", "/creds//ro/", "database/creds/ro/"},
	}
	suffix := regexp.MustCompile(`^[0-9A-Za-z]{24}$`)
	for _, tt := range tests {
		id := NewLeaseID(tt.mount, tt.path)
		rest, ok := strings.CutPrefix(id, tt.prefix)
		if !ok || !suffix.MatchString(rest) || !validID(id) {
			t.Errorf("NewLeaseID(%q, %q) = %q", tt.mount, tt.path, id)
		}
	}
	if NewLeaseID("a/", "b") == NewLeaseID("a/", "b") {
		t.Error("two lease IDs are equal")
	}
}

func TestRegisterLookup(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := e.lease("database/", "creds/ro", time.Hour)
	l.TokenKey = "accessor-1"
	e.mustRegister(t, l)

	got := e.mustLookup(t, l.LeaseID)
	if got == nil || got.LeaseID != l.LeaseID || !got.ExpireTime.Equal(l.ExpireTime) ||
		got.InternalData["username"] != "v-ro-1" || got.TokenKey != "accessor-1" || got.MountAccessor != "acc_database/" {
		t.Fatalf("Lookup = %+v", got)
	}
	// One Batch: record, time index, token index.
	if n := e.st.batches.Load(); n != 1 {
		t.Errorf("Register wrote %d batches, want 1", n)
	}
	want := []string{
		recordKey(l.LeaseID),
		tokenIndexKey("accessor-1", l.LeaseID),
		timeKey(l.ExpireTime, l.LeaseID),
	}
	slices.Sort(want)
	if keys := e.st.keys("sys/expire/"); !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	if v, _ := e.st.Get(e.ctx, timeKey(l.ExpireTime, l.LeaseID)); string(v) != l.LeaseID {
		t.Errorf("time index value = %q", v)
	}
	if got := e.mustLookup(t, "database/creds/ro/unknown"); got != nil {
		t.Errorf("Lookup(unknown) = %+v", got)
	}
	if got := e.mustLookup(t, "../x"); got != nil {
		t.Errorf("Lookup(invalid) = %+v", got)
	}
}

func TestRegisterDefaults(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	l := &Entry{LeaseID: "kv/x/abc", ExpireTime: t0.Add(time.Minute)}
	e.mustRegister(t, l)
	got := e.mustLookup(t, l.LeaseID)
	if !got.IssueTime.Equal(t0) || !got.LastRenewal.Equal(t0) || !got.MaxExpire.Equal(l.ExpireTime) {
		t.Errorf("defaults: %+v", got)
	}
	if !l.IssueTime.IsZero() {
		t.Error("Register modified its argument")
	}
}

func TestRegisterInvalid(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	tests := []struct {
		name string
		e    *Entry
	}{
		{"nil", nil},
		{"empty id", &Entry{ExpireTime: t0}},
		{"leading slash", &Entry{LeaseID: "/a/b", ExpireTime: t0}},
		{"trailing slash", &Entry{LeaseID: "a/b/", ExpireTime: t0}},
		{"dot dot", &Entry{LeaseID: "a/../b", ExpireTime: t0}},
		{"control", &Entry{LeaseID: "a/\nb", ExpireTime: t0}},
		{"no expiry", &Entry{LeaseID: "a/b"}},
	}
	for _, tt := range tests {
		if err := e.m.Register(e.ctx, tt.e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Register = %v, want ErrInvalid", tt.name, err)
		}
	}
	if n := len(e.st.keys("")); n != 0 {
		t.Errorf("%d keys written", n)
	}
}

func TestListPrefixAndCount(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	ids := []string{"database/creds/ro/a1", "database/creds/ro/a2", "database/creds/rw/b1", "aws/creds/x/c1"}
	for _, id := range ids {
		e.mustRegister(t, &Entry{LeaseID: id, ExpireTime: t0.Add(time.Hour)})
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"aws/", "database/"}},
		{"database/", []string{"creds/"}},
		{"database", []string{"creds/"}},
		{"database/creds/", []string{"ro/", "rw/"}},
		{"database/creds/ro/", []string{"a1", "a2"}},
		{"nothing/", []string{}},
	}
	for _, tt := range tests {
		got, err := e.m.ListPrefix(e.ctx, tt.prefix)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ListPrefix(%q) = %v, %v; want %v", tt.prefix, got, err, tt.want)
		}
	}
	counts := map[string]int{"": 4, "database/": 3, "database/creds/ro/": 2, "aws": 1, "x": 0}
	for prefix, want := range counts {
		if n, err := e.m.Count(e.ctx, prefix); err != nil || n != want {
			t.Errorf("Count(%q) = %d, %v; want %d", prefix, n, err, want)
		}
	}
}

func TestCountPages(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, func(c *Config) { c.ScanPage = 7 })
	for i := range 50 {
		e.mustRegister(t, &Entry{LeaseID: idOf(i), ExpireTime: t0.Add(time.Hour)})
	}
	if n := e.mustCount(t); n != 50 {
		t.Errorf("Count = %d, want 50", n)
	}
}

func TestRegisterStorageFailureWritesNothing(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	e.st.setFailBatch(func(map[string][]byte, []string) error { return errors.New("raft: no leader") })
	l := e.lease("database/", "creds/ro", time.Hour)
	l.TokenKey = "acc"
	if err := e.m.Register(e.ctx, l); err == nil {
		t.Fatal("Register succeeded without storage")
	}
	if keys := e.st.keys(""); len(keys) != 0 {
		t.Errorf("partial write: %v", keys)
	}
}
