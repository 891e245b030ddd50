package peer

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// countFSM records applied commands.
type countFSM struct {
	mu   sync.Mutex
	logs []string
}

func (f *countFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, string(l.Data))
	return nil
}

func (f *countFSM) applied() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.logs...)
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("not supported") }
func (f *countFSM) Restore(io.ReadCloser) error         { return fmt.Errorf("not supported") }

// TestRaftClusterOverTransport runs real hashicorp/raft over the stream
// layer: three nodes elect a leader and replicate a command.
func TestRaftClusterOverTransport(t *testing.T) {
	ca := mustCA(t)
	const n = 3
	trs := make([]*Transport, n)
	var servers []raft.Server
	for i := range n {
		id := fmt.Sprintf("node%d", i)
		trs[i] = mustTransport(t, mustIdentity(t, ca, id))
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(trs[i].Addr().String())})
	}
	rafts := make([]*raft.Raft, n)
	fsms := make([]*countFSM, n)
	for i := range n {
		conf := raft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.HeartbeatTimeout = 100 * time.Millisecond
		conf.ElectionTimeout = 100 * time.Millisecond
		conf.LeaderLeaseTimeout = 50 * time.Millisecond
		conf.CommitTimeout = 5 * time.Millisecond
		conf.Logger = hclog.NewNullLogger()
		nt := raft.NewNetworkTransport(trs[i].RaftLayer(), 3, 2*time.Second, io.Discard)
		fsms[i] = &countFSM{}
		r, err := raft.NewRaft(conf, fsms[i], raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore(), nt)
		if err != nil {
			t.Fatal(err)
		}
		rafts[i] = r
		t.Cleanup(func() { _ = r.Shutdown().Error() })
	}
	if err := rafts[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	var leader *raft.Raft
	waitFor(t, 10*time.Second, "a leader", func() bool {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
				return true
			}
		}
		return false
	})
	if err := leader.Apply([]byte("hello"), 5*time.Second).Error(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	waitFor(t, 10*time.Second, "replication to every node", func() bool {
		for _, f := range fsms {
			if got := f.applied(); len(got) != 1 || got[0] != "hello" {
				return false
			}
		}
		return true
	})
}
