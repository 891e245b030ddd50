package kv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"coffer/engines"
)

// readData answers data/<key>, optionally at ?version=N (0 or absent for
// the current version). A deleted or destroyed version answers 404 with
// its metadata and null data, which Vault's clients rely on.
func (b *versioned) readData(ctx context.Context, key string, data map[string]any) (*engines.Response, error) {
	var want uint64
	if raw, ok := data["version"]; ok {
		n, err := parseInt(raw)
		if err != nil {
			return nil, fieldError("version", err)
		}
		if n > 0 {
			want = uint64(n)
		}
	}
	// A version's data can vanish between reading the metadata and the data
	// when this node serves the read while the active node prunes or
	// destroys that version; reading again sees the new metadata.
	for attempt := 1; ; attempt++ {
		resp, err := b.readDataOnce(ctx, key, want)
		if errors.Is(err, errVersionDataMissing) && attempt < 3 {
			continue
		}
		return resp, err
	}
}

func (b *versioned) readDataOnce(ctx context.Context, key string, want uint64) (*engines.Response, error) {
	lock := b.locks.forKey(key)
	lock.RLock()
	defer lock.RUnlock()

	// Only the wanted version's metadata is decoded: a read needs no more.
	meta, vm, err := b.loadMetadataVersion(ctx, key, want)
	if err != nil || vm == nil {
		return nil, err
	}
	version := meta.CurrentVersion
	if want > 0 {
		version = want
	}
	resp := &engines.Response{Data: map[string]any{
		"data":     nil,
		"metadata": versionView(version, vm, meta),
	}}
	if b.gone(vm, b.now()) {
		resp.StatusCode = http.StatusNotFound
		return resp, nil
	}
	vdata, err := b.loadVersion(ctx, key, version)
	if err != nil {
		return nil, err
	}
	resp.Data["data"] = vdata
	return resp, nil
}

// writeData stores a new version from {"data": {...}, "options": {"cas": N}}.
func (b *versioned) writeData(ctx context.Context, key string, data map[string]any) (*engines.Response, error) {
	obj, ok := data["data"].(map[string]any)
	if !ok {
		return nil, engines.BadRequest("no data provided")
	}
	cas, hasCAS, err := casOption(data)
	if err != nil {
		return nil, err
	}
	blob, err := encodeVersion(obj)
	if err != nil {
		return nil, engines.BadRequest("data cannot be encoded as JSON")
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
		meta = newKeyMetadata()
	}
	if err := checkCAS(cfg, meta, cas, hasCAS); err != nil {
		return nil, err
	}
	return b.addVersion(ctx, key, cfg, meta, blob)
}

// patchData applies a JSON merge patch to the current version's data and
// stores the result as a new version.
func (b *versioned) patchData(ctx context.Context, key string, data map[string]any) (*engines.Response, error) {
	patch, ok := data["data"].(map[string]any)
	if !ok {
		return nil, engines.BadRequest("no data provided")
	}
	cas, hasCAS, err := casOption(data)
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
	if err := checkCAS(cfg, meta, cas, hasCAS); err != nil {
		return nil, err
	}
	vm := meta.Versions[meta.CurrentVersion]
	if vm == nil {
		return &engines.Response{StatusCode: http.StatusNotFound}, nil
	}
	if b.gone(vm, b.now()) {
		return &engines.Response{
			StatusCode: http.StatusNotFound,
			Data:       versionView(meta.CurrentVersion, vm, meta),
		}, nil
	}
	current, err := b.loadVersion(ctx, key, meta.CurrentVersion)
	if err != nil {
		return nil, err
	}
	merged, _ := mergePatch(current, patch).(map[string]any)
	blob, err := encodeVersion(merged)
	if err != nil {
		return nil, engines.BadRequest("data cannot be encoded as JSON")
	}
	return b.addVersion(ctx, key, cfg, meta, blob)
}

// checkCAS enforces check-and-set: a given cas must equal the current
// version (0: the key must have no versions); without one, the write is
// refused if the mount or the key requires cas.
func checkCAS(cfg *mountConfig, meta *keyMetadata, cas int64, hasCAS bool) error {
	if hasCAS {
		if cas < 0 || uint64(cas) != meta.CurrentVersion {
			return engines.BadRequest("check-and-set parameter did not match the current version")
		}
		return nil
	}
	if cfg.CASRequired || meta.CASRequired {
		return engines.BadRequest("check-and-set parameter required for this call")
	}
	return nil
}

