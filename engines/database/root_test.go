package database

import (
	"context"
	"fmt"
	"testing"
	"time"

	"coffer/engines"
)

func TestRotateRoot(t *testing.T) {
	e := mustPGEnv(t)
	h := mustMount(t, e, "")
	h.mustDo(t, engines.ReadOperation, "creds/ro", "") // a pooled connection with the old password
	h.mustDo(t, engines.UpdateOperation, "rotate-root/pg", "")
	e.loginFails(t, e.admin, e.adminPass)
	cfg, err := h.b.loadConfig(context.Background(), "pg")
	if err != nil || cfg.Password == e.adminPass || cfg.PendingPassword != "" {
		t.Fatalf("stored config after rotation: err %v, pending set %v", err, cfg.PendingPassword != "")
	}
	e.mustConnect(t, e.admin, cfg.Password)
	resp := h.mustDo(t, engines.ReadOperation, "creds/ro", "")
	e.mustConnect(t, str(t, resp, "username"), str(t, resp, "password"))
	if _, ok := h.mustDo(t, engines.ReadOperation, "config/pg", "").Data["password"]; ok {
		t.Fatal("config read returns a password")
	}
}

// TestRotateRootRecovery: a crash after PostgreSQL took the pending
// password but before Coffer committed it; the next connection finds
// the current password refused, tries the pending one and promotes it.
func TestRotateRootRecovery(t *testing.T) {
	e := mustPGEnv(t)
	h := mustMount(t, e, "")
	ctx := context.Background()
	cfg, err := h.b.loadConfig(ctx, "pg")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PendingPassword = "Pending-R00t-password"
	if err := h.b.putJSON(ctx, configPrefix+"pg", cfg); err != nil {
		t.Fatal(err)
	}
	e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s PASSWORD %s", quoteIdent(e.admin), quoteLiteral(cfg.PendingPassword)))
	h.mustDo(t, engines.UpdateOperation, "reset/pg", "")

	resp := h.mustDo(t, engines.ReadOperation, "creds/ro", "")
	if err := h.b.RevokeSecret(ctx, secretRequest(h, resp, time.Time{})); err != nil {
		t.Fatal(err)
	}
	got, err := h.b.loadConfig(ctx, "pg")
	if err != nil || got.Password != "Pending-R00t-password" || got.PendingPassword != "" {
		t.Fatalf("pending password not promoted (err %v)", err)
	}
}

// TestRotateRootRefused: PostgreSQL refuses the statement; the old
// password stays and no pending one is left.
func TestRotateRootRefused(t *testing.T) {
	e := mustPGEnv(t)
	h := mustMount(t, e, "")
	h.mustDo(t, engines.UpdateOperation, "config/pg", `{"root_rotation_statements":["ALTER ROLE \"no_such_role_x\" PASSWORD '{{password}}'"]}`)
	h.mustFail(t, engines.UpdateOperation, "rotate-root/pg", "", engines.CodeInternal, "SQLSTATE 42704")
	cfg, err := h.b.loadConfig(context.Background(), "pg")
	if err != nil || cfg.Password != e.adminPass || cfg.PendingPassword != "" {
		t.Fatalf("config changed by a refused rotation (err %v)", err)
	}
	e.mustConnect(t, e.admin, e.adminPass)
}

func TestVerifyConnection(t *testing.T) {
	e := mustPGEnv(t)
	h := mustBackend(t, nil)
	e.adminPass += "-wrong"
	h.mustFail(t, engines.UpdateOperation, "config/pg", e.configBody(""), engines.CodeInvalidRequest, "error verifying connection")
	h.mustDo(t, engines.UpdateOperation, "config/pg", e.configBody(`,"verify_connection":false`))
}
