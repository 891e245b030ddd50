package kv

import (
	"context"
	"testing"
	"time"

	"coffer/engines"
	"coffer/engines/enginestest"
)

var epoch = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// harness is one KV mount over in-memory storage and a fake clock.
type harness struct {
	backend engines.Backend
	storage *enginestest.Storage
	clock   *enginestest.Clock
}

func mustHarness(tb testing.TB, version string) *harness {
	tb.Helper()
	h := &harness{storage: enginestest.NewStorage(), clock: enginestest.NewClock(epoch)}
	b, err := Factory(context.Background(), &engines.BackendConfig{
		MountPath: "secret/",
		Options:   map[string]string{"version": version},
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

func (h *harness) do(tb testing.TB, op engines.Operation, path string, data map[string]any) (*engines.Response, error) {
	tb.Helper()
	if data == nil {
		data = map[string]any{}
	}
	return h.backend.HandleRequest(context.Background(), &engines.Request{
		ID: "test", Operation: op, Path: path, MountPoint: "secret/", Data: data,
	})
}

// mustDo runs a request that must succeed.
func (h *harness) mustDo(tb testing.TB, op engines.Operation, path, jsonBody string) *engines.Response {
	tb.Helper()
	resp, err := h.do(tb, op, path, body(tb, jsonBody))
	if err != nil {
		tb.Fatalf("%s %s %s: %v", op, path, jsonBody, err)
	}
	return resp
}

// mustFail runs a request that must fail with code and, if msg is not
// empty, a message containing msg.
func (h *harness) mustFail(tb testing.TB, op engines.Operation, path, jsonBody string, code engines.Code, msg string) {
	tb.Helper()
	resp, err := h.do(tb, op, path, body(tb, jsonBody))
	if err == nil {
		tb.Fatalf("%s %s %s: got response %+v, want error code %d", op, path, jsonBody, resp, code)
	}
	assertCode(tb, err, code, msg)
}

// put writes a v2 version and returns its version number.
func (h *harness) put(tb testing.TB, key, jsonBody string) uint64 {
	tb.Helper()
	resp := h.mustDo(tb, engines.UpdateOperation, "data/"+key, jsonBody)
	if resp == nil {
		tb.Fatalf("write data/%s: nil response", key)
	}
	return resp.Data["version"].(uint64)
}

// get reads data/<key> (with an optional version query) and returns the
// response, which may be nil.
func (h *harness) get(tb testing.TB, key string, query map[string]any) *engines.Response {
	tb.Helper()
	resp, err := h.do(tb, engines.ReadOperation, "data/"+key, query)
	if err != nil {
		tb.Fatalf("read data/%s: %v", key, err)
	}
	return resp
}

func dataOf(tb testing.TB, resp *engines.Response) map[string]any {
	tb.Helper()
	if resp == nil {
		tb.Fatal("nil response")
	}
	d, _ := resp.Data["data"].(map[string]any)
	return d
}

func metaOf(tb testing.TB, resp *engines.Response) map[string]any {
	tb.Helper()
	if resp == nil {
		tb.Fatal("nil response")
	}
	m, ok := resp.Data["metadata"].(map[string]any)
	if !ok {
		tb.Fatalf("response has no metadata: %+v", resp.Data)
	}
	return m
}
