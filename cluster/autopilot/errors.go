package autopilot

import "errors"

// The errors Reconcile and ParseConfigUpdate return.
var (
	// ErrNoLeader: Raft knows no leader, so nothing was changed.
	ErrNoLeader = errors.New("autopilot: no leader")
	// ErrInvalidConfig: a configuration update is malformed or unsafe; the
	// message says which field and is safe to show a client.
	ErrInvalidConfig = errors.New("autopilot: invalid configuration")
)
