package integration

import (
	"errors"
	"net/http"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// TestKVv2Semantics drives KV v2 through the stock client's KVv2 helper
// and raw logical calls, as applications do.
func TestKVv2Semantics(t *testing.T) {
	n := mustStartDevNode(t, "root-kv")
	c := n.Client("root-kv")
	ctx := t.Context()
	kv := c.KVv2("secret")

	// Versions and check-and-set.
	s, err := kv.Put(ctx, "app", map[string]any{"v": "1"}, vault.WithCheckAndSet(0))
	if err != nil || s.VersionMetadata.Version != 1 {
		t.Fatalf("first put with cas=0: %+v %v", s, err)
	}
	if _, err := kv.Put(ctx, "app", map[string]any{"v": "x"}, vault.WithCheckAndSet(0)); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("cas=0 on an existing key: want 400, got %v", err)
	}
	if _, err := kv.Put(ctx, "app", map[string]any{"v": "2"}, vault.WithCheckAndSet(1)); err != nil {
		t.Fatalf("cas=1: %v", err)
	}
	if _, err := kv.Put(ctx, "app", map[string]any{"v": "x"}, vault.WithCheckAndSet(1)); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("stale cas: want 400, got %v", err)
	}
	if _, err := kv.Put(ctx, "app", map[string]any{"v": "3"}); err != nil {
		t.Fatalf("put v3: %v", err)
	}
	old, err := kv.GetVersion(ctx, "app", 1)
	if err != nil || old.Data["v"] != "1" {
		t.Fatalf("get version 1: %v %v", old, err)
	}

	// Patch merges into the latest version.
	if _, err := kv.Patch(ctx, "app", map[string]any{"extra": "e"}); err != nil {
		t.Fatalf("patch: %v", err)
	}
	cur, err := kv.Get(ctx, "app")
	if err != nil || cur.Data["v"] != "3" || cur.Data["extra"] != "e" || cur.VersionMetadata.Version != 4 {
		t.Fatalf("after patch: %+v %v", cur, err)
	}

	// Soft delete reads as missing; undelete brings it back.
	if err := kv.Delete(ctx, "app"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// As with Vault, the client gets no data and the version's metadata.
	if del, err := kv.Get(ctx, "app"); err != nil || del.Data != nil || del.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("read of a soft-deleted version: want no data and a deletion time, got %+v %v", del, err)
	}
	if code, _ := rawRequest(t, "GET", "http://"+n.Addr+"/v1/secret/data/app", "root-kv", "", ""); code != http.StatusNotFound {
		t.Fatalf("raw read of a soft-deleted version: status %d, want 404", code)
	}
	if err := kv.Undelete(ctx, "app", []int{4}); err != nil {
		t.Fatalf("undelete: %v", err)
	}
	if cur, err := kv.Get(ctx, "app"); err != nil || cur.Data["extra"] != "e" {
		t.Fatalf("after undelete: %v %v", cur, err)
	}

	// Destroy is permanent.
	if err := kv.Destroy(ctx, "app", []int{2}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if d, err := kv.GetVersion(ctx, "app", 2); err != nil || d.Data != nil || !d.VersionMetadata.Destroyed {
		t.Fatalf("read of a destroyed version: %+v %v", d, err)
	}
	if err := kv.Undelete(ctx, "app", []int{2}); err != nil {
		t.Fatalf("undelete of destroyed: %v", err)
	}
	if d, err := kv.GetVersion(ctx, "app", 2); err != nil || d.Data != nil {
		t.Fatalf("undelete resurrected a destroyed version: %+v %v", d, err)
	}

	// Metadata: max_versions, cas_required, custom_metadata, delete_version_after.
	meta, err := kv.GetMetadata(ctx, "app")
	if err != nil || meta.CurrentVersion != 4 || len(meta.Versions) != 4 || !meta.Versions["2"].Destroyed {
		t.Fatalf("metadata: %+v %v", meta, err)
	}
	if err := kv.PutMetadata(ctx, "app", vault.KVMetadataPutInput{
		MaxVersions: 2, CASRequired: true, CustomMetadata: map[string]any{"owner": "team-a"},
	}); err != nil {
		t.Fatalf("put metadata: %v", err)
	}
	if _, err := kv.Put(ctx, "app", map[string]any{"v": "5"}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("cas_required without cas: want 400, got %v", err)
	}
	if _, err := kv.Put(ctx, "app", map[string]any{"v": "5"}, vault.WithCheckAndSet(4)); err != nil {
		t.Fatalf("put with cas under cas_required: %v", err)
	}
	meta, err = kv.GetMetadata(ctx, "app")
	if err != nil || meta.OldestVersion != 4 || len(meta.Versions) != 2 || meta.CustomMetadata["owner"] != "team-a" {
		t.Fatalf("metadata after max_versions=2: %+v %v", meta, err)
	}
	if _, err := kv.GetVersion(ctx, "app", 1); !errors.Is(err, vault.ErrSecretNotFound) {
		t.Fatalf("a pruned version still reads: %v", err)
	}

	// delete_version_after makes new versions expire.
	if err := kv.PutMetadata(ctx, "short", vault.KVMetadataPutInput{DeleteVersionAfter: time.Second}); err != nil {
		t.Fatalf("metadata for short: %v", err)
	}
	if _, err := kv.Put(ctx, "short", map[string]any{"v": "brief"}); err != nil {
		t.Fatalf("put short: %v", err)
	}
	waitFor(t, 10*time.Second, "the short-lived version to expire", func() bool {
		s, err := kv.Get(ctx, "short")
		return err == nil && s.Data == nil
	})

	// List on metadata/.
	for _, p := range []string{"dir/a", "dir/b", "dir/sub/c"} {
		if _, err := kv.Put(ctx, p, map[string]any{"x": "y"}); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	list, err := c.Logical().ListWithContext(ctx, "secret/metadata/dir")
	if err != nil || list == nil {
		t.Fatalf("list: %v %v", list, err)
	}
	keys, _ := list.Data["keys"].([]any)
	if len(keys) != 3 || keys[0] != "a" || keys[1] != "b" || keys[2] != "sub/" {
		t.Fatalf("list keys: %v", keys)
	}

	// Deleting metadata removes every version.
	if err := kv.DeleteMetadata(ctx, "app"); err != nil {
		t.Fatalf("delete metadata: %v", err)
	}
	if _, err := kv.GetMetadata(ctx, "app"); !errors.Is(err, vault.ErrSecretNotFound) {
		t.Fatalf("metadata after delete: %v", err)
	}

	// Mount config.
	if _, err := c.Logical().WriteWithContext(ctx, "secret/config", map[string]any{"max_versions": 7}); err != nil {
		t.Fatalf("write config: %v", err)
	}
	cfg, err := c.Logical().ReadWithContext(ctx, "secret/config")
	if err != nil || cfg.Data["max_versions"] == nil {
		t.Fatalf("read config: %v %v", cfg, err)
	}
}

// TestKVv1 checks the unversioned engine.
func TestKVv1(t *testing.T) {
	n := mustStartDevNode(t, "root-v1")
	c := n.Client("root-v1")
	ctx := t.Context()
	if err := c.Sys().MountWithContext(ctx, "kv1", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	kv := c.KVv1("kv1")
	if err := kv.Put(ctx, "a/b", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("put: %v", err)
	}
	got, err := kv.Get(ctx, "a/b")
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("get: %v %v", got, err)
	}
	list, err := c.Logical().ListWithContext(ctx, "kv1/a")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := kv.Delete(ctx, "a/b"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := kv.Get(ctx, "a/b"); !errors.Is(err, vault.ErrSecretNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil || mounts["kv1/"] == nil || mounts["kv1/"].Type != "kv" || mounts["secret/"].Options["version"] != "2" {
		t.Fatalf("list mounts: %v %v", mounts, err)
	}
	if err := c.Sys().UnmountWithContext(ctx, "kv1"); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if code, body := rawRequest(t, "GET", "http://"+n.Addr+"/v1/kv1/a/b", "root-v1", "", ""); code != http.StatusNotFound {
		t.Fatalf("get on an unmounted path: status %d, want 404: %s", code, body)
	}
}

// TestRotate checks sys/rotate adds a term and old data still decrypts.
func TestRotate(t *testing.T) {
	n := mustStartDevNode(t, "root-rot")
	c := n.Client("root-rot")
	ctx := t.Context()
	if _, err := c.KVv2("secret").Put(ctx, "before", map[string]any{"v": "old"}); err != nil {
		t.Fatalf("put: %v", err)
	}
	ks, err := c.Sys().KeyStatusWithContext(ctx)
	if err != nil || ks.Term != 1 {
		t.Fatalf("key status: %+v %v", ks, err)
	}
	if err := c.Sys().RotateWithContext(ctx); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	ks, err = c.Sys().KeyStatusWithContext(ctx)
	if err != nil || ks.Term != 2 {
		t.Fatalf("key status after rotate: %+v %v", ks, err)
	}
	if got, err := c.KVv2("secret").Get(ctx, "before"); err != nil || got.Data["v"] != "old" {
		t.Fatalf("old data after rotate: %v %v", got, err)
	}
	if _, err := c.KVv2("secret").Put(ctx, "after", map[string]any{"v": "new"}); err != nil {
		t.Fatalf("put after rotate: %v", err)
	}
}
