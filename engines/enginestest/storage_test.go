package enginestest

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func mustStorage(tb testing.TB, keys ...string) *Storage {
	tb.Helper()
	s := NewStorage()
	for _, k := range keys {
		if err := s.Put(context.Background(), k, []byte("v:"+k)); err != nil {
			tb.Fatalf("put %s: %v", k, err)
		}
	}
	return s
}

func TestList(t *testing.T) {
	s := mustStorage(t, "a/", "a/b", "a/c/d", "a/c/e", "ab")
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a/", "ab"}},
		{"a/", []string{"b", "c/"}},
		{"a/c/", []string{"d", "e"}},
		{"z/", []string{}},
	}
	for _, tc := range cases {
		got, err := s.List(context.Background(), tc.prefix)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, %v; want %q", tc.prefix, got, err, tc.want)
		}
	}
}

func TestFailOn(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		op     Op
		prefix string
		call   func(s *Storage, key string) error
		key    string
		fails  bool
	}{
		{OpGet, "", func(s *Storage, k string) error { _, err := s.Get(ctx, k); return err }, "x", true},
		{OpGet, "a/", func(s *Storage, k string) error { _, err := s.Get(ctx, k); return err }, "x", false},
		{OpPut, "a/", func(s *Storage, k string) error { return s.Put(ctx, k, nil) }, "a/x", true},
		{OpPut, "", func(s *Storage, k string) error { _, err := s.Get(ctx, k); return err }, "x", false},
		{OpDelete, "", func(s *Storage, k string) error { return s.Delete(ctx, k) }, "x", true},
		{OpList, "a/", func(s *Storage, k string) error { _, err := s.List(ctx, k); return err }, "a/", true},
		{"", "", func(s *Storage, k string) error { return s.Delete(ctx, k) }, "x", true},
	}
	for i, tc := range cases {
		s := mustStorage(t, "x")
		s.FailOn(tc.op, tc.prefix)
		if err := tc.call(s, tc.key); errors.Is(err, ErrInjected) != tc.fails {
			t.Errorf("case %d: err %v, want failure %v", i, err, tc.fails)
		}
		s.SetFail(nil)
		if err := tc.call(s, tc.key); err != nil {
			t.Errorf("case %d: after SetFail(nil): %v", i, err)
		}
	}
}

func TestFailAfter(t *testing.T) {
	ctx := context.Background()
	s := mustStorage(t)
	s.FailAfter(OpPut, 2)
	var got []bool
	for range 5 {
		_, _ = s.Get(ctx, "k") // other operations do not count
		got = append(got, errors.Is(s.Put(ctx, "k", nil), ErrInjected))
	}
	if want := []bool{false, false, true, false, false}; !slices.Equal(got, want) {
		t.Fatalf("failures %v, want %v", got, want)
	}
}

func TestKeysAndSnapshot(t *testing.T) {
	s := mustStorage(t, "b/2", "a/1", "b/1")
	s.FailOn("", "")
	if got := s.Keys(); !slices.Equal(got, []string{"a/1", "b/1", "b/2"}) {
		t.Errorf("Keys = %q", got)
	}
	if got := s.KeysWithPrefix("b/"); !slices.Equal(got, []string{"b/1", "b/2"}) {
		t.Errorf("KeysWithPrefix(b/) = %q", got)
	}
	if got := s.KeysWithPrefix("c/"); got != nil {
		t.Errorf("KeysWithPrefix(c/) = %q, want nil", got)
	}
	snap := s.Snapshot()
	if len(snap) != 3 || string(snap["a/1"]) != "v:a/1" {
		t.Errorf("Snapshot = %q", snap)
	}
	snap["a/1"][0] = 'X' // a copy: the store is unchanged
	s.SetFail(nil)
	if v, _ := s.Get(context.Background(), "a/1"); string(v) != "v:a/1" {
		t.Errorf("Snapshot shares memory: %q", v)
	}
}
