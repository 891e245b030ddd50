package approle_test

import (
	"context"
	"errors"
	"testing"

	"coffer/engines"
	"coffer/engines/auth/approle"
	"coffer/engines/enginestest"
)

func TestExists(t *testing.T) {
	h := mustHarness(t)
	h.mustRole(t, "web", `{}`)
	ec, ok := h.backend.(engines.ExistenceChecker)
	if !ok {
		t.Fatal("backend is not an engines.ExistenceChecker")
	}
	cases := []struct {
		path string
		want bool
	}{
		{"role/web", true},
		{"role/db", false},
		{"role/web/role-id", true},
		{"role/db/role-id", false},
		{"role/web/policies", true},
		{"role/db/policies", false},
		{"role/db/secret-id-num-uses", false},
		{"role/db/secret-id-ttl", false},
		{"role/db/token-num-uses", false},
		{"role/db/token-ttl", false},
		{"role/db/token-max-ttl", false},
		{"role/db/period", false},
		{"role/db/bind-secret-id", false},
		{"role/db/secret-id-bound-cidrs", false},
		{"role/db/token-bound-cidrs", false},
		{"role/db/local-secret-ids", false},
		{"role/web/token-ttl", true},
		// Actions, not role creation: checked as update.
		{"role/web/secret-id", true},
		{"role/db/secret-id", true},
		{"role/db/custom-secret-id", true},
		{"role/db/secret-id/lookup", true},
		{"role/db/secret-id/destroy", true},
		{"role/db/secret-id-accessor/lookup", true},
		{"role/db/secret-id-accessor/destroy", true},
		{"login", true},
		{"tidy/secret-id", true},
		{"role", true},
		{"role/db/unknown", true},
		{"nothing", true},
		// Refused by the backend, so nothing can be created.
		{"role/WEB", true},
		{"role/DB", true},
		{"role/bad name", true},
	}
	for _, tc := range cases {
		got, err := ec.Exists(context.Background(), &engines.Request{
			Operation: engines.UpdateOperation, Path: tc.path, MountPoint: "auth/approle/",
		})
		if err != nil || got != tc.want {
			t.Errorf("Exists(%s) = %v, %v; want %v", tc.path, got, err, tc.want)
		}
	}
}

func TestExistsStorageError(t *testing.T) {
	failing := enginestest.NewStorage()
	failing.FailOn(enginestest.OpGet, "")
	b, err := approle.Factory(context.Background(), &engines.BackendConfig{Storage: failing})
	if err != nil {
		t.Fatalf("Factory: %v", err)
	}
	_, err = b.(engines.ExistenceChecker).Exists(context.Background(), &engines.Request{Path: "role/web"})
	if !errors.Is(err, enginestest.ErrInjected) {
		t.Fatalf("Exists with failing storage: %v", err)
	}
}
