package integration

import (
	"bytes"
	"context"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// TestSnapshotFromOtherKeys checks that a snapshot made by a cluster with
// other keys is refused unless forced, and that a forced restore leaves
// the node sealed until the other cluster's keys are given.
func TestSnapshotFromOtherKeys(t *testing.T) {
	ctx := context.Background()
	a, b := mustStartNode(t), mustStartNode(t)
	_, aRoot := mustInitUnseal(t, a)
	bKeys, bRoot := mustInitUnseal(t, b)
	for _, n := range []struct {
		node *Node
		tok  string
		val  string
	}{{a, aRoot, "from-a"}, {b, bRoot, "from-b"}} {
		c := n.node.Client(n.tok)
		if err := c.Sys().MountWithContext(ctx, "secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			t.Fatalf("mount: %v", err)
		}
		if _, err := c.KVv2("secret").Put(ctx, "who", map[string]any{"v": n.val}); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	var snap bytes.Buffer
	if err := b.Client(bRoot).Sys().RaftSnapshotWithContext(ctx, &snap); err != nil {
		t.Fatalf("snapshot of b: %v", err)
	}
	ac := a.Client(aRoot)
	if err := ac.Sys().RaftSnapshotRestoreWithContext(ctx, bytes.NewReader(snap.Bytes()), false); statusOf(err) != 400 {
		t.Fatalf("restore of another cluster's snapshot without force: %v, want 400", err)
	}
	if s, err := ac.KVv2("secret").Get(ctx, "who"); err != nil || s.Data["v"] != "from-a" {
		t.Fatalf("a's data after the refused restore: %v %v", s, err)
	}
	// Forced: the data is b's now, and opens only with b's keys.
	if err := ac.Sys().RaftSnapshotRestoreWithContext(ctx, bytes.NewReader(snap.Bytes()), true); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	waitFor(t, 10*time.Second, "a seals after the forced restore", func() bool {
		st, err := a.Client("").Sys().SealStatusWithContext(ctx)
		return err == nil && st.Sealed
	})
	mustUnseal(t, a.Client(""), bKeys[:3])
	s, err := a.Client(bRoot).KVv2("secret").Get(ctx, "who")
	if err != nil || s.Data["v"] != "from-b" {
		t.Fatalf("after unsealing with b's keys: %v %v", s, err)
	}
}
