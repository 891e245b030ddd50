package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"coffer/audit"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
)

// serverConfig is Vault's server configuration shape, the parts Coffer
// reads.
type serverConfig struct {
	Storage      storageConfig
	Listener     listenerConfig
	APIAddr      string
	ClusterAddr  string
	DisableMlock bool
	LogLevel     string
	// Audit are the audit devices to enable at unseal (OpenBao's shape:
	// audit "file" "name" { description = "..." options { file_path = ... } }).
	Audit []audit.DeviceConfig
	// UnsafeAllowAPIAuditCreation lets sys/audit manage devices.
	UnsafeAllowAPIAuditCreation bool
	// Seal is the seal stanza (seal "pkcs11" { ... }); nil means Shamir.
	Seal *sealStanza
}

// sealStanza is a seal "TYPE" { ... } block: its settings as strings, as
// Vault reads them (numbers and booleans are accepted unquoted).
type sealStanza struct {
	Type     string
	Disabled bool
	Values   map[string]string
}

type auditBlock struct {
	Description string         `hcl:"description"`
	Options     map[string]any `hcl:"options"`
}

type storageConfig struct {
	Type              string
	Path              string `hcl:"path"`
	NodeID            string `hcl:"node_id"`
	SnapshotThreshold int    `hcl:"snapshot_threshold"`
	SnapshotInterval  string `hcl:"snapshot_interval"`
	TrailingLogs      int    `hcl:"trailing_logs"`
	// RetryJoin lists leaders a fresh node keeps asking to join.
	RetryJoin []retryJoin `hcl:"-"`

	snapshotInterval time.Duration
}

// retryJoin is one storage "raft" { retry_join { ... } } block.
type retryJoin struct {
	LeaderAPIAddr       string `hcl:"leader_api_addr"`
	LeaderCACertFile    string `hcl:"leader_ca_cert_file"`
	LeaderClientCert    string `hcl:"leader_client_cert_file"`
	LeaderClientKey     string `hcl:"leader_client_key_file"`
	LeaderTLSServerName string `hcl:"leader_tls_servername"`
	NonVoter            bool   `hcl:"non_voter"`
}

type listenerConfig struct {
	Type           string
	Address        string `hcl:"address"`
	ClusterAddress string `hcl:"cluster_address"`
	TLSDisable     any    `hcl:"tls_disable"`
	TLSCertFile    string `hcl:"tls_cert_file"`
	TLSKeyFile     string `hcl:"tls_key_file"`
	MaxRequestSize any    `hcl:"max_request_size"`

	tlsDisabled    bool
	maxRequestSize int64
}

// decodeRetryJoin reads each retry_join block on its own (HCL v1 would
// spread one block's fields over several slice elements).
func decodeRetryJoin(sc *storageConfig, val ast.Node) error {
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return nil
	}
	for _, it := range obj.List.Filter("retry_join").Items {
		var rj retryJoin
		if err := hcl.DecodeObject(&rj, it.Val); err != nil {
			return fmt.Errorf("config: storage retry_join: %w", err)
		}
		if rj.LeaderAPIAddr == "" {
			return fmt.Errorf("config: storage retry_join needs leader_api_addr")
		}
		sc.RetryJoin = append(sc.RetryJoin, rj)
	}
	return nil
}

// loadConfig reads and checks an HCL server config file.
func loadConfig(path string) (*serverConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(string(raw))
}

