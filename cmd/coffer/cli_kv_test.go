package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestSplitKVPath(t *testing.T) {
	v2 := kvMount{path: "secret/", version: 2}
	v1 := kvMount{path: "kv/", version: 1}
	nested := kvMount{path: "team/a/", version: 2}
	tests := []struct {
		name      string
		mountFlag string
		arg       string
		m         kvMount
		want      kvPath
		data      string // apiPath("data")
	}{
		{name: "v2 path syntax", arg: "secret/foo/bar", m: v2, want: kvPath{mount: "secret/", key: "foo/bar", v2: true}, data: "secret/data/foo/bar"},
		{name: "v2 mount flag", mountFlag: "secret", arg: "foo", m: v2, want: kvPath{mount: "secret/", key: "foo", v2: true}, data: "secret/data/foo"},
		{name: "v2 mount root", arg: "secret", m: v2, want: kvPath{mount: "secret/", key: "", v2: true}, data: "secret/data"},
		{name: "v2 leading slash", arg: "/secret/foo/", m: v2, want: kvPath{mount: "secret/", key: "foo", v2: true}, data: "secret/data/foo"},
		{name: "nested mount", arg: "team/a/db", m: nested, want: kvPath{mount: "team/a/", key: "db", v2: true}, data: "team/a/data/db"},
		{name: "v1", arg: "kv/foo", m: v1, want: kvPath{mount: "kv/", key: "foo"}, data: "kv/foo"},
		{name: "v1 mount flag", mountFlag: "kv/", arg: "foo", m: v1, want: kvPath{mount: "kv/", key: "foo"}, data: "kv/foo"},
		{name: "unknown mount falls back to v1 full path", arg: "old/foo", m: kvMount{version: 1}, want: kvPath{key: "old/foo"}, data: "old/foo"},
		{name: "unknown mount with flag uses flag", mountFlag: "old", arg: "foo", m: kvMount{version: 1}, want: kvPath{mount: "old/", key: "foo"}, data: "old/foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitKVPath(tt.mountFlag, tt.arg, tt.m)
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if d := got.apiPath("data"); d != tt.data {
				t.Fatalf("apiPath(data) = %q, want %q", d, tt.data)
			}
		})
	}
}

