package integration

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// TestNoPlaintextOnDisk writes canary secrets, forces a snapshot-bearing
// restart cycle, stops the node and scans every byte of its data directory
// for the canaries, the root token and the key shares — raw, hex and
// base64.
func TestNoPlaintextOnDisk(t *testing.T) {
	n := mustStartNode(t)
	ctx := context.Background()
	keys, token := mustInitUnseal(t, n)
	c := n.Client(token)
	if err := c.Sys().Mount("kv", &vault.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatalf("mount kv-v2: %v", err)
	}
	if err := c.Sys().Mount("old", &vault.MountInput{Type: "kv"}); err != nil {
		t.Fatalf("mount kv v1: %v", err)
	}
	canaries := []string{"CANARY-7f3a9c-password-value", "CANARY-metadata-b81e", "CANARY-v1-d02c55"}
	if _, err := c.KVv2("kv").Put(ctx, "app/db", map[string]any{"password": canaries[0]}); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := c.KVv2("kv").PutMetadata(ctx, "app/db", vault.KVMetadataPutInput{CustomMetadata: map[string]any{"owner": canaries[1]}}); err != nil {
		t.Fatalf("put metadata: %v", err)
	}
	if _, err := c.Logical().Write("old/thing", map[string]any{"v": canaries[2]}); err != nil {
		t.Fatalf("v1 write: %v", err)
	}
	// Rotate, write again under the new term, and restart so the data also
	// passes through a clean shutdown.
	if err := c.Sys().Rotate(); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := c.KVv2("kv").Put(ctx, "app/db2", map[string]any{"password": canaries[0]}); err != nil {
		t.Fatalf("put after rotate: %v", err)
	}
	for i := 0; i < 40; i++ {
		if _, err := c.KVv2("kv").Put(ctx, "filler", map[string]any{"n": i}); err != nil {
			t.Fatalf("filler put: %v", err)
		}
	}
	waitFor(t, 20*time.Second, "a raft snapshot on disk", func() bool {
		m, _ := filepath.Glob(filepath.Join(n.Dir, "snapshots", "*", "state.bin"))
		return len(m) > 0
	})
	n.Restart()
	mustUnseal(t, n.Client(""), keys[:3])
	if got, err := c.KVv2("kv").Get(ctx, "app/db2"); err != nil || got.Data["password"] != canaries[0] {
		t.Fatalf("read back after restart: %v %v", got, err)
	}
	n.Stop()

	var secrets [][]byte
	for _, c := range canaries {
		secrets = append(secrets, []byte(c))
	}
	secrets = append(secrets, []byte(token))
	for _, k := range keys {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			t.Fatalf("decode share: %v", err)
		}
		secrets = append(secrets, raw)
	}
	scanned := scanForPlaintext(t, []string{n.Dir}, secrets)
	if scanned == 0 {
		t.Fatal("scanned nothing: the data directory is empty")
	}
	t.Logf("scanned %d bytes in %s", scanned, n.Dir)
}
