package cluster

import (
	"io"
	"log/slog"
	"os"
	"time"
)

// Config describes one node.
type Config struct {
	// Dir holds raft.db (log and stable store), fsm.db and snapshots/.
	Dir string
	// NodeID is the node's stable Raft server ID.
	NodeID string
	// BindAddr is the host:port the Raft transport listens on.
	BindAddr string
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
	// zero means 2.
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
	if out.MaxInFlight == 0 {
		out.MaxInFlight = 2
	}
	return out
}
