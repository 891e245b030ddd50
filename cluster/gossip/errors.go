package gossip

import "errors"

// The errors Start, UpdateMeta and Join return.
var (
	// ErrInvalidConfig: a required Config field is missing or malformed.
	ErrInvalidConfig = errors.New("gossip: invalid configuration")
	// ErrMetaTooLarge: the JSON encoding of Meta exceeds
	// memberlist.MetaMaxSize (512 bytes).
	ErrMetaTooLarge = errors.New("gossip: node metadata too large")
	// ErrShutdown: the Gossip has been shut down.
	ErrShutdown = errors.New("gossip: shut down")
)
