package fsm

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these where a
// caller may want to tell them apart.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("fsm: closed")
	// ErrBadCommand is wrapped by DecodeCommand and by the per-entry results
	// of ApplyBatch when a log entry's data is not a valid command.
	ErrBadCommand = errors.New("fsm: malformed command")
	// ErrBadSnapshot is wrapped by Restore when the input is not a valid,
	// intact snapshot (wrong magic or version, truncated, bad checksum,
	// undecodable). The live state is untouched.
	ErrBadSnapshot = errors.New("fsm: invalid snapshot")
	// ErrSnapshotTooLarge is returned by Restore when the decompressed
	// database would exceed MaxRestoreSize.
	ErrSnapshotTooLarge = errors.New("fsm: snapshot exceeds size limit")
	// ErrFailed is wrapped by ApplyBatch and Snapshot after a bbolt write
	// transaction failed: the FSM refuses further work so that the applied
	// index can never move past an entry that was not applied. Restarting
	// the node (or a successful Restore) clears it.
	ErrFailed = errors.New("fsm: state machine failed")
)
