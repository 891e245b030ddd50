package cluster

import "errors"

// The errors a Node returns.
var (
	ErrNotLeader = errors.New("cluster: this node is not the leader")
	ErrClosed    = errors.New("cluster: node is shut down")
	ErrTooLarge  = errors.New("cluster: write is larger than one log entry may be")
	// ErrNotStarted: Raft does not run here yet (neither bootstrapped nor
	// joined).
	ErrNotStarted = errors.New("cluster: raft is not running on this node yet")
	// ErrNoLeader: no leader is known, so a standby cannot serve.
	ErrNoLeader = errors.New("cluster: no leader is known")
	// ErrInvalidWrite is a write the FSM cannot hold (a key or value over
	// its limits).
	ErrInvalidWrite = errors.New("cluster: invalid write")
)
