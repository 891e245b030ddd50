package kv

import (
	"context"
	"math"
	"net/http"
	"time"

	"coffer/engines"
)

// casRequiredIgnored is Vault's warning when a key turns off a cas
// requirement the mount imposes.
const casRequiredIgnored = `"cas_required" set to false, but is mandated by backend config. This value will be ignored.`

// metadataFields are the settings metadata write and patch accept.
type metadataFields struct {
	maxVersions        *uint32
	casRequired        *bool
	deleteVersionAfter *time.Duration
	customMetadata     map[string]string // set when present
	customDeletes      []string          // patch only: keys set to null
	customPresent      bool
}

// applySettings sets the settings present in f other than
// custom_metadata, which writes replace and patches merge.
func (f *metadataFields) applySettings(meta *keyMetadata) {
	if f.maxVersions != nil {
		meta.MaxVersions = *f.maxVersions
	}
	if f.casRequired != nil {
		meta.CASRequired = *f.casRequired
	}
	if f.deleteVersionAfter != nil {
		meta.DeleteVersionAfter = *f.deleteVersionAfter
	}
}

// parseMetadataFields converts the settings present in data; for a patch,
// null resets a setting and custom_metadata members may be null.
func parseMetadataFields(data map[string]any, patch bool) (*metadataFields, error) {
	f := &metadataFields{}
	if raw, ok := data["max_versions"]; ok {
		n, err := parseInt(raw)
		if err != nil {
			return nil, fieldError("max_versions", err)
		}
		if n < 0 || n > math.MaxUint32 {
			return nil, fieldError("max_versions", errNotInteger)
		}
		v := uint32(n)
		f.maxVersions = &v
	}
	if raw, ok := data["cas_required"]; ok {
		v, err := parseBool(raw)
		if err != nil {
			return nil, fieldError("cas_required", err)
		}
		f.casRequired = &v
	}
	if raw, ok := data["delete_version_after"]; ok {
		d, err := parseDuration(raw)
		if err != nil {
			return nil, fieldError("delete_version_after", err)
		}
		if d < 0 {
			return nil, fieldError("delete_version_after", errNegative)
		}
		f.deleteVersionAfter = &d
	}
	if raw, ok := data["custom_metadata"]; ok {
		cm, deletes, err := parseCustomMetadata(raw, patch)
		if err != nil {
			return nil, err
		}
		if err := validateCustomMetadata(cm); err != nil {
			return nil, err
		}
		f.customMetadata, f.customDeletes, f.customPresent = cm, deletes, true
	}
	return f, nil
}

func (f *metadataFields) empty() bool {
	return f.maxVersions == nil && f.casRequired == nil && f.deleteVersionAfter == nil && !f.customPresent
}

// warnings are Vault's warnings for settings the mount overrides.
func (f *metadataFields) warnings(cfg *mountConfig) []string {
	if f.casRequired != nil && !*f.casRequired && cfg.CASRequired {
		return []string{casRequiredIgnored}
	}
	return nil
}

// readMetadata answers metadata/<key>.
func (b *versioned) readMetadata(ctx context.Context, key string) (*engines.Response, error) {
	lock := b.locks.forKey(key)
	lock.RLock()
	defer lock.RUnlock()

	meta, err := b.loadMetadata(ctx, key)
	if err != nil || meta == nil {
		return nil, err
	}
	return &engines.Response{Data: metadataView(meta)}, nil
}

// writeMetadata sets the given settings of a key, creating its metadata
// (with no versions) if needed; custom_metadata, when given, replaces the
// key's whole map. A write with no settings does nothing.
func (b *versioned) writeMetadata(ctx context.Context, key string, data map[string]any) (*engines.Response, error) {
	f, err := parseMetadataFields(data, false)
	if err != nil {
		return nil, err
	}
	if f.empty() {
		return nil, nil
	}
	cfg, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	meta, unlock, err := b.lockMetadata(ctx, key)
	defer unlock()
	if err != nil {
		return nil, err
	}
	if meta == nil {
		now := b.now()
		meta = newKeyMetadata()
		meta.CreatedTime, meta.UpdatedTime = now, now
	}
	f.applySettings(meta)
	if f.customPresent {
		meta.CustomMetadata = nonEmpty(f.customMetadata)
	}
	if err := b.saveMetadata(ctx, key, meta); err != nil {
		return nil, err
	}
	return warningsResponse(f.warnings(cfg)), nil
}

// patchMetadata merges settings into an existing key's metadata: a null
// setting resets it, and custom_metadata merges member by member (a null
// member removes that entry). A missing key is a 404.
func (b *versioned) patchMetadata(ctx context.Context, key string, data map[string]any) (*engines.Response, error) {
	f, err := parseMetadataFields(data, true)
	if err != nil {
		return nil, err
	}
	cfg, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	meta, unlock, err := b.lockMetadata(ctx, key)
	defer unlock()
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return &engines.Response{StatusCode: http.StatusNotFound}, nil
	}
	f.applySettings(meta)
	if f.customPresent {
		if data["custom_metadata"] == nil {
			meta.CustomMetadata = nil
		} else {
			merged := make(map[string]string, len(meta.CustomMetadata)+len(f.customMetadata))
			for k, v := range meta.CustomMetadata {
				merged[k] = v
			}
			for _, k := range f.customDeletes {
				delete(merged, k)
			}
			for k, v := range f.customMetadata {
				merged[k] = v
			}
			if err := validateCustomMetadata(merged); err != nil {
				return nil, err
			}
			meta.CustomMetadata = nonEmpty(merged)
		}
	}
	if err := b.saveMetadata(ctx, key, meta); err != nil {
		return nil, err
	}
	return warningsResponse(f.warnings(cfg)), nil
}

// deleteMetadata removes a key entirely: its metadata first, so no reader
// can see a version without data, then every stored version.
func (b *versioned) deleteMetadata(ctx context.Context, key string) error {
	meta, unlock, err := b.lockMetadata(ctx, key)
	defer unlock()
	if err != nil || meta == nil {
		return err
	}
	if err := b.storage.Delete(ctx, metadataKey(key)); err != nil {
		return wrapStorage("delete key metadata", err)
	}
	return b.deleteAllVersionBlobs(ctx, key)
}

// listMetadata lists the keys and folders under a prefix (LIST metadata/).
func (b *versioned) listMetadata(ctx context.Context, prefix string) (*engines.Response, error) {
	keys, err := b.storage.List(ctx, metadataPrefix+listPrefix(prefix))
	if err != nil {
		return nil, wrapStorage("list metadata", err)
	}
	return listResponse(keys), nil
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func warningsResponse(w []string) *engines.Response {
	if len(w) == 0 {
		return nil
	}
	return &engines.Response{Warnings: w}
}
