package autopilot

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Config tunes autopilot. Zero fields mean the defaults (DefaultConfig),
// except CleanupDeadServers, whose zero is its default.
type Config struct {
	// CleanupDeadServers enables removing servers that stay dead.
	CleanupDeadServers bool
	// DeadServerLastContactThreshold is how long a server must have gone
	// without leader contact (and be dead or left in gossip) before it is
	// removed. ParseConfigUpdate requires at least one minute when cleanup
	// is on; New and SetConfig accept less (tests).
	DeadServerLastContactThreshold time.Duration
	// LastContactThreshold: a server whose last contact is older is
	// unhealthy.
	LastContactThreshold time.Duration
	// MaxTrailingLogs: a server more log entries behind the leader is
	// unhealthy.
	MaxTrailingLogs uint64
	// MinQuorum is the fewest voters dead-server cleanup may leave.
	MinQuorum int
	// ServerStabilizationTime is how long a non-voter must stay healthy
	// before it is promoted.
	ServerStabilizationTime time.Duration
	// Interval is Run's period between passes.
	Interval time.Duration
}

// The defaults, as in Vault.
const (
	defaultDeadServerLastContactThreshold = 24 * time.Hour
	defaultLastContactThreshold           = 10 * time.Second
	defaultMaxTrailingLogs                = 1000
	defaultMinQuorum                      = 3
	defaultServerStabilizationTime        = 10 * time.Second
	defaultInterval                       = time.Second

	// minDeadServerLastContactThreshold is the least a client may set
	// when cleanup is on (Vault's rule).
	minDeadServerLastContactThreshold = time.Minute
)

// DefaultConfig returns Vault's autopilot defaults (cleanup off).
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.DeadServerLastContactThreshold <= 0 {
		c.DeadServerLastContactThreshold = defaultDeadServerLastContactThreshold
	}
	if c.LastContactThreshold <= 0 {
		c.LastContactThreshold = defaultLastContactThreshold
	}
	if c.MaxTrailingLogs == 0 {
		c.MaxTrailingLogs = defaultMaxTrailingLogs
	}
	if c.MinQuorum <= 0 {
		c.MinQuorum = defaultMinQuorum
	}
	if c.ServerStabilizationTime <= 0 {
		c.ServerStabilizationTime = defaultServerStabilizationTime
	}
	if c.Interval <= 0 {
		c.Interval = defaultInterval
	}
	return c
}

// ConfigJSON is Config as GET sys/storage/raft/autopilot/configuration
// returns it in "data" (the shape of vault/api's AutopilotConfig), with
// durations as Go duration strings.
type ConfigJSON struct {
	CleanupDeadServers             bool   `json:"cleanup_dead_servers"`
	LastContactThreshold           string `json:"last_contact_threshold"`
	DeadServerLastContactThreshold string `json:"dead_server_last_contact_threshold"`
	MaxTrailingLogs                uint64 `json:"max_trailing_logs"`
	MinQuorum                      int    `json:"min_quorum"`
	ServerStabilizationTime        string `json:"server_stabilization_time"`
	// DisableUpgradeMigration is a Vault Enterprise setting; always false.
	DisableUpgradeMigration bool `json:"disable_upgrade_migration"`
}

// JSON returns c (defaults applied) in its API shape.
func (c Config) JSON() ConfigJSON {
	c = c.withDefaults()
	return ConfigJSON{
		CleanupDeadServers:             c.CleanupDeadServers,
		LastContactThreshold:           c.LastContactThreshold.String(),
		DeadServerLastContactThreshold: c.DeadServerLastContactThreshold.String(),
		MaxTrailingLogs:                c.MaxTrailingLogs,
		MinQuorum:                      c.MinQuorum,
		ServerStabilizationTime:        c.ServerStabilizationTime.String(),
	}
}

