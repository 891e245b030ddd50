package userpass

import (
	"context"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

// cheapKDF keeps unit tests fast; BenchmarkUserpassLogin and
// TestDefaultKDFCost use the real parameters.
var cheapKDF = kdfParams{time: 1, memory: 64, threads: 1, saltLen: 16, keyLen: 32}

const clientAddr = "192.0.2.10:50000"

type harness struct {
	backend *backend
	storage *enginestest.Storage
}

func mustHarness(tb testing.TB, kdf kdfParams) *harness {
	tb.Helper()
	s := enginestest.NewStorage()
	b, err := newBackend(&engines.BackendConfig{MountPath: "auth/userpass/", Storage: s}, kdf)
	if err != nil {
		tb.Fatalf("newBackend: %v", err)
	}
	return &harness{backend: b, storage: s}
}

// The request helpers every engine test shares.
var (
	body       = enginestest.Body
	assertCode = enginestest.AssertCode
	jsonEqual  = enginestest.JSONEqual
)

func (h *harness) do(op engines.Operation, path, remote string, data map[string]any) (*engines.Response, error) {
	return h.backend.HandleRequest(context.Background(), &engines.Request{
		ID: "test", Operation: op, Path: path, MountPoint: "auth/userpass/", Data: data, RemoteAddr: remote,
	})
}

func (h *harness) mustDo(tb testing.TB, op engines.Operation, path, jsonBody string) *engines.Response {
	tb.Helper()
	resp, err := h.do(op, path, clientAddr, body(tb, jsonBody))
	if err != nil {
		tb.Fatalf("%s %s %s: %v", op, path, jsonBody, err)
	}
	return resp
}

func (h *harness) mustFail(tb testing.TB, op engines.Operation, path, jsonBody string, code engines.Code, msg string) {
	tb.Helper()
	resp, err := h.do(op, path, clientAddr, body(tb, jsonBody))
	if err == nil {
		tb.Fatalf("%s %s %s: got %+v, want error %d %q", op, path, jsonBody, resp, code, msg)
	}
	assertCode(tb, err, code, msg)
}

func (h *harness) login(remote, user, password string) (*engines.Response, error) {
	return h.do(engines.UpdateOperation, "login/"+user, remote, map[string]any{"password": password})
}

func (h *harness) mustLogin(tb testing.TB, user, password string) *engines.Auth {
	tb.Helper()
	resp, err := h.login(clientAddr, user, password)
	if err != nil {
		tb.Fatalf("login %s: %v", user, err)
	}
	if resp == nil || resp.Auth == nil || resp.Auth.ClientToken != "" {
		tb.Fatalf("login %s: want an auth block without a token, got %+v", user, resp)
	}
	return resp.Auth
}
