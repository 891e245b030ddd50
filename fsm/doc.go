// Package fsm is Coffer's deterministic Raft state machine: it encodes
// commands, applies committed batches to a bbolt database and streams
// checksummed, zstd-compressed snapshots of it.
package fsm
