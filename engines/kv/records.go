package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"coffer/engines/jsonobj"
)

// Storage layout of a version 2 mount, inside the mount's view:
//
//	config                       the mount's mountConfig (JSON)
//	metadata/<key>               the key's keyMetadata (encodeMetadata's binary form, or older JSON)
//	versions/<key>/v/<N>         version N's data (versionFormatData, or an older versionRecord)
//
// A version key ends in "/v/" and a decimal number, so it names exactly
// one (key, N) pair, and listing "versions/<key>/v/" finds every version
// blob of the key (the entries that are plain numbers) even ones no
// metadata mentions. Nothing under "versions/" shows in a metadata list.
const (
	configKey      = "config"
	metadataPrefix = "metadata/"
	versionsPrefix = "versions/"
)

// defaultMaxVersions is how many versions a key keeps when neither the
// mount nor the key sets max_versions.
const defaultMaxVersions = 10

// deleteVersionAfterDisabled is the mount setting that turns automatic
// deletion off for every key (a negative duration written to config).
const deleteVersionAfterDisabled = -time.Second

func metadataKey(key string) string { return metadataPrefix + key }

func versionDir(key string) string { return versionsPrefix + key + "/v/" }

func versionKey(key string, version uint64) string {
	var digits [20]byte
	return versionsPrefix + key + "/v/" + string(strconv.AppendUint(digits[:0], version, 10))
}

// mountConfig is the mount-wide configuration at "config".
type mountConfig struct {
	MaxVersions uint32 `json:"max_versions"`
	CASRequired bool   `json:"cas_required"`
	// DeleteVersionAfter zero means unset, negative means disabled.
	DeleteVersionAfter time.Duration `json:"delete_version_after"`
}

func (c *mountConfig) autoDeleteDisabled() bool { return c.DeleteVersionAfter < 0 }

// keyMetadata is everything about one key except its versions' data.
type keyMetadata struct {
	CurrentVersion     uint64                      `json:"current_version"`
	OldestVersion      uint64                      `json:"oldest_version"`
	MaxVersions        uint32                      `json:"max_versions"`
	CASRequired        bool                        `json:"cas_required"`
	DeleteVersionAfter time.Duration               `json:"delete_version_after"`
	CustomMetadata     map[string]string           `json:"custom_metadata,omitempty"`
	CreatedTime        time.Time                   `json:"created_time"`
	UpdatedTime        time.Time                   `json:"updated_time"`
	Versions           map[uint64]*versionMetadata `json:"versions"`
}

// versionMetadata describes one version. A zero DeletionTime means the
// version is not scheduled for deletion.
type versionMetadata struct {
	CreatedTime  time.Time `json:"created_time"`
	DeletionTime time.Time `json:"deletion_time,omitzero"`
	Destroyed    bool      `json:"destroyed,omitempty"`
}

// versionRecord is one version's stored data in the JSON form written
// before versionFormatData; decodeVersion still reads it.
type versionRecord struct {
	Data json.RawMessage `json:"data"`
}

// versionFormatData starts a version record that is this byte followed
// by the data object exactly as json.Marshal writes it (jsonobj.AppendValue
// writes the same bytes). It can never start JSON, so the older
// {"data": ...} records stay readable.
const versionFormatData byte = 0x01

func newKeyMetadata() *keyMetadata {
	return &keyMetadata{Versions: map[uint64]*versionMetadata{}}
}

// decodeMetadata parses a stored keyMetadata: the binary form
// (encodeMetadata) or the JSON form written before it.
func decodeMetadata(raw []byte) (*keyMetadata, error) {
	if len(raw) > 0 && raw[0] == metadataFormatBinary {
		meta, _, err := decodeMetadataBinary(raw, true, 0)
		return meta, err
	}
	return decodeMetadataJSON(raw)
}

// decodeMetadataVersion parses a stored keyMetadata for a read of one
// version: vm is version want (the current version when want is 0), nil
// if there is none. meta.Versions may hold only that version, so meta must
// not be written back.
func decodeMetadataVersion(raw []byte, want uint64) (meta *keyMetadata, vm *versionMetadata, err error) {
	if len(raw) > 0 && raw[0] == metadataFormatBinary {
		return decodeMetadataBinary(raw, false, want)
	}
	meta, err = decodeMetadataJSON(raw)
	if err != nil {
		return nil, nil, err
	}
	if want == 0 {
		want = meta.CurrentVersion
	}
	return meta, meta.Versions[want], nil
}

// decodeMetadataJSON parses the JSON form of keyMetadata.
func decodeMetadataJSON(raw []byte) (*keyMetadata, error) {
	meta := newKeyMetadata()
	if err := json.Unmarshal(raw, meta); err != nil {
		return nil, fmt.Errorf("kv: decode key metadata: %w", err)
	}
	if meta.Versions == nil {
		meta.Versions = map[uint64]*versionMetadata{}
	}
	for n, vm := range meta.Versions {
		if vm == nil {
			delete(meta.Versions, n)
		}
	}
	if len(meta.CustomMetadata) == 0 {
		meta.CustomMetadata = nil
	}
	return meta, nil
}

// decodeConfig parses the stored mountConfig.
func decodeConfig(raw []byte) (*mountConfig, error) {
	cfg := &mountConfig{}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("kv: decode config: %w", err)
	}
	return cfg, nil
}

// decodeVersion parses a stored version record into its data object.
func decodeVersion(raw []byte) (map[string]any, error) {
	if len(raw) > 0 && raw[0] == versionFormatData {
		data, n, err := parseObject(raw[1:])
		if err != nil {
			return nil, fmt.Errorf("kv: decode version data: %w", err)
		}
		if !onlySpace(raw[1+n:]) {
			return nil, fmt.Errorf("kv: decode version data: %w", errCorruptVersion)
		}
		return data, nil
	}
	var rec versionRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("kv: decode version: %w", err)
	}
	if len(bytes.TrimSpace(rec.Data)) == 0 {
		return map[string]any{}, nil
	}
	data, err := decodeObject(rec.Data)
	if err != nil {
		return nil, fmt.Errorf("kv: decode version data: %w", err)
	}
	return data, nil
}

