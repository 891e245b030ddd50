package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"coffer/fsm"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
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
	logStore  logStore
	snapshots *raft.FileSnapshotStore
	transport *raft.NetworkTransport

	commits *committer
	reads   *readBarrier
	index   *readIndex

	// startMu orders Bootstrap, Join and Close; started is set once raft,
	// commits and reads exist (they never change after).
	startMu sync.Mutex
	started atomic.Bool

	services *leaderServices

	// ready is closed-over state: true once this node, as leader, has
	// applied everything committed before its term (raft.Barrier).
	ready atomic.Bool
	// terms counts leadership changes seen by watchLeadership: a write
	// request's deferred barrier (WriteBarrier) is void if it moved.
	terms atomic.Uint64

	stop      chan struct{}
	stopOnce  sync.Once
	fatalOnce sync.Once
	wg        sync.WaitGroup
}

// Open opens (or creates) the node's stores under cfg.Dir. When the
// directory already holds Raft state, Raft starts at once; otherwise the
// node waits, storing nothing, until it is either bootstrapped as a new
// cluster (Bootstrap, at sys/init) or added to an existing one (Join).
func Open(ctx context.Context, cfg Config) (*Node, error) {
	c := cfg.withDefaults()
	if c.Dir == "" || c.NodeID == "" || (c.BindAddr == "" && c.StreamLayer == nil) {
		return nil, errors.New("cluster: Dir, NodeID and BindAddr or StreamLayer are required")
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: create data dir: %w", err)
	}
	n := &Node{cfg: c, logger: c.Logger, stop: make(chan struct{})}
	n.services = newLeaderServices(n.logger)
	if err := n.openStores(); err != nil {
		n.closeStores()
		return nil, err
	}
	existing, err := raft.HasExistingState(n.logStore, n.logStore, n.snapshots)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	if existing {
		if err := n.start(false); err != nil {
			n.closeStores()
			return nil, err
		}
	}
	return n, nil
}

// Started reports whether Raft runs on this node (it has state, or was
// bootstrapped or joined).
func (n *Node) Started() bool { return n.started.Load() }

// Bootstrap makes this node a new one-voter cluster, unless Raft already
// runs here; it returns once the node leads and is ready.
func (n *Node) Bootstrap(ctx context.Context) error {
	if err := n.startOnce(true); err != nil {
		return err
	}
	return n.WaitForLeader(ctx)
}

// Join starts Raft with no configuration of its own: the node waits for a
// leader that has added it (AddNonvoter) to replicate the cluster's state.
func (n *Node) Join() error { return n.startOnce(false) }

func (n *Node) startOnce(bootstrap bool) error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	select {
	case <-n.stop:
		return ErrClosed
	default:
	}
	if n.started.Load() {
		return nil
	}
	return n.start(bootstrap)
}

// start creates the Raft instance and the goroutines around it.
func (n *Node) start(bootstrap bool) error {
	if err := n.startRaft(bootstrap); err != nil {
		return err
	}
	n.commits = newCommitter(n.raft, n.cfg.MaxBatchOps, n.cfg.MaxEntryBytes, n.cfg.MaxInFlight, n.fatal)
	n.reads = newReadBarrier(n.raft)
	n.index = newReadIndex(n)
	n.started.Store(true)
	n.wg.Add(2)
	go n.watchLeadership()
	go n.checkpoint()
	return nil
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
	var kind string
	n.logStore, kind, err = openLogStore(n.cfg.Dir, n.hclogger("wal"))
	if err != nil {
		return fmt.Errorf("cluster: open raft log: %w", err)
	}
	n.logger.Info("raft log store opened", "store", kind)
	n.snapshots, err = raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, 2, n.hclogger("snapshot"))
	if err != nil {
		return fmt.Errorf("cluster: open snapshot store: %w", err)
	}
	// Replay first: the entries up to the applied mark are committed and
	// continue the FSM's state, and a snapshot newer than them (one Raft
	// stored before a crash cut its restore short) then still replaces
	// the result wholesale. The other way round, a snapshot whose index
	// is past the FSM's only by no-op entries would be restored and
	// leave the node at that index until an election.
	mark := n.fsm.CrashMark()
	if err := n.replay(mark); err != nil {
		return err
	}
	restored, err := n.catchUpFromSnapshot()
	if err != nil {
		return err
	}
	// The replay can stop early at a compacted entry (a no-op before the
	// snapshot): once the snapshot is restored, the entries after it up to
	// the mark continue its state (the crashed process had applied them
	// on top of it).
	if restored > 0 && restored < mark {
		return n.replay(mark)
	}
	return nil
}