func parseConfig(src string) (*serverConfig, error) {
	file, err := hcl.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("parse config: top level is not an object")
	}
	cfg := &serverConfig{LogLevel: "info"}
	var sawStorage, sawListener bool
	for _, item := range list.Items {
		key := item.Keys[0].Token.Value().(string)
		switch key {
		case "storage", "backend":
			if sawStorage {
				return nil, fmt.Errorf("config: only one storage block is allowed")
			}
			sawStorage = true
			if len(item.Keys) != 2 {
				return nil, fmt.Errorf("config: storage block needs a type, as in storage \"raft\" { ... }")
			}
			cfg.Storage.Type = item.Keys[1].Token.Value().(string)
			if err := hcl.DecodeObject(&cfg.Storage, item.Val); err != nil {
				return nil, fmt.Errorf("config: storage: %w", err)
			}
			if err := decodeRetryJoin(&cfg.Storage, item.Val); err != nil {
				return nil, err
			}
		case "listener":
			if sawListener {
				return nil, fmt.Errorf("config: only one listener block is supported")
			}
			sawListener = true
			if len(item.Keys) != 2 {
				return nil, fmt.Errorf("config: listener block needs a type, as in listener \"tcp\" { ... }")
			}
			cfg.Listener.Type = item.Keys[1].Token.Value().(string)
			if err := hcl.DecodeObject(&cfg.Listener, item.Val); err != nil {
				return nil, fmt.Errorf("config: listener: %w", err)
			}
		case "api_addr":
			if err := hcl.DecodeObject(&cfg.APIAddr, item.Val); err != nil {
				return nil, fmt.Errorf("config: api_addr: %w", err)
			}
		case "cluster_addr":
			if err := hcl.DecodeObject(&cfg.ClusterAddr, item.Val); err != nil {
				return nil, fmt.Errorf("config: cluster_addr: %w", err)
			}
		case "log_level":
			if err := hcl.DecodeObject(&cfg.LogLevel, item.Val); err != nil {
				return nil, fmt.Errorf("config: log_level: %w", err)
			}
		case "disable_mlock":
			var v any
			if err := hcl.DecodeObject(&v, item.Val); err != nil {
				return nil, fmt.Errorf("config: disable_mlock: %w", err)
			}
			b, err := boolish(v)
			if err != nil {
				return nil, fmt.Errorf("config: disable_mlock: %w", err)
			}
			cfg.DisableMlock = b
		case "seal":
			if cfg.Seal != nil {
				return nil, fmt.Errorf("config: only one seal block is supported")
			}
			st, err := parseSealBlock(item)
			if err != nil {
				return nil, err
			}
			cfg.Seal = st
		case "audit":
			d, err := parseAuditBlock(item)
			if err != nil {
				return nil, err
			}
			for _, other := range cfg.Audit {
				if strings.Trim(other.Name, "/") == strings.Trim(d.Name, "/") {
					return nil, fmt.Errorf("config: audit device %q declared twice", d.Name)
				}
			}
			cfg.Audit = append(cfg.Audit, d)
		case "unsafe_allow_api_audit_creation":
			var v any
			if err := hcl.DecodeObject(&v, item.Val); err != nil {
				return nil, fmt.Errorf("config: unsafe_allow_api_audit_creation: %w", err)
			}
			b, err := boolish(v)
			if err != nil {
				return nil, fmt.Errorf("config: unsafe_allow_api_audit_creation: %w", err)
			}
			cfg.UnsafeAllowAPIAuditCreation = b
		case "ui", "cluster_name", "default_lease_ttl", "max_lease_ttl", "pid_file", "disable_cache", "telemetry":
			// Accepted for compatibility with Vault configs; not used yet.
		default:
			return nil, fmt.Errorf("config: unknown setting %q", key)
		}
	}
	if !sawStorage || cfg.Storage.Type != "raft" {
		return nil, fmt.Errorf("config: a storage \"raft\" block is required")
	}
	if cfg.Storage.Path == "" {
		return nil, fmt.Errorf("config: storage \"raft\" needs path")
	}
	if cfg.Storage.SnapshotInterval != "" {
		if cfg.Storage.snapshotInterval, err = time.ParseDuration(cfg.Storage.SnapshotInterval); err != nil {
			return nil, fmt.Errorf("config: storage snapshot_interval: %w", err)
		}
	}
	if !sawListener || cfg.Listener.Type != "tcp" {
		return nil, fmt.Errorf("config: a listener \"tcp\" block is required")
	}
	return cfg, cfg.Listener.finish()
}

