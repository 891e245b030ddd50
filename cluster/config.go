package cluster

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/raft"
)

// Config describes one node.
type Config struct {
	// Dir holds the Raft log and stable store, fsm.db and snapshots/. The
	// log store is raft-wal in raft-wal/ for a new directory; a directory
	// that already has raft.db (made before raft-wal) keeps raft-boltdb.
	Dir string
	// NodeID is the node's stable Raft server ID.
	NodeID string
	// BindAddr is the host:port a plain TCP Raft transport listens on; used
	// only when StreamLayer is nil (tests of this package).
	BindAddr string
	// StreamLayer carries Raft RPC between nodes (transport/peer's mutual
	// TLS in a server); it outlives the node and is not closed by it.
	StreamLayer raft.StreamLayer
	// APIAddr is this node's advertised API address, reported in Status.
	APIAddr string
	// RPCClient reaches other nodes' RPC handlers (Node.RPCHandler) at
	// https://CLUSTER_ADDR/...; a standby asks the leader for read indexes
	// with it. Nil: standbys cannot serve reads.
	RPCClient *http.Client
	// LeaderServiceDelay is how long a new leader waits after its barrier
	// before starting leader-only services, so a deposed leader that has
	// not yet noticed (its lease runs HeartbeatTimeout/2) has stopped
	// them first; zero means HeartbeatTimeout.
	LeaderServiceDelay time.Duration
	// AdvertiseAddr is the address peers use to reach BindAddr; empty means
	// BindAddr.
	AdvertiseAddr string
	// Logger receives the node's operational log.
	Logger *slog.Logger
	// RaftLogOutput receives hashicorp/raft's own log lines; nil discards
	// them below warnings to stderr.
	RaftLogOutput io.Writer
	// RaftLogLevel is hashicorp/raft's log level ("warn" by default).
	RaftLogLevel string

	// HeartbeatTimeout and ElectionTimeout tune Raft; zero means 500ms.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// CheckpointInterval is how often the FSM is fsynced; zero means 5s.
	CheckpointInterval time.Duration
	// MaxBatchOps bounds how many writes one log entry carries; zero means 1024.
	MaxBatchOps int
	// MaxEntryBytes bounds the encoded size of one log entry; zero means 8 MiB.
	MaxEntryBytes int
	// SnapshotThreshold, SnapshotInterval and TrailingLogs tune Raft
	// snapshots and log compaction; zero keeps hashicorp/raft's defaults.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// MaxInFlight bounds how many group-commit entries are in Raft at once;
	// zero means 32. On three nodes each entry waits a replication round
	// trip, and 8 in flight gave 18% more writes than 2; 32 gave one node
	// 11% more writes than 8 and three nodes the same (BENCHMARKS.md).
	MaxInFlight int
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if out.RaftLogOutput == nil {
		out.RaftLogOutput = os.Stderr
	}
	if out.RaftLogLevel == "" {
		out.RaftLogLevel = "warn"
	}
	if out.AdvertiseAddr == "" {
		out.AdvertiseAddr = out.BindAddr
	}
	if out.HeartbeatTimeout == 0 {
		out.HeartbeatTimeout = 500 * time.Millisecond
	}
	if out.ElectionTimeout == 0 {
		out.ElectionTimeout = 500 * time.Millisecond
	}
	if out.CheckpointInterval == 0 {
		out.CheckpointInterval = 5 * time.Second
	}
	if out.MaxBatchOps == 0 {
		out.MaxBatchOps = 1024
	}
	if out.MaxEntryBytes == 0 {
		out.MaxEntryBytes = 8 << 20
	}
	if out.LeaderServiceDelay == 0 {
		out.LeaderServiceDelay = out.HeartbeatTimeout
	}
	if out.MaxInFlight == 0 {
		out.MaxInFlight = 32
	}
	return out
}
