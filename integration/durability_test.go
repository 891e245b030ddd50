package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// Durability at full speed: 32 writers overwrite KV v2 keys as fast as the
// server takes them, the server is SIGKILLed in the middle of the run, and
// after a restart every acknowledged write must read back: each key holds
// its last acknowledged value, or the value that was in flight when the
// process died (a write may be applied without its answer reaching the
// client), never an older one and never nothing.

const (
	durWriters      = 32
	durKeysPerW     = 20
	durAckedBeforeK = 1500 // acknowledged writes before the kill
)

// durKey is what the writers know about one key.
type durKey struct {
	acked    string // last value whose write was acknowledged
	inFlight string // value being written when the writer stopped, if unanswered
}

// durLoad is a running set of writers.
type durLoad struct {
	mu    sync.Mutex
	keys  map[string]*durKey
	acked atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startDurLoad starts the writers; clientFor gives writer w its client
// (so a cluster test can spread writers over nodes).
func startDurLoad(clientFor func(w int) *vault.Client) *durLoad {
	l := &durLoad{keys: map[string]*durKey{}, stop: make(chan struct{})}
	for w := range durWriters {
		for k := range durKeysPerW {
			l.keys[fmt.Sprintf("dur/w%02d/k%02d", w, k)] = &durKey{}
		}
	}
	for w := range durWriters {
		kv := clientFor(w).KVv2("secret")
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				path := fmt.Sprintf("dur/w%02d/k%02d", w, i%durKeysPerW)
				value := fmt.Sprintf("w%02d-i%06d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				l.mu.Lock()
				l.keys[path].inFlight = value
				l.mu.Unlock()
				_, err := kv.Put(ctx, path, map[string]any{"v": value})
				cancel()
				l.mu.Lock()
				if err == nil {
					l.keys[path].acked, l.keys[path].inFlight = value, ""
					l.acked.Add(1)
				}
				// On an error the value stays in flight: it may or may not
				// have been applied. A later acknowledged write replaces it.
				l.mu.Unlock()
			}
		})
	}
	return l
}

// halt stops the writers and waits for them.
func (l *durLoad) halt() {
	close(l.stop)
	l.wg.Wait()
}

// verify reads every key through c and checks it against what was
// acknowledged.
func (l *durLoad) verify(t *testing.T, c *vault.Client) {
	t.Helper()
	kv := c.KVv2("secret")
	checked := 0
	for path, k := range l.keys {
		if k.acked == "" && k.inFlight == "" {
			continue
		}
		got, err := kv.Get(context.Background(), path)
		var have string
		switch {
		case err == nil:
			have, _ = got.Data["v"].(string)
		case errors.Is(err, vault.ErrSecretNotFound):
		default:
			t.Fatalf("read %s after restart: %v", path, err)
		}
		if have != k.acked && (k.inFlight == "" || have != k.inFlight) {
			t.Errorf("%s: read %q after restart, acknowledged %q (in flight %q)", path, have, k.acked, k.inFlight)
		}
		if k.acked != "" {
			checked++
		}
	}
	t.Logf("%d acknowledged writes before the kill; %d keys checked, all hold their last acknowledged (or in-flight) value", l.acked.Load(), checked)
}

func TestDurabilityKillDuringWrites(t *testing.T) {
	n := mustStartNode(t)
	keys, root := mustInitUnseal(t, n)
	c := n.Client(root)
	if err := c.Sys().Mount("secret", &vault.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatalf("mount kv-v2: %v", err)
	}

	load := startDurLoad(func(int) *vault.Client { return n.Client(root) })
	waitFor(t, 60*time.Second, "acknowledged writes before the kill", func() bool {
		return load.acked.Load() >= durAckedBeforeK
	})
	// SIGKILL while the writers are going: no shutdown, no final sync.
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.stopped = true
	load.halt()

	n.start("server", "-config", n.Config)
	t.Cleanup(n.Stop)
	mustUnseal(t, n.Client(""), keys[:3])
	waitFor(t, 30*time.Second, "active after restart", func() bool {
		code, err := healthCode(n.Addr, "")
		return err == nil && code == http.StatusOK
	})
	load.verify(t, n.Client(root))
}

func TestDurabilityClusterKillLeaderDuringWrites(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.WaitLeader()
	if err := c.Client(leader).Sys().Mount("secret", &vault.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatalf("mount kv-v2: %v", err)
	}
	// Writers spread over all three nodes; standbys forward to the leader.
	load := startDurLoad(func(w int) *vault.Client { return c.Client(w % len(c.Nodes)) })
	c.waitFor(60*time.Second, "acknowledged writes before the kill", func() bool {
		return load.acked.Load() >= durAckedBeforeK
	})
	c.Kill(leader)
	load.halt()

	next := c.WaitLeader(leader)
	c.waitFor(30*time.Second, "the new leader active", func() bool {
		code, err := healthCode(c.Nodes[next].Addr, "")
		return err == nil && code == http.StatusOK
	})
	load.verify(t, c.Client(next))
}
