package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"
)

// DeviceConfig is one audit device as declared in the server config
// (`audit "file" "name" { description = "...", options { ... } }`) or
// through sys/audit.
//
// Options, all strings:
//
//	file:   file_path (required; "stdout" writes to standard output),
//	        mode (octal, default "0600"; "0000" leaves the mode alone)
//	socket: address (required), socket_type ("tcp" or "unix", default "tcp")
//	all:    write_timeout (Go duration or seconds, default "2s"),
//	        hmac_accessor ("true"), log_raw ("false"; dangerous, see
//	        DESIGN.md), format ("json", the only format), prefix (prepended
//	        to every line, and part of the hashed line bytes),
//	        elide_list_responses ("false"),
//	        checkpoint_key_file (hex key of at least 32 bytes; enables
//	        signed checkpoint lines), checkpoint_interval (lines between
//	        checkpoints, default 1000)
//
// Unknown options are refused, so a typo cannot silently disable a setting.
type DeviceConfig struct {
	// Type is "file" or "socket".
	Type string
	// Name is the device's path; Enable stores it with one trailing slash.
	Name        string
	Description string
	Options     map[string]string
}

// Option defaults.
const (
	defaultWriteTimeout       = 2 * time.Second
	defaultCheckpointInterval = 1000
	defaultFileMode           = 0o600
	stdoutPath                = "stdout"
)

var commonOptions = []string{
	"write_timeout", "hmac_accessor", "log_raw", "format", "prefix",
	"elide_list_responses", "checkpoint_key_file", "checkpoint_interval",
}

var typeOptions = map[string][]string{
	"file":   {"file_path", "mode"},
	"socket": {"address", "socket_type"},
}

// deviceOptions are a DeviceConfig's options, parsed and defaulted.
type deviceOptions struct {
	filePath   string
	mode       os.FileMode
	address    string
	socketType string

	writeTimeout time.Duration
	hmacAccessor bool
	logRaw       bool
	elideList    bool
	prefix       string

	// checkpointKey is nil when checkpoints are off. Zeroed on close.
	checkpointKey      []byte
	checkpointInterval int
}

// normalizeName returns name with surrounding slashes trimmed and exactly
// one trailing slash, or "" when nothing is left.
func normalizeName(name string) string {
	n := strings.Trim(strings.TrimSpace(name), "/")
	if n == "" {
		return ""
	}
	return n + "/"
}

// cloneConfig returns a copy of cfg that shares no map with it.
func cloneConfig(cfg DeviceConfig) DeviceConfig {
	cfg.Options = maps.Clone(cfg.Options)
	return cfg
}

// parseOptions validates cfg and returns its options with defaults filled.
func parseOptions(cfg DeviceConfig) (deviceOptions, error) {
	o := deviceOptions{
		mode:               defaultFileMode,
		socketType:         "tcp",
		writeTimeout:       defaultWriteTimeout,
		hmacAccessor:       true,
		checkpointInterval: defaultCheckpointInterval,
	}
	allowed, ok := typeOptions[cfg.Type]
	if !ok {
		return o, fmt.Errorf("%w: unknown device type %q", ErrInvalidConfig, cfg.Type)
	}
	for k := range cfg.Options {
		if !contains(allowed, k) && !contains(commonOptions, k) {
			return o, fmt.Errorf("%w: unknown option %q for a %s device", ErrInvalidConfig, k, cfg.Type)
		}
	}
	opt := func(k string) (string, bool) {
		v, ok := cfg.Options[k]
		return strings.TrimSpace(v), ok
	}
	var err error
	if v, ok := opt("format"); ok && v != "json" {
		return o, fmt.Errorf("%w: format %q is not supported (only \"json\")", ErrInvalidConfig, v)
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"hmac_accessor", &o.hmacAccessor}, {"log_raw", &o.logRaw}, {"elide_list_responses", &o.elideList}} {
		if v, ok := opt(b.key); ok {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return o, fmt.Errorf("%w: %s must be true or false", ErrInvalidConfig, b.key)
			}
		}
	}
	o.prefix = cfg.Options["prefix"]
	if strings.ContainsAny(o.prefix, "\n\r") {
		return o, fmt.Errorf("%w: prefix must not contain a line break", ErrInvalidConfig)
	}
	if v, ok := opt("write_timeout"); ok {
		if o.writeTimeout, err = parseDuration(v); err != nil || o.writeTimeout <= 0 {
			return o, fmt.Errorf("%w: write_timeout must be a positive duration", ErrInvalidConfig)
		}
	}
	if v, ok := opt("checkpoint_interval"); ok {
		if o.checkpointInterval, err = strconv.Atoi(v); err != nil || o.checkpointInterval < 1 {
			return o, fmt.Errorf("%w: checkpoint_interval must be a positive number of lines", ErrInvalidConfig)
		}
	}
	if v, ok := opt("checkpoint_key_file"); ok {
		if o.checkpointKey, err = ReadCheckpointKey(v); err != nil {
			return o, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	switch cfg.Type {
	case "file":
		o.filePath, _ = opt("file_path")
		if o.filePath == "" {
			return o, fmt.Errorf("%w: file_path is required", ErrInvalidConfig)
		}
		if v, ok := opt("mode"); ok {
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m > 0o777 {
				return o, fmt.Errorf("%w: mode must be an octal permission like \"0600\"", ErrInvalidConfig)
			}
			o.mode = os.FileMode(m)
		}
	case "socket":
		o.address, _ = opt("address")
		if o.address == "" {
			return o, fmt.Errorf("%w: address is required", ErrInvalidConfig)
		}
		if v, ok := opt("socket_type"); ok {
			if v != "tcp" && v != "unix" {
				return o, fmt.Errorf("%w: socket_type must be \"tcp\" or \"unix\"", ErrInvalidConfig)
			}
			o.socketType = v
		}
	}
	return o, nil
}

// parseDuration accepts a Go duration ("2s", "500ms") or whole seconds ("2").
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// ReadCheckpointKey reads a checkpoint key file: hex, surrounding
// whitespace ignored, at least 32 bytes once decoded. Errors name the file,
// never its content.
func ReadCheckpointKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint key: %w", err)
	}
	defer clear(raw)
	text := bytes.TrimSpace(raw)
	key := make([]byte, hex.DecodedLen(len(text)))
	n, err := hex.Decode(key, text)
	if err != nil || n < 32 {
		clear(key)
		return nil, fmt.Errorf("%w: %s must hold at least 32 hex-encoded bytes", ErrBadCheckpoint, path)
	}
	return key, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