// replay applies the local log to the FSM up to to, before Raft starts.
func (n *Node) replay(to uint64) error {
	replayed, err := n.fsm.Replay(to, n.logStore.GetLog)
	if err != nil {
		return fmt.Errorf("cluster: replay the log into the fsm: %w", err)
	}
	if replayed > 0 {
		n.logger.Info("fsm: replayed entries the previous process had applied", "entries", replayed, "applied_index", n.fsm.AppliedIndex())
	}
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into the FSM when the
// FSM's durable state is older than it (fsm.db lost or damaged), and says
// which index it restored (0: none). Raft itself
// is told not to restore on start (NoSnapshotRestoreOnStart) because the FSM
// is durable and normally ahead of every snapshot.
func (n *Node) catchUpFromSnapshot() (restored uint64, err error) {
	metas, err := n.snapshots.List()
	if err != nil {
		return 0, fmt.Errorf("cluster: list snapshots: %w", err)
	}
	if len(metas) == 0 || metas[0].Index <= n.fsm.AppliedIndex() {
		return 0, nil
	}
	n.logger.Warn("fsm is behind the newest snapshot; restoring it",
		"fsm_index", n.fsm.AppliedIndex(), "snapshot_index", metas[0].Index)
	_, rc, err := n.snapshots.Open(metas[0].ID)
	if err != nil {
		return 0, fmt.Errorf("cluster: open snapshot: %w", err)
	}
	if err := n.fsm.Restore(rc); err != nil {
		return 0, fmt.Errorf("cluster: restore snapshot: %w", err)
	}
	// As restoringFSM does: the snapshot stands for everything up to its
	// index, whatever index its data was taken at.
	if err := n.fsm.RaiseApplied(metas[0].Index); err != nil {
		return 0, fmt.Errorf("cluster: restore snapshot: %w", err)
	}
	return metas[0].Index, nil
}

func (n *Node) startRaft(bootstrap bool) error {
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

	var err error
	if n.cfg.StreamLayer != nil {
		n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  n.cfg.StreamLayer,
			MaxPool: 3,
			Timeout: 10 * time.Second,
			Logger:  n.hclogger("transport"),
		})
	} else {
		advertise, rerr := net.ResolveTCPAddr("tcp", n.cfg.AdvertiseAddr)
		if rerr != nil {
			return fmt.Errorf("cluster: resolve advertise address: %w", rerr)
		}
		n.transport, err = raft.NewTCPTransportWithLogger(n.cfg.BindAddr, advertise, 3, 10*time.Second, n.hclogger("transport"))
		if err != nil {
			return fmt.Errorf("cluster: listen for raft: %w", err)
		}
	}
	if bootstrap {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       rc.LocalID,
			Address:  n.transport.LocalAddr(),
		}}}
		if err := raft.BootstrapCluster(rc, n.logStore, n.logStore, n.snapshots, n.transport, boot); err != nil {
			return fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	n.raft, err = raft.NewRaft(rc, &restoringFSM{FSM: n.fsm, snapshots: n.snapshots}, n.logStore, n.logStore, n.snapshots, n.transport)
	if err != nil {
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	return nil
}

// restoringFSM is the FSM as Raft sees it. After a restore Raft treats
// everything up to the snapshot's index as applied; the snapshot being
// restored is always the newest in the store (Raft writes it there first),
// so its index becomes the FSM's applied index too, even when its data
// was taken earlier (an operator's restore of an old backup).
type restoringFSM struct {
	*fsm.FSM
	snapshots *raft.FileSnapshotStore
}

func (r *restoringFSM) Restore(rc io.ReadCloser) error {
	if err := r.FSM.Restore(rc); err != nil {
		return err
	}
	metas, err := r.snapshots.List()
	if err != nil || len(metas) == 0 {
		return err
	}
	return r.RaiseApplied(metas[0].Index)
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
			n.terms.Add(1)
			n.services.stopAll()
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
			n.services.startAll(n.cfg.LeaderServiceDelay)
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
	return n.started.Load() && n.raft.State() == raft.Leader && n.ready.Load()
}

// Leader returns the current leader's Raft address and ID, empty if none.
func (n *Node) Leader() (addr, id string) {
	if !n.started.Load() {
		return "", ""
	}
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
	if !n.started.Load() {
		return ErrNotStarted
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("cluster: snapshot: %w", err)
	}
	return nil
}

// Close stops Raft, syncs the FSM and closes every store.
func (n *Node) Close() error {
	var errs []error
	n.stopOnce.Do(func() {
		n.startMu.Lock()
		defer n.startMu.Unlock()
		close(n.stop)
		n.services.stopAll()
		if n.started.Load() {
			n.commits.close()
			if err := n.raft.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("cluster: shut down raft: %w", err))
			}
		}
		n.wg.Wait()
		errs = append(errs, n.closeStores())
	})
	return errors.Join(errs...)
}

func (n *Node) closeStores() error {
	var errs []error
	if n.transport != nil && n.cfg.StreamLayer == nil {
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
