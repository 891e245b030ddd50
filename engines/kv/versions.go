package kv

import (
	"context"
	"time"

	"coffer/engines"
)

// versionsParam reads the "versions" field of delete/, undelete/ and
// destroy/; missing or empty is a 400 with Vault's message (capitalised
// as Vault has it for delete and undelete).
func versionsParam(data map[string]any, missing string) ([]uint64, error) {
	versions, err := parseVersions(data["versions"])
	if err != nil {
		return nil, fieldError("versions", err)
	}
	if len(versions) == 0 {
		return nil, engines.BadRequest("%s", missing)
	}
	return versions, nil
}

// deleteVersions soft-deletes the given versions (POST delete/<key>).
// Missing, destroyed and already deleted versions are skipped.
func (b *versioned) deleteVersions(ctx context.Context, key string, data map[string]any) error {
	versions, err := versionsParam(data, "No version number provided")
	if err != nil {
		return err
	}
	return b.setDeletionTimes(ctx, key, versions, func(_ *keyMetadata, vm *versionMetadata, now time.Time) (time.Time, bool) {
		return now, !b.gone(vm, now)
	})
}

// undeleteVersions restores soft-deleted versions (POST undelete/<key>);
// destroyed versions stay destroyed. A restored version gets a fresh
// automatic deletion time if delete_version_after applies.
func (b *versioned) undeleteVersions(ctx context.Context, key string, data map[string]any) error {
	versions, err := versionsParam(data, "No version number provided")
	if err != nil {
		return err
	}
	cfg, err := b.loadConfig(ctx)
	if err != nil {
		return err
	}
	return b.setDeletionTimes(ctx, key, versions, func(meta *keyMetadata, vm *versionMetadata, now time.Time) (time.Time, bool) {
		return deletionTime(now, cfg, meta), !vm.Destroyed
	})
}

// setDeletionTimes sets the deletion time of each of the given versions of
// key that exists and that when accepts to the time when returns, and
// saves the metadata if any changed. A missing key is left alone.
func (b *versioned) setDeletionTimes(ctx context.Context, key string, versions []uint64, when func(meta *keyMetadata, vm *versionMetadata, now time.Time) (time.Time, bool)) error {
	meta, unlock, err := b.lockMetadata(ctx, key)
	defer unlock()
	if err != nil || meta == nil {
		return err
	}
	now := b.now()
	changed := false
	for _, n := range versions {
		vm := meta.Versions[n]
		if vm == nil {
			continue
		}
		t, ok := when(meta, vm, now)
		if !ok {
			continue
		}
		vm.DeletionTime = t
		changed = true
	}
	if !changed {
		return nil
	}
	return b.saveMetadata(ctx, key, meta)
}

// destroyVersions permanently removes the data of the given versions (POST
// destroy/<key>): the metadata marks them destroyed first, then their
// data is deleted.
func (b *versioned) destroyVersions(ctx context.Context, key string, data map[string]any) error {
	versions, err := versionsParam(data, "no version number provided")
	if err != nil {
		return err
	}
	meta, unlock, err := b.lockMetadata(ctx, key)
	defer unlock()
	if err != nil || meta == nil {
		return err
	}
	var destroyed []uint64
	for _, n := range versions {
		vm := meta.Versions[n]
		if vm == nil || vm.Destroyed {
			continue
		}
		vm.Destroyed = true
		destroyed = append(destroyed, n)
	}
	if len(destroyed) == 0 {
		return nil
	}
	if err := b.saveMetadata(ctx, key, meta); err != nil {
		return err
	}
	return b.deleteVersionBlobs(ctx, key, destroyed)
}
