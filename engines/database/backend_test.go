package database

import (
	"context"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

const offlineConfig = `{"plugin_name":"postgresql-database-plugin","connection_url":"postgres://{{username}}:{{password}}@127.0.0.1:1/x","username":"admin","password":"s3cret","allowed_roles":["ro","static"],"verify_connection":false}`

func TestRequestErrors(t *testing.T) {
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "config/pg", offlineConfig)
	cases := []struct {
		op   engines.Operation
		path string
		body string
		code engines.Code
		msg  string
	}{
		{engines.ReadOperation, "nope/x", "", engines.CodeNotFound, "unsupported path"},
		{engines.DeleteOperation, "creds/x", "", engines.CodeUnsupportedOperation, ""},
		{engines.ReadOperation, "config/a/b", "", engines.CodeInvalidRequest, "invalid name"},
		{engines.UpdateOperation, "config/x", `{"plugin_name":"mysql-database-plugin","connection_url":"postgres://h/db"}`, engines.CodeInvalidRequest, "unsupported plugin_name"},
		{engines.UpdateOperation, "config/x", `{"connection_url":"postgres://h/db"}`, engines.CodeInvalidRequest, "plugin_name is required"},
		{engines.UpdateOperation, "config/x", `{"plugin_name":"postgresql-database-plugin"}`, engines.CodeInvalidRequest, "connection_url is required"},
		{engines.UpdateOperation, "config/x", `{"plugin_name":"postgresql-database-plugin","connection_url":"postgres://h/db","password_policy":"p","verify_connection":false}`, engines.CodeInvalidRequest, "password policy"},
		{engines.UpdateOperation, "config/x", `{"plugin_name":"postgresql-database-plugin","connection_url":"::nope::","verify_connection":false}`, engines.CodeInvalidRequest, "invalid connection_url"},
		{engines.UpdateOperation, "config/x", `{"plugin_name":"postgresql-database-plugin","connection_url":"postgres://h/db","username_template":"{{","verify_connection":false}`, engines.CodeInvalidRequest, "username_template"},
		{engines.UpdateOperation, "roles/r", `{"creation_statements":"x"}`, engines.CodeInvalidRequest, "db_name is required"},
		{engines.UpdateOperation, "roles/r", `{"db_name":"pg"}`, engines.CodeInvalidRequest, "creation_statements"},
		{engines.UpdateOperation, "roles/r", `{"db_name":"pg","creation_statements":"x","credential_type":"rsa_private_key"}`, engines.CodeInvalidRequest, "credential_type"},
		{engines.UpdateOperation, "roles/r", `{"db_name":"pg","creation_statements":"x","default_ttl":"2h","max_ttl":"1h"}`, engines.CodeInvalidRequest, "max_ttl"},
		{engines.UpdateOperation, "roles/r", `{"db_name":"pg","creation_statements":"x","default_ttl":"soon"}`, engines.CodeInvalidRequest, "default_ttl"},
		{engines.ReadOperation, "creds/none", "", engines.CodeInvalidRequest, "unknown role"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"pg","username":"u"}`, engines.CodeInvalidRequest, "rotation_period or rotation_schedule"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"pg","username":"u","rotation_period":"4s"}`, engines.CodeInvalidRequest, "5 seconds"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"pg","username":"u","rotation_period":60,"rotation_schedule":"* * * * *"}`, engines.CodeInvalidRequest, "mutually exclusive"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"pg","username":"u","rotation_schedule":"61 * * * *"}`, engines.CodeInvalidRequest, "rotation_schedule"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"pg","username":"u","rotation_schedule":"@daily","rotation_window":60}`, engines.CodeInvalidRequest, "rotation_window"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"pg","username":"u","rotation_period":60,"rotation_window":7200}`, engines.CodeInvalidRequest, "rotation_window"},
		{engines.UpdateOperation, "static-roles/other", `{"db_name":"pg","username":"u","rotation_period":60}`, engines.CodeInvalidRequest, "not an allowed role"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"none","username":"u","rotation_period":60}`, engines.CodeInvalidRequest, "unknown database connection"},
		{engines.UpdateOperation, "static-roles/static", `{"db_name":"pg","rotation_period":60}`, engines.CodeInvalidRequest, "username"},
		{engines.ReadOperation, "static-creds/none", "", engines.CodeInvalidRequest, "unknown role"},
		{engines.UpdateOperation, "rotate-role/none", "", engines.CodeInvalidRequest, "unknown role"},
		{engines.UpdateOperation, "rotate-root/none", "", engines.CodeInvalidRequest, "unknown database connection"},
		{engines.UpdateOperation, "reset/none", "", engines.CodeInvalidRequest, "unknown database connection"},
	}
	for _, tc := range cases {
		t.Run(string(tc.op)+" "+tc.path, func(t *testing.T) {
			h.mustFail(t, tc.op, tc.path, tc.body, tc.code, tc.msg)
		})
	}
}

func TestConfigReadListDelete(t *testing.T) {
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "config/pg", offlineConfig)
	resp := h.mustDo(t, engines.ReadOperation, "config/pg", "")
	enginestest.JSONEqual(t, resp.Data, `{
		"plugin_name": "postgresql-database-plugin", "plugin_version": "",
		"connection_details": {"connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:1/x", "username": "admin",
			"max_open_connections": 4, "max_idle_connections": 0, "max_connection_lifetime": "0s"},
		"allowed_roles": ["ro", "static"], "password_policy": "", "verify_connection": false,
		"root_credentials_rotate_statements": []}`)
	// An update keeps what it does not name.
	h.mustDo(t, engines.UpdateOperation, "config/pg", `{"allowed_roles":"a,b","verify_connection":false}`)
	resp = h.mustDo(t, engines.ReadOperation, "config/pg", "")
	if d := resp.Data["connection_details"].(map[string]any); d["username"] != "admin" {
		t.Fatalf("update lost the username: %v", d)
	}
	enginestest.JSONEqual(t, resp.Data["allowed_roles"], `["a","b"]`)
	enginestest.JSONEqual(t, h.mustDo(t, engines.ListOperation, "config", "").Data, `{"keys":["pg"]}`)
	if ok, err := h.b.Exists(context.Background(), &engines.Request{Path: "config/pg"}); !ok || err != nil {
		t.Fatalf("Exists(config/pg) = %v, %v", ok, err)
	}
	h.mustDo(t, engines.DeleteOperation, "config/pg", "")
	if resp := h.mustDo(t, engines.ReadOperation, "config/pg", ""); resp != nil {
		t.Fatalf("read after delete: %v", resp.Data)
	}
	if ok, _ := h.b.Exists(context.Background(), &engines.Request{Path: "config/pg"}); ok {
		t.Fatal("Exists after delete")
	}
	if resp := h.mustDo(t, engines.ListOperation, "config", ""); resp != nil {
		t.Fatalf("list after delete: %v", resp.Data)
	}
}

func TestRoleReadListDelete(t *testing.T) {
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "roles/ro", `{"db_name":"pg","creation_statements":"CREATE ROLE \"{{name}}\"","default_ttl":"1h","max_ttl":7200}`)
	enginestest.JSONEqual(t, h.mustDo(t, engines.ReadOperation, "roles/ro", "").Data, `{
		"db_name":"pg","creation_statements":["CREATE ROLE \"{{name}}\""],"revocation_statements":[],
		"rollback_statements":[],"renew_statements":[],"default_ttl":3600,"max_ttl":7200,
		"credential_type":"password","credential_config":{}}`)
	h.mustFail(t, engines.UpdateOperation, "static-roles/ro", `{"db_name":"pg","username":"u","rotation_period":60}`, engines.CodeInvalidRequest, "dynamic role")
	enginestest.JSONEqual(t, h.mustDo(t, engines.ListOperation, "roles/", "").Data, `{"keys":["ro"]}`)
	h.mustDo(t, engines.DeleteOperation, "roles/ro", "")
	if resp := h.mustDo(t, engines.ReadOperation, "roles/ro", ""); resp != nil {
		t.Fatalf("read after delete: %v", resp.Data)
	}
}

func TestCredsNotAllowed(t *testing.T) {
	h := mustBackend(t, nil)
	h.mustDo(t, engines.UpdateOperation, "config/pg", offlineConfig)
	h.mustDo(t, engines.UpdateOperation, "roles/rw", `{"db_name":"pg","creation_statements":"x"}`)
	h.mustFail(t, engines.ReadOperation, "creds/rw", "", engines.CodeInvalidRequest, "not an allowed role")
}

func TestFactoryRegistersScheduler(t *testing.T) {
	var name string
	stopped := 0
	h := mustBackend(t, &engines.BackendConfig{RunWhileLeader: func(n string, svc func(ctx context.Context)) func() {
		name = n
		return func() { stopped++ }
	}})
	if name != "database-rotation:database/" {
		t.Fatalf("service name %q", name)
	}
	if err := h.b.Close(); err != nil || stopped != 1 {
		t.Fatalf("Close: %v, stop called %d times", err, stopped)
	}
	if _, err := Factory(context.Background(), &engines.BackendConfig{}); err == nil {
		t.Fatal("Factory without storage succeeded")
	}
}
