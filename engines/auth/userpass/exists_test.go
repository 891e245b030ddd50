package userpass

import (
	"context"
	"errors"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

func TestExists(t *testing.T) {
	h := mustHarness(t, cheapKDF)
	h.mustDo(t, engines.UpdateOperation, "users/alice", `{"password":"pw"}`)
	var b engines.Backend = h.backend
	ec, ok := b.(engines.ExistenceChecker)
	if !ok {
		t.Fatal("backend is not an engines.ExistenceChecker")
	}
	cases := []struct {
		path string
		want bool
	}{
		{"users/alice", true},
		{"users/bob", false},
		{"users/alice/password", true},
		{"users/bob/password", false},
		{"users/alice/policies", true},
		{"users/bob/policies", false},
		// Not about creating a user: checked as update.
		{"login/alice", true},
		{"login/bob", true},
		{"users", true},
		{"users/alice/other", true},
		{"users/a/b/c", true},
		{"nothing", true},
		// Refused by the backend, so nothing can be created.
		{"users/ALICE", true},
		{"users/BOB", true},
		{"users/bad name", true},
	}
	for _, tc := range cases {
		got, err := ec.Exists(context.Background(), &engines.Request{
			Operation: engines.UpdateOperation, Path: tc.path, MountPoint: "auth/userpass/",
		})
		if err != nil || got != tc.want {
			t.Errorf("Exists(%s) = %v, %v; want %v", tc.path, got, err, tc.want)
		}
	}
}

func TestExistsStorageError(t *testing.T) {
	failing := enginestest.NewStorage()
	failing.FailOn(enginestest.OpGet, "")
	b, err := newBackend(&engines.BackendConfig{Storage: failing}, cheapKDF)
	if err != nil {
		t.Fatalf("newBackend: %v", err)
	}
	if _, err := b.Exists(context.Background(), &engines.Request{Path: "users/alice"}); !errors.Is(err, enginestest.ErrInjected) {
		t.Fatalf("Exists with failing storage: %v", err)
	}
}
