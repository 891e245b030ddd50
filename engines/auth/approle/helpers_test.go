package approle_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"coffer/engines"
	"coffer/engines/auth/approle"
	"coffer/engines/enginestest"
)

var epoch = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// harness is one AppRole mount over in-memory storage and a fake clock.
type harness struct {
	backend engines.Backend
	storage *enginestest.Storage
	clock   *enginestest.Clock
}

const clientAddr = "10.1.2.3:40000"

func mustHarness(tb testing.TB) *harness {
	tb.Helper()
	h := &harness{storage: enginestest.NewStorage(), clock: enginestest.NewClock(epoch)}
	b, err := approle.Factory(context.Background(), &engines.BackendConfig{
		MountPath: "auth/approle/",
		Storage:   h.storage,
		Clock:     h.clock.Now,
	})
	if err != nil {
		tb.Fatalf("Factory: %v", err)
	}
	h.backend = b
	return h
}

// The request helpers every engine test shares.
var (
	body       = enginestest.Body
	assertCode = enginestest.AssertCode
	jsonEqual  = enginestest.JSONEqual
)

func (h *harness) do(op engines.Operation, path, remote string, data map[string]any) (*engines.Response, error) {
	return h.backend.HandleRequest(context.Background(), &engines.Request{
		ID: "test", Operation: op, Path: path, MountPoint: "auth/approle/",
		Data: data, RemoteAddr: remote,
	})
}

// mustDo runs a request that must succeed.
func (h *harness) mustDo(tb testing.TB, op engines.Operation, path, jsonBody string) *engines.Response {
	tb.Helper()
	resp, err := h.do(op, path, clientAddr, body(tb, jsonBody))
	if err != nil {
		tb.Fatalf("%s %s %s: %v", op, path, jsonBody, err)
	}
	return resp
}

// mustFail runs a request that must fail with code and a message
// containing msg.
func (h *harness) mustFail(tb testing.TB, op engines.Operation, path, jsonBody string, code engines.Code, msg string) {
	tb.Helper()
	resp, err := h.do(op, path, clientAddr, body(tb, jsonBody))
	if err == nil {
		tb.Fatalf("%s %s %s: got %+v, want error %d %q", op, path, jsonBody, resp, code, msg)
	}
	assertCode(tb, err, code, msg)
}

// mustRole creates role name with the JSON settings and returns its role ID.
func (h *harness) mustRole(tb testing.TB, name, settings string) string {
	tb.Helper()
	h.mustDo(tb, engines.UpdateOperation, "role/"+name, settings)
	resp := h.mustDo(tb, engines.ReadOperation, "role/"+name+"/role-id", "")
	id, _ := resp.Data["role_id"].(string)
	if id == "" {
		tb.Fatalf("role %s has no role_id: %+v", name, resp.Data)
	}
	return id
}

// mustSecretID generates a secret ID for role name and returns it and its
// accessor.
func (h *harness) mustSecretID(tb testing.TB, name, opts string) (secretID, accessor string) {
	tb.Helper()
	resp := h.mustDo(tb, engines.UpdateOperation, "role/"+name+"/secret-id", opts)
	secretID, _ = resp.Data["secret_id"].(string)
	accessor, _ = resp.Data["secret_id_accessor"].(string)
	if secretID == "" || accessor == "" {
		tb.Fatalf("secret-id response: %+v", resp.Data)
	}
	return secretID, accessor
}

// login logs in from remote.
func (h *harness) login(remote, roleID, secretID string) (*engines.Response, error) {
	data := map[string]any{"role_id": roleID}
	if secretID != "" {
		data["secret_id"] = secretID
	}
	return h.do(engines.UpdateOperation, "login", remote, data)
}

func (h *harness) mustLogin(tb testing.TB, roleID, secretID string) *engines.Auth {
	tb.Helper()
	resp, err := h.login(clientAddr, roleID, secretID)
	if err != nil {
		tb.Fatalf("login: %v", err)
	}
	if resp == nil || resp.Auth == nil {
		tb.Fatalf("login: no auth block: %+v", resp)
	}
	if resp.Auth.ClientToken != "" {
		tb.Fatal("login returned a token; the system backend makes it")
	}
	return resp.Auth
}

func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	return b
}
