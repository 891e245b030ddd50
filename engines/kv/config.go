package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"coffer/engines"
)

// readConfig answers config: max_versions, cas_required and
// delete_version_after as a duration string ("0s" when unset, "-1s" when
// disabled).
func (b *versioned) readConfig(ctx context.Context) (*engines.Response, error) {
	cfg, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &engines.Response{Data: map[string]any{
		"max_versions":         cfg.MaxVersions,
		"cas_required":         cfg.CASRequired,
		"delete_version_after": cfg.DeleteVersionAfter.String(),
	}}, nil
}

// writeConfig sets the given mount settings. delete_version_after takes a
// duration string or seconds: zero clears it and a negative value
// disables automatic deletion on every key.
func (b *versioned) writeConfig(ctx context.Context, data map[string]any) (*engines.Response, error) {
	var (
		maxVersions *uint32
		casRequired *bool
		dva         *time.Duration
	)
	if raw, ok := data["max_versions"]; ok {
		n, err := parseInt(raw)
		if err != nil || n < 0 || n > math.MaxUint32 {
			return nil, fieldError("max_versions", errNotInteger)
		}
		v := uint32(n)
		maxVersions = &v
	}
	if raw, ok := data["cas_required"]; ok {
		v, err := parseBool(raw)
		if err != nil {
			return nil, fieldError("cas_required", err)
		}
		casRequired = &v
	}
	if raw, ok := data["delete_version_after"]; ok {
		d, err := parseDuration(raw)
		if err != nil {
			return nil, fieldError("delete_version_after", err)
		}
		dva = &d
	}
	if maxVersions == nil && casRequired == nil && dva == nil {
		return nil, nil
	}

	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if maxVersions != nil {
		cfg.MaxVersions = *maxVersions
	}
	if casRequired != nil {
		cfg.CASRequired = *casRequired
	}
	if dva != nil {
		cfg.DeleteVersionAfter = *dva
		if *dva < 0 {
			cfg.DeleteVersionAfter = deleteVersionAfterDisabled
		}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("kv: encode config: %w", err)
	}
	if err := b.storage.Put(ctx, configKey, raw); err != nil {
		return nil, wrapStorage("write config", err)
	}
	return nil, nil
}
