package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"coffer/fsm"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// Node is one member of a Coffer cluster: it owns the Raft instance, its
// stores and the FSM, and offers the replicated key-value storage that the
// barrier encrypts into.
//
// Writes (Put, Delete, Apply) are group-committed and return once the entry
// is committed and applied locally. Reads (Get, List) are linearizable: they
// pass a read barrier first. All methods are safe for concurrent use.
type Node struct {
	cfg    Config
	logger *slog.Logger

	raft      *raft.Raft
	fsm       *fsm.FSM
	logStore  *raftboltdb.BoltStore
	snapshots *raft.FileSnapshotStore
	transport *raft.NetworkTransport

	commits *committer
	reads   *readBarrier

	// ready is closed-over state: true once this node, as leader, has
	// applied everything committed before its term (raft.Barrier).
	ready atomic.Bool

	stop      chan struct{}
	stopOnce  sync.Once
	fatalOnce sync.Once
	wg        sync.WaitGroup
}

// Open opens (or creates) the node's stores under cfg.Dir, starts Raft and,
// when the directory holds no Raft state yet, bootstraps a single-voter
// cluster with this node as its only member.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	c := cfg.withDefaults()
	if c.Dir == "" || c.NodeID == "" || c.BindAddr == "" {
		return nil, errors.New("cluster: Dir, NodeID and BindAddr are required")
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: create data dir: %w", err)
	}
	n := &Node{cfg: c, logger: c.Logger, stop: make(chan struct{})}
	if err := n.openStores(); err != nil {
		n.closeStores()
		return nil, err
	}
	if err := n.startRaft(); err != nil {
		n.closeStores()
		return nil, err
	}
	n.commits = newCommitter(n.raft, c.MaxBatchOps, c.MaxEntryBytes, c.MaxInFlight, n.fatal)
	n.reads = newReadBarrier(n.raft)
	n.wg.Add(2)
	go n.watchLeadership()
	go n.checkpoint()
	return n, nil
}

func (n *Node) hclogger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   name,
		Output: n.cfg.RaftLogOutput,
		Level:  hclog.LevelFromString(n.cfg.RaftLogLevel),
	})
}

func (n *Node) openStores() error {
	var err error
	n.fsm, err = fsm.Open(n.cfg.Dir, n.logger)
	if err != nil {
		return fmt.Errorf("cluster: open fsm: %w", err)
	}
	n.logStore, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(n.cfg.Dir, "raft.db"),
		BoltOptions: &bolt.Options{Timeout: time.Second, NoFreelistSync: true},
	})
	if err != nil {
		return fmt.Errorf("cluster: open raft log: %w", err)
	}
	n.snapshots, err = raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, 2, n.hclogger("snapshot"))
	if err != nil {
		return fmt.Errorf("cluster: open snapshot store: %w", err)
	}
	return n.catchUpFromSnapshot()
}

// catchUpFromSnapshot restores the newest snapshot into the FSM when the
// FSM's durable state is older than it (fsm.db lost or damaged). Raft itself
// is told not to restore on start (NoSnapshotRestoreOnStart) because the FSM
// is durable and normally ahead of every snapshot.
func (n *Node) catchUpFromSnapshot() error {
	metas, err := n.snapshots.List()
	if err != nil {
		return fmt.Errorf("cluster: list snapshots: %w", err)
	}
	if len(metas) == 0 || metas[0].Index <= n.fsm.AppliedIndex() {
		return nil
	}
	n.logger.Warn("fsm is behind the newest snapshot; restoring it",
		"fsm_index", n.fsm.AppliedIndex(), "snapshot_index", metas[0].Index)
	_, rc, err := n.snapshots.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("cluster: open snapshot: %w", err)
	}
	if err := n.fsm.Restore(rc); err != nil {
		return fmt.Errorf("cluster: restore snapshot: %w", err)
	}
	return nil
}

