package database

import (
	"context"
	"fmt"
	"testing"
	"time"

	"coffer/engines"
	"coffer/engines/database/pgtest"
	"coffer/engines/enginestest"
)

// mustStaticUser creates a PostgreSQL login role with a known password.
func mustStaticUser(tb testing.TB, e *pgEnv) (user, password string) {
	tb.Helper()
	user, password = pgtest.Name("app"), "Initial-"+pgtest.Name("pw")
	e.pg.Exec(tb, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s", quoteIdent(user), quoteLiteral(password)))
	return user, password
}

func TestStaticRoleRotation(t *testing.T) {
	e := mustPGEnv(t)
	clock := enginestest.NewClock(time.Now())
	h := mustBackend(t, &engines.BackendConfig{Clock: clock.Now})
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
	user, initial := mustStaticUser(t, e)

	// Creating the role rotates at once.
	h.mustDo(t, engines.UpdateOperation, "static-roles/app", fmt.Sprintf(`{"db_name":"pg","username":%q,"rotation_period":"5s"}`, user))
	resp := h.mustDo(t, engines.ReadOperation, "static-creds/app", "")
	first := str(t, resp, "password")
	e.mustConnect(t, user, first)
	e.loginFails(t, user, initial)
	enginestest.JSONEqual(t, map[string]any{"u": resp.Data["username"], "p": resp.Data["rotation_period"], "ttl": resp.Data["ttl"]},
		fmt.Sprintf(`{"u":%q,"p":5,"ttl":5}`, user))
	if lr := str(t, resp, "last_vault_rotation"); lr != clock.Now().UTC().Format(time.RFC3339Nano) {
		t.Errorf("last_vault_rotation %q", lr)
	}
	if _, ok := resp.Data["previous_password"]; ok {
		t.Error("previous_password after the first rotation")
	}
	role := h.mustDo(t, engines.ReadOperation, "static-roles/app", "")
	if role.Data["username"] != user || role.Data["rotation_period"] != int64(5) || role.Data["last_vault_rotation"] == nil {
		t.Errorf("static role read %v", role.Data)
	}

	// Not due yet: nothing happens.
	clock.Advance(4 * time.Second)
	if err := h.b.RotateDue(context.Background(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := str(t, h.mustDo(t, engines.ReadOperation, "static-creds/app", ""), "password"); got != first {
		t.Fatal("rotated before due")
	}

	// Due: rotated; the new logs in, the old no longer; the previous one
	// is readable for the grace window (2.5 s here).
	clock.Advance(2 * time.Second)
	if err := h.b.RotateDue(context.Background(), clock.Now()); err != nil {
		t.Fatalf("RotateDue: %v", err)
	}
	resp = h.mustDo(t, engines.ReadOperation, "static-creds/app", "")
	second := str(t, resp, "password")
	if second == first {
		t.Fatal("password unchanged after a due rotation")
	}
	e.mustConnect(t, user, second)
	e.loginFails(t, user, first)
	if resp.Data["previous_password"] != first || resp.Data["ttl"] != int64(5) {
		t.Errorf("after rotation: %v", resp.Data)
	}
	clock.Advance(3 * time.Second)
	if _, ok := h.mustDo(t, engines.ReadOperation, "static-creds/app", "").Data["previous_password"]; ok {
		t.Error("previous_password after the grace window")
	}

	// rotate-role rotates now.
	h.mustDo(t, engines.UpdateOperation, "rotate-role/app", "")
	third := str(t, h.mustDo(t, engines.ReadOperation, "static-creds/app", ""), "password")
	if third == second {
		t.Fatal("rotate-role did not rotate")
	}
	e.mustConnect(t, user, third)

	// The username cannot change; the period can, and it reschedules.
	h.mustFail(t, engines.UpdateOperation, "static-roles/app", `{"username":"other"}`, engines.CodeInvalidRequest, "username")
	h.mustDo(t, engines.UpdateOperation, "static-roles/app", `{"rotation_schedule":"0 0 * * *"}`)
	resp = h.mustDo(t, engines.ReadOperation, "static-creds/app", "")
	if resp.Data["rotation_schedule"] != "0 0 * * *" || resp.Data["rotation_period"] != nil {
		t.Errorf("after switching to a schedule: %v", resp.Data)
	}
	enginestest.JSONEqual(t, h.mustDo(t, engines.ListOperation, "static-roles", "").Data, `{"keys":["app"]}`)
	h.mustDo(t, engines.DeleteOperation, "static-roles/app", "")
	if keys := h.storage.KeysWithPrefix(""); len(keys) != 1 || keys[0] != "config/pg" {
		t.Errorf("storage after delete: %q", keys)
	}
	e.mustConnect(t, user, third) // deleting the role leaves the password
}

func TestStaticRoleFirstRotationFailure(t *testing.T) {
	e := mustPGEnv(t)
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
	h.mustFail(t, engines.UpdateOperation, "static-roles/ghost", `{"db_name":"pg","username":"no_such_user_x","rotation_period":60}`,
		engines.CodeInternal, "SQLSTATE 42704")
	if keys := h.storage.KeysWithPrefix(""); len(keys) != 1 {
		t.Errorf("a failed static role left %q", keys)
	}
}

func TestStaticRotationRecovery(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pgChanged bool
	}{
		{"postgres changed: completed", true},
		{"postgres unchanged: rolled back", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustPGEnv(t)
			clock := enginestest.NewClock(time.Now())
			h := mustBackend(t, &engines.BackendConfig{Clock: clock.Now})
			h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
			user, _ := mustStaticUser(t, e)
			h.mustDo(t, engines.UpdateOperation, "static-roles/app", fmt.Sprintf(`{"db_name":"pg","username":%q,"rotation_period":3600}`, user))
			current := str(t, h.mustDo(t, engines.ReadOperation, "static-creds/app", ""), "password")

			// A crash after step 2 (and, in one case, step 3).
			started := clock.Now().Add(time.Minute)
			wal := rotationWAL{Role: "app", DBName: "pg", Username: user, NewPassword: "Crash3dRotationPassw0rd", Started: started}
			if err := h.b.putJSON(context.Background(), walPrefix+"app", &wal); err != nil {
				t.Fatal(err)
			}
			if tc.pgChanged {
				e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s PASSWORD %s", quoteIdent(user), quoteLiteral(wal.NewPassword)))
			}

			// A new backend (the next leader) over the same storage.
			be, err := Factory(context.Background(), &engines.BackendConfig{MountPath: "database/", Storage: h.storage, Clock: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			next := be.(*backend)
			t.Cleanup(func() { _ = next.Close() })
			if err := next.RotateDue(context.Background(), clock.Now()); err != nil {
				t.Fatalf("RotateDue: %v", err)
			}
			if keys := h.storage.KeysWithPrefix(walPrefix); keys != nil {
				t.Fatalf("rotation entry left: %q", keys)
			}
			acct, err := next.loadAccount(context.Background(), "app")
			if err != nil {
				t.Fatal(err)
			}
			want := current
			if tc.pgChanged {
				want = wal.NewPassword
				if !acct.LastRotation.Equal(started) || acct.PreviousPassword != current {
					t.Errorf("recovered account %+v", acct)
				}
			}
			if acct.Password != want {
				t.Fatalf("stored password is not the one PostgreSQL has")
			}
			e.mustConnect(t, user, acct.Password)
		})
	}
}

// TestStaticRotationRecoveryNeitherWorks: PostgreSQL has a third
// password; recovery drops the entry and the role is rotated at once.
func TestStaticRotationRecoveryNeitherWorks(t *testing.T) {
	e := mustPGEnv(t)
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
	user, _ := mustStaticUser(t, e)
	h.mustDo(t, engines.UpdateOperation, "static-roles/app", fmt.Sprintf(`{"db_name":"pg","username":%q,"rotation_period":3600}`, user))
	e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s PASSWORD 'Changed-by-someone-else'", quoteIdent(user)))
	wal := rotationWAL{Role: "app", DBName: "pg", Username: user, NewPassword: "Neither1", Started: time.Now()}
	if err := h.b.putJSON(context.Background(), walPrefix+"app", &wal); err != nil {
		t.Fatal(err)
	}
	if err := h.b.RotateDue(context.Background(), time.Now()); err != nil {
		t.Fatalf("RotateDue: %v", err)
	}
	e.mustConnect(t, user, str(t, h.mustDo(t, engines.ReadOperation, "static-creds/app", ""), "password"))
}

// TestScheduler runs the leader service: a due role is rotated without
// anyone calling RotateDue.
func TestScheduler(t *testing.T) {
	e := mustPGEnv(t)
	clock := enginestest.NewClock(time.Now())
	var svc func(ctx context.Context)
	h := mustBackend(t, &engines.BackendConfig{Clock: clock.Now, RunWhileLeader: func(_ string, s func(ctx context.Context)) func() {
		svc = s
		return func() {}
	}})
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(""))
	user, _ := mustStaticUser(t, e)
	h.mustDo(t, engines.UpdateOperation, "static-roles/app", fmt.Sprintf(`{"db_name":"pg","username":%q,"rotation_period":5}`, user))
	first := str(t, h.mustDo(t, engines.ReadOperation, "static-creds/app", ""), "password")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	clock.Advance(6 * time.Second)
	h.b.sched.wake()
	waitFor(t, "a scheduled rotation", 10*time.Second, func() bool {
		acct, err := h.b.loadAccount(context.Background(), "app")
		return err == nil && acct.Password != first
	})
	e.mustConnect(t, user, str(t, h.mustDo(t, engines.ReadOperation, "static-creds/app", ""), "password"))
}