// parseAuditBlock reads audit "TYPE" "NAME" { description, options { } }.
func parseAuditBlock(item *ast.ObjectItem) (audit.DeviceConfig, error) {
	if len(item.Keys) != 3 {
		return audit.DeviceConfig{}, fmt.Errorf("config: audit block needs a type and a name, as in audit \"file\" \"file1\" { ... }")
	}
	d := audit.DeviceConfig{
		Type:    item.Keys[1].Token.Value().(string),
		Name:    item.Keys[2].Token.Value().(string),
		Options: map[string]string{},
	}
	var b auditBlock
	if err := hcl.DecodeObject(&b, item.Val); err != nil {
		return d, fmt.Errorf("config: audit %q: %w", d.Name, err)
	}
	d.Description = b.Description
	for k, v := range b.Options {
		if _, isString := v.(string); k == "mode" && !isString {
			// HCL reads 0600 as the decimal number 384: only a quoted
			// octal string says what the operator meant.
			return d, fmt.Errorf("config: audit %q: mode must be a quoted octal string such as \"0600\"", d.Name)
		}
		d.Options[k] = fmt.Sprint(v)
	}
	return d, nil
}

func (l *listenerConfig) finish() error {
	if l.Address == "" {
		l.Address = "127.0.0.1:8200"
	}
	var err error
	if l.TLSDisable != nil {
		if l.tlsDisabled, err = boolish(l.TLSDisable); err != nil {
			return fmt.Errorf("config: listener tls_disable: %w", err)
		}
	}
	if !l.tlsDisabled && (l.TLSCertFile == "" || l.TLSKeyFile == "") {
		return fmt.Errorf("config: listener needs tls_cert_file and tls_key_file, or tls_disable = true")
	}
	if l.MaxRequestSize != nil {
		n, err := strconv.ParseInt(fmt.Sprint(l.MaxRequestSize), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("config: listener max_request_size must be a whole number of bytes")
		}
		l.maxRequestSize = n
	}
	if l.ClusterAddress == "" {
		l.ClusterAddress, err = nextPort(l.Address)
		if err != nil {
			return fmt.Errorf("config: listener address: %w", err)
		}
	}
	return nil
}

// nextPort returns host:port+1, Vault's default cluster address.
func nextPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

// boolish reads HCL's true, "true", 1 and friends.
// parseSealBlock reads seal "TYPE" { key = value ... }.
func parseSealBlock(item *ast.ObjectItem) (*sealStanza, error) {
	if len(item.Keys) != 2 {
		return nil, fmt.Errorf("config: seal block needs a type, as in seal \"pkcs11\" { ... }")
	}
	st := &sealStanza{Type: item.Keys[1].Token.Value().(string), Values: map[string]string{}}
	switch st.Type {
	case "pkcs11":
	case "shamir":
		return nil, fmt.Errorf("config: Shamir is the default seal; remove the seal \"shamir\" block")
	default:
		return nil, fmt.Errorf("config: unsupported seal type %q (supported: pkcs11)", st.Type)
	}
	var raw map[string]any
	if err := hcl.DecodeObject(&raw, item.Val); err != nil {
		return nil, fmt.Errorf("config: seal %q: %w", st.Type, err)
	}
	for k, v := range raw {
		switch t := v.(type) {
		case string:
			st.Values[k] = t
		case bool, int, int64, float64:
			st.Values[k] = fmt.Sprint(t)
		default:
			return nil, fmt.Errorf("config: seal %q: %s must be a string", st.Type, k)
		}
	}
	if d, ok := st.Values["disabled"]; ok {
		b, err := boolish(d)
		if err != nil {
			return nil, fmt.Errorf("config: seal %q: disabled: %w", st.Type, err)
		}
		st.Disabled = b
		delete(st.Values, "disabled")
	}
	return st, nil
}

func boolish(v any) (bool, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case int:
		return t != 0, nil
	case string:
		return strconv.ParseBool(strings.TrimSpace(t))
	}
	return false, fmt.Errorf("not a boolean: %v", v)
}