func (n *Node) startRaft() error {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.Logger = n.hclogger("raft")
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.HeartbeatTimeout / 2
	rc.NoSnapshotRestoreOnStart = true
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	if n.cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	}
	if n.cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = n.cfg.SnapshotInterval
	}
	if n.cfg.TrailingLogs > 0 {
		rc.TrailingLogs = n.cfg.TrailingLogs
	}

	advertise, err := net.ResolveTCPAddr("tcp", n.cfg.AdvertiseAddr)
	if err != nil {
		return fmt.Errorf("cluster: resolve advertise address: %w", err)
	}
	n.transport, err = raft.NewTCPTransportWithLogger(n.cfg.BindAddr, advertise, 3, 10*time.Second, n.hclogger("transport"))
	if err != nil {
		return fmt.Errorf("cluster: listen for raft: %w", err)
	}
	existing, err := raft.HasExistingState(n.logStore, n.logStore, n.snapshots)
	if err != nil {
		return fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	if !existing {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       rc.LocalID,
			Address:  n.transport.LocalAddr(),
		}}}
		if err := raft.BootstrapCluster(rc, n.logStore, n.logStore, n.snapshots, n.transport, boot); err != nil {
			return fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, n.logStore, n.logStore, n.snapshots, n.transport)
	if err != nil {
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	return nil
}

// watchLeadership marks the node ready to serve reads once, as a new leader,
// it has applied every entry committed before its term.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-n.stop:
			return
		case leader := <-ch:
			n.ready.Store(false)
			if !leader {
				n.logger.Info("lost leadership")
				continue
			}
			if err := n.raft.Barrier(0).Error(); err != nil {
				n.logger.Warn("leader barrier failed", "error", err)
				continue
			}
			n.ready.Store(true)
			n.logger.Info("became leader")
		}
	}
}

// checkpoint fsyncs the FSM periodically; the Raft log already holds every
// committed entry, so this only bounds how much is replayed after a crash.
func (n *Node) checkpoint() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			if err := n.fsm.Sync(); err != nil {
				n.logger.Error("fsm checkpoint failed", "error", err)
			}
		}
	}
}

// fatal stops Raft after the FSM failed to write: a node that cannot apply
// committed entries must neither lead nor vote. The operator log says why;
// the stores stay as they are for inspection and a restart replays the log.
func (n *Node) fatal(err error) {
	n.fatalOnce.Do(func() {
		n.logger.Error("fsm cannot apply committed entries; stopping raft on this node", "error", err)
		n.ready.Store(false)
		go n.raft.Shutdown()
	})
}

// IsLeader reports whether this node is the leader and has caught up.
func (n *Node) IsLeader() bool {
	return n.raft.State() == raft.Leader && n.ready.Load()
}

// Leader returns the current leader's Raft address and ID, empty if none.
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// NodeID is this node's Raft server ID.
func (n *Node) NodeID() string { return n.cfg.NodeID }

// AppliedIndex is the index of the last entry applied to the local FSM.
func (n *Node) AppliedIndex() uint64 { return n.fsm.AppliedIndex() }

// WaitForLeader blocks until this node leads and is ready, or ctx ends.
func (n *Node) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !n.IsLeader() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: wait for leadership: %w", ctx.Err())
		case <-n.stop:
			return ErrClosed
		case <-t.C:
		}
	}
	return nil
}

// Snapshot forces a Raft snapshot (and log compaction).
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("cluster: snapshot: %w", err)
	}
	return nil
}

// Close stops Raft, syncs the FSM and closes every store.
func (n *Node) Close() error {
	var errs []error
	n.stopOnce.Do(func() {
		close(n.stop)
		n.commits.close()
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: shut down raft: %w", err))
		}
		n.wg.Wait()
		errs = append(errs, n.closeStores())
	})
	return errors.Join(errs...)
}

func (n *Node) closeStores() error {
	var errs []error
	if n.transport != nil {
		errs = append(errs, n.transport.Close())
	}
	if n.fsm != nil {
		if err := n.fsm.Sync(); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, n.fsm.Close())
	}
	if n.logStore != nil {
		errs = append(errs, n.logStore.Close())
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*Node)(nil)