// encodeVersion serialises a version's data object: the format byte, then
// the object's JSON.
func encodeVersion(data map[string]any) ([]byte, error) {
	blob := make([]byte, 1, 256)
	blob[0] = versionFormatData
	return jsonobj.AppendValue(blob, data, true)
}

// lockMetadata write-locks key for a read-modify-write cycle and loads its
// metadata (nil for a key that has none). The caller calls unlock once it
// is done, whatever err is.
func (b *versioned) lockMetadata(ctx context.Context, key string) (meta *keyMetadata, unlock func(), err error) {
	lock := b.locks.forKey(key)
	lock.Lock()
	meta, err = b.loadMetadata(ctx, key)
	return meta, lock.Unlock, err
}

func (b *versioned) loadMetadata(ctx context.Context, key string) (*keyMetadata, error) {
	raw, err := b.storage.Get(ctx, metadataKey(key))
	if err != nil {
		return nil, wrapStorage("read key metadata", err)
	}
	if raw == nil {
		return nil, nil
	}
	return decodeMetadata(raw)
}

// loadMetadataVersion reads key's metadata for a read of version want
// (see decodeMetadataVersion); meta is nil for a key that has none.
func (b *versioned) loadMetadataVersion(ctx context.Context, key string, want uint64) (meta *keyMetadata, vm *versionMetadata, err error) {
	raw, err := b.storage.Get(ctx, metadataKey(key))
	if err != nil {
		return nil, nil, wrapStorage("read key metadata", err)
	}
	if raw == nil {
		return nil, nil, nil
	}
	return decodeMetadataVersion(raw, want)
}

func (b *versioned) saveMetadata(ctx context.Context, key string, meta *keyMetadata) error {
	raw, err := encodeMetadata(meta)
	if err != nil {
		return fmt.Errorf("kv: encode key metadata: %w", err)
	}
	return b.putMetadata(ctx, key, raw)
}

func (b *versioned) putMetadata(ctx context.Context, key string, raw []byte) error {
	if err := b.storage.Put(ctx, metadataKey(key), raw); err != nil {
		return wrapStorage("write key metadata", err)
	}
	return nil
}

func (b *versioned) loadConfig(ctx context.Context) (*mountConfig, error) {
	raw, err := b.storage.Get(ctx, configKey)
	if err != nil {
		return nil, wrapStorage("read config", err)
	}
	if raw == nil {
		return &mountConfig{}, nil
	}
	return decodeConfig(raw)
}

// loadVersion reads the data of one version; a missing blob is an error
// because metadata only ever names versions whose data was written first.
func (b *versioned) loadVersion(ctx context.Context, key string, version uint64) (map[string]any, error) {
	raw, err := b.storage.Get(ctx, versionKey(key, version))
	if err != nil {
		return nil, wrapStorage("read version", err)
	}
	if raw == nil {
		return nil, errVersionDataMissing
	}
	return decodeVersion(raw)
}

// deleteVersionBlobs removes the data of the given versions, oldest first.
func (b *versioned) deleteVersionBlobs(ctx context.Context, key string, versions []uint64) error {
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	for _, n := range versions {
		if err := b.storage.Delete(ctx, versionKey(key, n)); err != nil {
			return wrapStorage("delete version", err)
		}
	}
	return nil
}

// deleteAllVersionBlobs removes every version blob stored for key,
// including ones left behind by an interrupted write.
func (b *versioned) deleteAllVersionBlobs(ctx context.Context, key string) error {
	names, err := b.storage.List(ctx, versionDir(key))
	if err != nil {
		return wrapStorage("list versions", err)
	}
	var versions []uint64
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		// Only the canonical spelling names a version ("07" does not).
		if n, err := strconv.ParseUint(name, 10, 64); err == nil && (name[0] != '0' || name == "0") {
			versions = append(versions, n)
		}
	}
	return b.deleteVersionBlobs(ctx, key, versions)
}

// formatTime renders a time as Vault does (RFC 3339 with nanoseconds, UTC),
// and the zero time as "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// versionView is a version's metadata as the data and patch endpoints
// report it.
func versionView(version uint64, vm *versionMetadata, meta *keyMetadata) map[string]any {
	return map[string]any{
		"version":         version,
		"created_time":    formatTime(vm.CreatedTime),
		"deletion_time":   formatTime(vm.DeletionTime),
		"destroyed":       vm.Destroyed,
		"custom_metadata": meta.CustomMetadata,
	}
}

// metadataView is the metadata endpoint's answer.
func metadataView(meta *keyMetadata) map[string]any {
	versions := make(map[string]any, len(meta.Versions))
	for n, vm := range meta.Versions {
		versions[strconv.FormatUint(n, 10)] = map[string]any{
			"created_time":  formatTime(vm.CreatedTime),
			"deletion_time": formatTime(vm.DeletionTime),
			"destroyed":     vm.Destroyed,
		}
	}
	return map[string]any{
		"cas_required":         meta.CASRequired,
		"created_time":         formatTime(meta.CreatedTime),
		"current_version":      meta.CurrentVersion,
		"custom_metadata":      meta.CustomMetadata,
		"delete_version_after": meta.DeleteVersionAfter.String(),
		"max_versions":         meta.MaxVersions,
		"oldest_version":       meta.OldestVersion,
		"updated_time":         formatTime(meta.UpdatedTime),
		"versions":             versions,
	}
}