// addVersion writes blob as the key's next version, then the metadata
// naming it, then deletes the data of versions pruned by max_versions.
// The caller holds the key's lock and owns meta, which it updates in
// place (on an error the caller drops it).
func (b *versioned) addVersion(ctx context.Context, key string, cfg *mountConfig, meta *keyMetadata, blob []byte) (*engines.Response, error) {
	now := b.now()
	version := meta.CurrentVersion + 1
	vm := &versionMetadata{CreatedTime: now, DeletionTime: deletionTime(now, cfg, meta)}
	meta.CurrentVersion = version
	meta.Versions[version] = vm
	meta.UpdatedTime = now
	if meta.CreatedTime.IsZero() {
		meta.CreatedTime = now
	}
	pruned := prune(meta, cfg)
	rawMeta, err := encodeMetadata(meta)
	if err != nil {
		return nil, fmt.Errorf("kv: encode key metadata: %w", err)
	}
	vkey := versionKey(key, version)
	// One Raft entry for the whole write when the storage can batch: the
	// version, the metadata naming it, and the pruned versions' data.
	deletes := make([]string, 0, len(pruned))
	for _, n := range pruned {
		deletes = append(deletes, versionKey(key, n))
	}
	if ok, err := engines.TryBatch(ctx, b.storage, map[string][]byte{vkey: blob, metadataKey(key): rawMeta}, deletes); ok {
		if err != nil {
			return nil, wrapStorage("write version", err)
		}
		return &engines.Response{Data: versionView(version, vm, meta)}, nil
	}
	// Storage without batches: the version first, then the metadata naming
	// it (a crash in between leaves only unreachable data), then pruning.
	if err := b.storage.Put(ctx, vkey, blob); err != nil {
		return nil, wrapStorage("write version", err)
	}
	if err := b.putMetadata(ctx, key, rawMeta); err != nil {
		return nil, err
	}
	resp := &engines.Response{Data: versionView(version, vm, meta)}
	if err := b.deleteVersionBlobs(ctx, key, pruned); err != nil {
		// The new version is durable; what is left is unreachable data
		// that deleting the key's metadata removes.
		resp.Warnings = append(resp.Warnings, "error occurred when cleaning up old versions; their data will be removed when the key's metadata is deleted")
	}
	return resp, nil
}

// maxVersions is the number of versions a key keeps: the larger of the
// key's and the mount's settings, 0 meaning unset, and 10 when neither is
// set (Vault's rule).
func maxVersions(cfg *mountConfig, meta *keyMetadata) uint64 {
	n := max(meta.MaxVersions, cfg.MaxVersions)
	if n == 0 {
		return defaultMaxVersions
	}
	return uint64(n)
}

// prune drops the versions beyond max_versions from meta, advancing
// OldestVersion as Vault does, and returns those whose data must still be
// deleted (destroyed versions have none).
func prune(meta *keyMetadata, cfg *mountConfig) []uint64 {
	limit := maxVersions(cfg, meta)
	if meta.CurrentVersion-meta.OldestVersion < limit {
		return nil
	}
	last := meta.CurrentVersion - limit
	var pruned []uint64
	for n, vm := range meta.Versions {
		if n > last {
			continue
		}
		if !vm.Destroyed {
			pruned = append(pruned, n)
		}
		delete(meta.Versions, n)
	}
	meta.OldestVersion = last + 1
	return pruned
}

// deletionTime is when a version created (or undeleted) at t is deleted
// automatically: t plus the smaller non-zero delete_version_after of the
// mount and the key, or never (zero) if neither is set or the mount has
// disabled it.
func deletionTime(t time.Time, cfg *mountConfig, meta *keyMetadata) time.Time {
	if cfg.autoDeleteDisabled() {
		return time.Time{}
	}
	d := meta.DeleteVersionAfter
	if m := cfg.DeleteVersionAfter; m > 0 && (d <= 0 || m < d) {
		d = m
	}
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}

// deleteLatest soft-deletes the current version (DELETE data/<key>).
func (b *versioned) deleteLatest(ctx context.Context, key string) error {
	meta, unlock, err := b.lockMetadata(ctx, key)
	defer unlock()
	if err != nil || meta == nil {
		return err
	}
	now := b.now()
	vm := meta.Versions[meta.CurrentVersion]
	if vm == nil || b.gone(vm, now) {
		return nil
	}
	vm.DeletionTime = now
	return b.saveMetadata(ctx, key, meta)
}
