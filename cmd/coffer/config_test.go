package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	good := `
storage "raft" {
  path    = "/var/lib/coffer"
  node_id = "n1"
  snapshot_threshold = 100
  snapshot_interval  = "30s"
}
listener "tcp" {
  address          = "0.0.0.0:8200"
  cluster_address  = "0.0.0.0:9201"
  tls_disable      = "true"
  max_request_size = 1048576
}
api_addr      = "http://10.0.0.1:8200"
cluster_addr  = "https://10.0.0.1:9201"
disable_mlock = true
log_level     = "debug"
ui            = true
`
	cfg, err := parseConfig(good)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if cfg.Storage.Path != "/var/lib/coffer" || cfg.Storage.NodeID != "n1" || cfg.Storage.SnapshotThreshold != 100 || cfg.Storage.snapshotInterval != 30*time.Second {
		t.Errorf("storage: %+v", cfg.Storage)
	}
	l := cfg.Listener
	if l.Address != "0.0.0.0:8200" || l.ClusterAddress != "0.0.0.0:9201" || !l.tlsDisabled || l.maxRequestSize != 1<<20 {
		t.Errorf("listener: %+v", l)
	}
	if cfg.APIAddr != "http://10.0.0.1:8200" || cfg.ClusterAddr != "https://10.0.0.1:9201" || !cfg.DisableMlock || cfg.LogLevel != "debug" {
		t.Errorf("top level: %+v", cfg)
	}

	withAudit, err := parseConfig(`storage "raft" { path = "/d" }
listener "tcp" { tls_disable = true }
audit "file" "file1" {
  description = "primary"
  options {
    file_path = "/var/log/coffer/audit.log"
    hmac_accessor = false
  }
}
audit "socket" "remote" {
  options { address = "127.0.0.1:9090" }
}
unsafe_allow_api_audit_creation = true
`)
	if err != nil {
		t.Fatalf("parse audit: %v", err)
	}
	if len(withAudit.Audit) != 2 || !withAudit.UnsafeAllowAPIAuditCreation {
		t.Fatalf("audit devices: %+v", withAudit.Audit)
	}
	a := withAudit.Audit[0]
	if a.Type != "file" || a.Name != "file1" || a.Description != "primary" || a.Options["file_path"] != "/var/log/coffer/audit.log" || a.Options["hmac_accessor"] != "false" {
		t.Errorf("audit file1: %+v", a)
	}

	def, err := parseConfig(`storage "raft" { path = "/d" }
listener "tcp" { tls_disable = 1 }`)
	if err != nil {
		t.Fatalf("parse minimal: %v", err)
	}
	if def.Listener.Address != "127.0.0.1:8200" || def.Listener.ClusterAddress != "127.0.0.1:8201" {
		t.Errorf("defaults: %+v", def.Listener)
	}

	bad := []struct{ name, src, want string }{
		{"no storage", `listener "tcp" { tls_disable = true }`, "storage"},
		{"other storage", `storage "consul" { path = "x" }
listener "tcp" { tls_disable = true }`, "raft"},
		{"no path", `storage "raft" {}
listener "tcp" { tls_disable = true }`, "path"},
		{"tls without files", `storage "raft" { path = "/d" }
listener "tcp" {}`, "tls_cert_file"},
		{"unknown key", `storage "raft" { path = "/d" }
listener "tcp" { tls_disable = true }
bogus = 1`, "unknown setting"},
		{"bad bool", `storage "raft" { path = "/d" }
listener "tcp" { tls_disable = "maybe" }`, "tls_disable"},
		{"bad hcl", `storage "raft" {`, "parse"},
		{"audit mode unquoted", `storage "raft" { path = "/d" }
listener "tcp" { tls_disable = true }
audit "file" "f" { options { mode = 0600 } }`, "quoted octal"},
		{"audit name twice", `storage "raft" { path = "/d" }
listener "tcp" { tls_disable = true }
audit "file" "f" { }
audit "file" "f/" { }`, "declared twice"},
		{"audit without name", `storage "raft" { path = "/d" }
listener "tcp" { tls_disable = true }
audit "file" { }`, "audit block"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

func TestRetryJoinAndClusterAdvertise(t *testing.T) {
	cfg, err := parseConfig(`
storage "raft" {
  path    = "/d"
  node_id = "n2"
  retry_join {
    leader_api_addr = "https://10.0.0.1:8200"
    leader_tls_servername = "coffer.internal"
    non_voter = true
  }
  retry_join { leader_api_addr = "https://10.0.0.3:8200" }
}
listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_disable     = true
}
cluster_addr = "https://10.0.0.2:8201"
`)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	rj := cfg.Storage.RetryJoin
	if len(rj) != 2 || rj[0].LeaderAPIAddr != "https://10.0.0.1:8200" || rj[0].LeaderTLSServerName != "coffer.internal" || !rj[0].NonVoter || rj[1].LeaderAPIAddr != "https://10.0.0.3:8200" {
		t.Fatalf("retry_join = %+v", rj)
	}
	if got, err := clusterAdvertise(cfg); err != nil || got != "10.0.0.2:8201" {
		t.Fatalf("advertise = %q, %v", got, err)
	}
	// Without cluster_addr, a wildcard cluster_address cannot be advertised.
	cfg.ClusterAddr = ""
	if _, err := clusterAdvertise(cfg); err == nil {
		t.Fatal("a wildcard cluster address was accepted as the advertised address")
	}
}

func TestSealStanza(t *testing.T) {
	base := `
storage "raft" {
  path = "/d"
}
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}
`
	cfg, err := parseConfig(base + `
seal "pkcs11" {
  lib         = "/usr/lib/softhsm/libsofthsm2.so"
  token_label = "coffer"
  pin         = "1234"
  key_label   = "coffer-root"
  slot        = 3
  generate_key = true
}
`)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if cfg.Seal == nil || cfg.Seal.Type != "pkcs11" || cfg.Seal.Disabled || cfg.Seal.Values["key_label"] != "coffer-root" ||
		cfg.Seal.Values["slot"] != "3" || cfg.Seal.Values["generate_key"] != "true" {
		t.Fatalf("seal = %+v", cfg.Seal)
	}
	cfg, err = parseConfig(base + `seal "pkcs11" {
  lib = "x"
  disabled = "true"
}`)
	if err != nil || !cfg.Seal.Disabled {
		t.Fatalf("disabled seal: %+v %v", cfg.Seal, err)
	}
	for _, bad := range []string{`seal "awskms" {}`, `seal "shamir" {}`, `seal {}`, `seal "pkcs11" {}
seal "pkcs11" {}`} {
		if _, err := parseConfig(base + bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