// ParseConfigUpdate applies the body of POST
// sys/storage/raft/autopilot/configuration to base, the way Vault does:
// only the fields present change; a zero duration or number means "keep";
// durations are Go duration strings or whole seconds (number or numeric
// string); numbers may be float64 or json.Number. Unknown fields are
// ignored. Errors wrap ErrInvalidConfig: a malformed or negative value,
// disable_upgrade_migration=true (Enterprise only), or cleanup_dead_servers
// with min_quorum below 3 or dead_server_last_contact_threshold below 1m.
func ParseConfigUpdate(base Config, body map[string]any) (Config, error) {
	c := base.withDefaults()
	if v, ok := body["cleanup_dead_servers"]; ok && v != nil {
		b, err := parseBool(v)
		if err != nil {
			return base, invalid("cleanup_dead_servers", err)
		}
		c.CleanupDeadServers = b
	}
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"last_contact_threshold", &c.LastContactThreshold},
		{"dead_server_last_contact_threshold", &c.DeadServerLastContactThreshold},
		{"server_stabilization_time", &c.ServerStabilizationTime},
	}
	for _, d := range durations {
		v, ok := body[d.key]
		if !ok {
			continue
		}
		dur, err := parseDurationSecond(v)
		if err != nil {
			return base, invalid(d.key, err)
		}
		if dur < 0 {
			return base, invalid(d.key, fmt.Errorf("must not be negative"))
		}
		if dur > 0 {
			*d.dst = dur
		}
	}
	if v, ok := body["max_trailing_logs"]; ok {
		n, err := parseInt(v)
		if err != nil {
			return base, invalid("max_trailing_logs", err)
		}
		if n < 0 {
			return base, invalid("max_trailing_logs", fmt.Errorf("must not be negative"))
		}
		if n > 0 {
			c.MaxTrailingLogs = uint64(n)
		}
	}
	if v, ok := body["min_quorum"]; ok {
		n, err := parseInt(v)
		if err != nil {
			return base, invalid("min_quorum", err)
		}
		if n < 0 || n > math.MaxInt32 {
			return base, invalid("min_quorum", fmt.Errorf("out of range"))
		}
		if n > 0 {
			c.MinQuorum = int(n)
		}
	}
	if v, ok := body["disable_upgrade_migration"]; ok && v != nil {
		b, err := parseBool(v)
		if err != nil {
			return base, invalid("disable_upgrade_migration", err)
		}
		if b {
			return base, invalid("disable_upgrade_migration", fmt.Errorf("not supported"))
		}
	}
	if c.CleanupDeadServers && c.MinQuorum < 3 {
		return base, fmt.Errorf("%w: min_quorum must be at least 3 when cleanup_dead_servers is set", ErrInvalidConfig)
	}
	if c.CleanupDeadServers && c.DeadServerLastContactThreshold < minDeadServerLastContactThreshold {
		return base, fmt.Errorf("%w: dead_server_last_contact_threshold must be at least 1m when cleanup_dead_servers is set", ErrInvalidConfig)
	}
	return c, nil
}

func invalid(field string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, field, err)
}

// parseDurationSecond reads a duration the way Vault's TypeDurationSecond
// does: a Go duration string, or whole seconds as a number or numeric
// string. Nil and "" are zero.
func parseDurationSecond(v any) (time.Duration, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case string:
		x = strings.TrimSpace(x)
		if x == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return seconds(float64(n))
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("not a duration")
		}
		return d, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("not a number")
		}
		return seconds(f)
	case float64:
		return seconds(x)
	case int:
		return seconds(float64(x))
	case int64:
		return seconds(float64(x))
	default:
		return 0, fmt.Errorf("not a duration")
	}
}

// seconds converts a count of seconds, rejecting what a Duration cannot
// hold.
func seconds(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("out of range")
	}
	return time.Duration(f * float64(time.Second)), nil
}

// parseInt reads a whole number from JSON (float64 or json.Number), a Go
// int, or a numeric string.
func parseInt(v any) (int64, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("not a number")
		}
	case float64:
		f = x
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("not a whole number")
		}
		return n, nil
	default:
		return 0, fmt.Errorf("not a number")
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("not a whole number")
	}
	return int64(f), nil
}

// parseBool reads a JSON bool or a string strconv.ParseBool accepts.
func parseBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("not a boolean")
		}
		return b, nil
	default:
		return false, fmt.Errorf("not a boolean")
	}
}
