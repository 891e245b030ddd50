package autopilot

import (
	"context"
	"time"
)

// Suffrage is a server's voting status in the Raft configuration.
type Suffrage string

// The suffrages autopilot deals with.
const (
	Voter    Suffrage = "voter"
	Nonvoter Suffrage = "nonvoter"
)

// Server is one entry of the Raft configuration.
type Server struct {
	ID       string
	Address  string
	Suffrage Suffrage
}

// Raft is the part of the local Raft node autopilot drives. Autopilot calls
// it from one goroutine at a time (Reconcile is serialised); the methods
// that change the configuration are only meaningful on the leader and
// should fail otherwise.
type Raft interface {
	// Configuration returns the latest Raft configuration.
	Configuration(ctx context.Context) ([]Server, error)
	// LeaderID returns the current leader's server ID, "" if none is known.
	LeaderID() string
	// LastIndex returns the leader's last log index.
	LastIndex() uint64
	// Term returns the current Raft term.
	Term() uint64
	// Promote makes a non-voter a voter (raft AddVoter).
	Promote(ctx context.Context, id, addr string) error
	// Remove removes a server from the configuration (raft RemoveServer).
	Remove(ctx context.Context, id string) error
}

// Health is what the leader knows about one server, from gossip and from
// Raft replication. The health function passed to New returns it keyed by
// server ID; a server missing from the map is treated as not alive and
// never contacted.
type Health struct {
	Alive        bool      // gossip says alive (forced true for the leader itself)
	Left         bool      // gossip says it left gracefully (reported as node_status "left")
	Sealed       bool      // its barrier is sealed
	LastContact  time.Time // last time the leader heard from it (zero = never)
	AppliedIndex uint64    // last log index it applied
	Term         uint64    // last Raft term it reported
	Version      string    // its Coffer version
}