func TestLookupKVMount(t *testing.T) {
	f := mustFakeServer(t)
	cl, err := newAPIClient(commonFlags{address: f.URL}, func(string) string { return "" }, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		noUI    bool
		want    kvMount
		wantErr bool
	}{
		{name: "v2", path: "secret/foo/bar", want: kvMount{path: "secret/", version: 2}},
		{name: "v1", path: "kv1/foo", want: kvMount{path: "kv1/", version: 1}},
		{name: "server refuses", path: "nothing/here", wantErr: true},
		{name: "endpoint missing means v1", path: "secret/foo", noUI: true, want: kvMount{version: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.noUIPath = tt.noUI
			f.mu.Unlock()
			got, err := lookupKVMount(context.Background(), cl, tt.path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			last := f.requests(true)
			if p := last[len(last)-1].Path; p != "sys/internal/ui/mounts/"+tt.path {
				t.Fatalf("looked up %q", p)
			}
		})
	}
}

// mustCLI runs the CLI and fails the test unless it exits with want.
func (f *fakeServer) mustCLI(tb testing.TB, want int, stdin string, args ...string) cliResult {
	tb.Helper()
	r := f.runCLI(tb, stdin, args...)
	if r.code != want {
		tb.Fatalf("coffer %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func TestKVPutGetV2(t *testing.T) {
	f := mustFakeServer(t)
	r := f.mustCLI(t, 0, "", "kv", "put", "secret/app", "user=admin", "pass=s3cr3t")
	req := f.last(t)
	if req.Method != "PUT" || req.Path != "secret/data/app" {
		t.Fatalf("request = %s %s", req.Method, req.Path)
	}
	wantBody := map[string]any{"data": map[string]any{"user": "admin", "pass": "s3cr3t"}, "options": map[string]any{}}
	if !reflect.DeepEqual(req.Body, wantBody) {
		t.Fatalf("body = %#v", req.Body)
	}
	for _, s := range []string{"= Secret Path =\nsecret/data/app\n", "======= Metadata =======", "version            1"} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("put output lacks %q:\n%s", s, r.stdout)
		}
	}

	r = f.mustCLI(t, 0, "", "kv", "get", "-mount=secret", "app")
	for _, s := range []string{"==== Data ====\nKey     Value\n---     -----\npass    s3cr3t\nuser    admin"} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("get output lacks %q:\n%s", s, r.stdout)
		}
	}

	r = f.mustCLI(t, 0, "", "kv", "get", "-field=pass", "secret/app")
	if r.stdout != "s3cr3t" {
		t.Fatalf("-field output = %q, want raw value without newline", r.stdout)
	}

	r = f.mustCLI(t, 0, "", "kv", "get", "-format=json", "secret/app")
	var env struct {
		Data struct {
			Data     map[string]string `json:"data"`
			Metadata map[string]any    `json:"metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &env); err != nil {
		t.Fatalf("json output: %v\n%s", err, r.stdout)
	}
	if env.Data.Data["user"] != "admin" {
		t.Fatalf("json data = %v", env.Data.Data)
	}

	f.mustCLI(t, 2, "", "kv", "get", "secret/missing")
	f.mustCLI(t, 1, "", "kv", "get", "-field=nope", "secret/app")
}

func TestKVPutOptions(t *testing.T) {
	f := mustFakeServer(t)
	f.mustCLI(t, 0, "", "kv", "put", "-cas=0", "secret/a", "k=v")
	if opts := f.last(t).Body["options"]; !reflect.DeepEqual(opts, map[string]any{"cas": json.Number("0")}) {
		t.Fatalf("options = %#v", opts)
	}
	r := f.mustCLI(t, 2, "", "kv", "put", "-cas=0", "secret/a", "k=v2")
	if !strings.Contains(r.stderr, "Error writing data to secret/data/a") {
		t.Fatalf("stderr = %s", r.stderr)
	}
	f.mustCLI(t, 0, `{"j":"son"}`, "kv", "put", "secret/b", "-")
	if d := f.last(t).Body["data"]; !reflect.DeepEqual(d, map[string]any{"j": "son"}) {
		t.Fatalf("stdin json data = %#v", d)
	}
	f.mustCLI(t, 0, "from-stdin", "kv", "put", "secret/c", "v=-")
	if d := f.last(t).Body["data"]; !reflect.DeepEqual(d, map[string]any{"v": "from-stdin"}) {
		t.Fatalf("stdin value data = %#v", d)
	}
	r = f.mustCLI(t, 1, "", "kv", "put", "secret/d")
	if !strings.Contains(r.stderr, "Must supply data") {
		t.Fatalf("stderr = %s", r.stderr)
	}
	f.mustCLI(t, 1, "", "kv", "put", "secret/d", "novalue")
	// Flags after the path are positional data, as with Vault's CLI.
	f.mustCLI(t, 0, "", "kv", "put", "secret/d", "-cas=1")
	if d := f.last(t).Body["data"]; !reflect.DeepEqual(d, map[string]any{"-cas": "1"}) {
		t.Fatalf("late flag data = %#v", d)
	}
}

func TestKVDeletedVersion(t *testing.T) {
	f := mustFakeServer(t)
	f.mustCLI(t, 0, "", "kv", "put", "secret/app", "a=1")
	f.mustCLI(t, 0, "", "kv", "put", "secret/app", "a=2")

	r := f.mustCLI(t, 0, "", "kv", "delete", "secret/app")
	if req := f.last(t); req.Method != "DELETE" || req.Path != "secret/data/app" {
		t.Fatalf("delete request = %s %s", req.Method, req.Path)
	}
	if !strings.Contains(r.stdout, "Success! Data deleted (if it existed) at: secret/data/app") {
		t.Fatalf("stdout = %s", r.stdout)
	}
	r = f.mustCLI(t, 2, "", "kv", "get", "secret/app")
	if !strings.Contains(r.stdout, "deletion_time") || !strings.Contains(r.stderr, "Version 2 of secret/data/app has been deleted") {
		t.Fatalf("deleted get:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "== Data ==") {
		t.Fatalf("deleted version printed a data section:\n%s", r.stdout)
	}
	f.mustCLI(t, 0, "", "kv", "get", "-version=1", "secret/app")

	f.mustCLI(t, 0, "", "kv", "undelete", "-versions=2", "secret/app")
	if req := f.last(t); req.Path != "secret/undelete/app" || !reflect.DeepEqual(req.Body, map[string]any{"versions": []any{json.Number("2")}}) {
		t.Fatalf("undelete request = %+v", req)
	}
	r = f.mustCLI(t, 0, "", "kv", "get", "-field=a", "secret/app")
	if r.stdout != "2" {
		t.Fatalf("after undelete a = %q", r.stdout)
	}

	f.mustCLI(t, 0, "", "kv", "delete", "-versions=1,2", "secret/app")
	if req := f.last(t); req.Method != "PUT" || req.Path != "secret/delete/app" ||
		!reflect.DeepEqual(req.Body, map[string]any{"versions": []any{json.Number("1"), json.Number("2")}}) {
		t.Fatalf("delete -versions request = %+v", req)
	}
	f.mustCLI(t, 0, "", "kv", "destroy", "-versions=1", "-mount=secret", "app")
	if req := f.last(t); req.Path != "secret/destroy/app" {
		t.Fatalf("destroy request = %+v", req)
	}
	r = f.mustCLI(t, 2, "", "kv", "get", "-version=1", "secret/app")
	if !strings.Contains(r.stderr, "destroyed") {
		t.Fatalf("stderr = %s", r.stderr)
	}
	r = f.mustCLI(t, 1, "", "kv", "destroy", "secret/app")
	if !strings.Contains(r.stderr, `use the "-versions" flag`) {
		t.Fatalf("stderr = %s", r.stderr)
	}
}

func TestKVPatch(t *testing.T) {
	f := mustFakeServer(t)
	f.mustCLI(t, 0, "", "kv", "put", "secret/app", "a=1", "b=2")
	f.mustCLI(t, 0, "", "kv", "patch", "-remove-data=b", "secret/app", "c=3")
	req := f.last(t)
	if req.Method != "PATCH" || req.Path != "secret/data/app" {
		t.Fatalf("patch request = %s %s", req.Method, req.Path)
	}
	if want := map[string]any{"data": map[string]any{"c": "3", "b": nil}, "options": map[string]any{}}; !reflect.DeepEqual(req.Body, want) {
		t.Fatalf("patch body = %#v", req.Body)
	}
	r := f.mustCLI(t, 0, "", "kv", "get", "-format=json", "-field=data", "secret/app")
	var data map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &data); err != nil || !reflect.DeepEqual(data, map[string]string{"a": "1", "c": "3"}) {
		t.Fatalf("after patch data = %s (%v)", r.stdout, err)
	}

	// A server without PATCH gets read-then-write with check-and-set.
	f.mu.Lock()
	f.noPatch = true
	f.mu.Unlock()
	f.mustCLI(t, 0, "", "kv", "patch", "secret/app", "d=4")
	req = f.last(t)
	if req.Method != "PUT" || !reflect.DeepEqual(req.Body["options"], map[string]any{"cas": json.Number("2")}) {
		t.Fatalf("fallback write = %+v", req)
	}
	f.mustCLI(t, 2, "", "kv", "patch", "-method=patch", "secret/app", "d=5")
	r = f.mustCLI(t, 2, "", "kv", "patch", "kv1/app", "d=5")
	if !strings.Contains(r.stderr, "must be version 2") {
		t.Fatalf("stderr = %s", r.stderr)
	}
}

func TestKVListAndMetadata(t *testing.T) {
	f := mustFakeServer(t)
	for _, k := range []string{"app/db", "app/web", "other"} {
		f.mustCLI(t, 0, "", "kv", "put", "secret/"+k, "x=y")
	}
	r := f.mustCLI(t, 0, "", "kv", "list", "secret/app")
	if req := f.last(t); req.Method != "LIST" || req.Path != "secret/metadata/app" {
		t.Fatalf("list request = %s %s", req.Method, req.Path)
	}
	if r.stdout != "Keys\n----\ndb\nweb\n" {
		t.Fatalf("list output = %q", r.stdout)
	}
	r = f.mustCLI(t, 0, "", "kv", "list", "-mount=secret", "-format=json")
	var keys []string
	if err := json.Unmarshal([]byte(r.stdout), &keys); err != nil || !reflect.DeepEqual(keys, []string{"app/", "other"}) {
		t.Fatalf("json list = %s (%v)", r.stdout, err)
	}
	f.mustCLI(t, 2, "", "kv", "list", "secret/nothing")
	f.mustCLI(t, 1, "", "kv", "list")

	f.mustCLI(t, 0, "", "kv", "put", "secret/other", "x=z")
	r = f.mustCLI(t, 0, "", "kv", "metadata", "get", "secret/other")
	for _, s := range []string{"=== Metadata Path ===\nsecret/metadata/other\n", "current_version         2", "== Version 1 ==", "== Version 2 =="} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("metadata get lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Index(r.stdout, "Version 1") > strings.Index(r.stdout, "Version 2") {
		t.Fatalf("versions out of order:\n%s", r.stdout)
	}

	f.mustCLI(t, 0, "", "kv", "metadata", "put", "-max-versions=5", "-cas-required", "-delete-version-after=1h30m",
		"-custom-metadata=owner=ops", "-custom-metadata=tier=1", "secret/other")
	req := f.last(t)
	want := map[string]any{"max_versions": json.Number("5"), "cas_required": true, "delete_version_after": "1h30m0s",
		"custom_metadata": map[string]any{"owner": "ops", "tier": "1"}}
	if req.Path != "secret/metadata/other" || !reflect.DeepEqual(req.Body, want) {
		t.Fatalf("metadata put = %s %#v", req.Path, req.Body)
	}
	f.mustCLI(t, 0, "", "kv", "metadata", "put", "-cas-required=false", "secret/other")
	if body := f.last(t).Body; !reflect.DeepEqual(body, map[string]any{"cas_required": false}) {
		t.Fatalf("metadata put sends unset settings: %#v", body)
	}

	r = f.mustCLI(t, 0, "", "kv", "metadata", "delete", "secret/other")
	if req := f.last(t); req.Method != "DELETE" || req.Path != "secret/metadata/other" {
		t.Fatalf("metadata delete = %s %s", req.Method, req.Path)
	}
	f.mustCLI(t, 2, "", "kv", "metadata", "get", "secret/other")
	f.mustCLI(t, 1, "", "kv", "metadata", "get", "kv1/x")
}

func TestKVVersion1(t *testing.T) {
	f := mustFakeServer(t)
	r := f.mustCLI(t, 0, "", "kv", "put", "kv1/app", "a=1")
	if req := f.last(t); req.Path != "kv1/app" || !reflect.DeepEqual(req.Body, map[string]any{"a": "1"}) {
		t.Fatalf("v1 put = %+v", req)
	}
	if !strings.Contains(r.stdout, "Success! Data written to: kv1/app") {
		t.Fatalf("stdout = %s", r.stdout)
	}
	r = f.mustCLI(t, 0, "", "kv", "get", "-mount=kv1", "app")
	if !strings.Contains(r.stdout, "== Data ==") || !strings.Contains(r.stdout, "a      1") {
		t.Fatalf("v1 get:\n%s", r.stdout)
	}
	f.mustCLI(t, 0, "", "kv", "list", "kv1")
	if req := f.last(t); req.Method != "LIST" || req.Path != "kv1" {
		t.Fatalf("v1 list path = %q", req.Path)
	}
	f.mustCLI(t, 0, "", "kv", "delete", "kv1/app")
	if req := f.last(t); req.Method != "DELETE" || req.Path != "kv1/app" {
		t.Fatalf("v1 delete = %+v", req)
	}
	f.mustCLI(t, 1, "", "kv", "undelete", "-versions=1", "kv1/app")
}
