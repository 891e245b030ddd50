package engines_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

// echo is a backend that records what it was asked and stores a key.
type echo struct{ conf *engines.BackendConfig }

func (e *echo) HandleRequest(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	if err := e.conf.Storage.Put(ctx, "seen", []byte(req.Path)); err != nil {
		return nil, err
	}
	return &engines.Response{Data: map[string]any{"path": req.Path, "mount": req.MountPoint}}, nil
}

func echoFactory(_ context.Context, conf *engines.BackendConfig) (engines.Backend, error) {
	return &echo{conf: conf}, nil
}

func mustRouter(tb testing.TB, s engines.Storage) *engines.Router {
	tb.Helper()
	r := engines.NewRouter(engines.SecretsRouterConfig(s, map[string]engines.Factory{"echo": echoFactory}))
	if err := r.Load(context.Background()); err != nil {
		tb.Fatalf("load: %v", err)
	}
	return r
}

func TestRouterLongestPrefix(t *testing.T) {
	ctx := context.Background()
	s := enginestest.NewStorage()
	r := mustRouter(t, s)
	for _, p := range []string{"a", "a/b/", "/c/"} {
		if err := r.Mount(ctx, engines.MountEntry{Path: p, Type: "echo"}); err == nil && p == "a/b/" {
			t.Fatal("mount under an existing mount succeeded")
		}
	}
	if err := r.Mount(ctx, engines.MountEntry{Path: "ab", Type: "echo"}); err != nil {
		t.Fatalf("mount ab/ next to a/: %v", err)
	}
	cases := []struct{ path, mount, rel string }{
		{"a/x/y", "a/", "x/y"},
		{"ab/z", "ab/", "z"},
		{"c/", "c/", ""},
		{"c", "c/", ""},
	}
	for _, tc := range cases {
		resp, err := r.Route(ctx, &engines.Request{Path: tc.path, Operation: engines.ReadOperation})
		if err != nil {
			t.Fatalf("route %s: %v", tc.path, err)
		}
		if resp.Data["mount"] != tc.mount || resp.Data["path"] != tc.rel {
			t.Errorf("route %s: got mount %v path %v, want %s %s", tc.path, resp.Data["mount"], resp.Data["path"], tc.mount, tc.rel)
		}
	}
	_, err := r.Route(ctx, &engines.Request{Path: "nope/x"})
	if code, _ := engines.CodeOf(err); code != engines.CodeNotFound {
		t.Fatalf("unknown mount: got %v", err)
	}
}

func TestRouterPersistsAndUnmountClears(t *testing.T) {
	ctx := context.Background()
	s := enginestest.NewStorage()
	r := mustRouter(t, s)
	if err := r.Mount(ctx, engines.MountEntry{Path: "m/", Type: "echo", Options: map[string]string{"k": "v"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if _, err := r.Route(ctx, &engines.Request{Path: "m/thing"}); err != nil {
		t.Fatalf("route: %v", err)
	}
	// A second router over the same storage sees the same table.
	r2 := mustRouter(t, s)
	ms := r2.Mounts()
	if len(ms) != 1 || ms[0].Path != "m/" || ms[0].Options["k"] != "v" || ms[0].UUID == "" {
		t.Fatalf("reloaded mounts: %+v", ms)
	}
	dataKey := "logical/" + ms[0].UUID + "/seen"
	if v, _ := s.Get(ctx, dataKey); string(v) != "thing" {
		t.Fatalf("backend data at %s: %q", dataKey, v)
	}
	if err := r2.Unmount(ctx, "m"); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	for _, k := range s.Keys() {
		if strings.HasPrefix(k, "logical/") {
			t.Fatalf("unmount left %s behind", k)
		}
	}
	if len(mustRouter(t, s).Mounts()) != 0 {
		t.Fatal("unmount not persisted")
	}
}

func TestRouterRejects(t *testing.T) {
	ctx := context.Background()
	r := mustRouter(t, enginestest.NewStorage())
	for _, e := range []engines.MountEntry{
		{Path: "", Type: "echo"},
		{Path: "sys/x", Type: "echo"},
		{Path: "auth/", Type: "echo"},
		{Path: "x", Type: "unknown"},
	} {
		err := r.Mount(ctx, e)
		var ee *engines.Error
		if !errors.As(err, &ee) || ee.Code != engines.CodeInvalidRequest {
			t.Errorf("mount %+v: want a 400-class error, got %v", e, err)
		}
	}
}
