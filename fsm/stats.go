package fsm

import "sync/atomic"

// Stats receives notice of the FSM's work, so that a caller can measure
// and export it (the cluster times it into Prometheus metrics) without the
// FSM depending on a metrics library or reading a clock itself. Either
// field may be nil.
//
// Each function is called when the work starts and returns the function
// called when it ends. They run synchronously in ApplyBatch, flushes and
// Sync, on Raft's FSM goroutine, the flusher or the checkpoint goroutine: they must be fast,
// safe for concurrent use and must not call back into the FSM. They never
// influence what is applied, so determinism is unaffected.
type Stats struct {
	// Apply is told of each batch of log entries ApplyBatch applies (after
	// the skip of a batch already applied).
	Apply func(entries int) (done func())
	// Sync is told of each checkpoint fsync of the database file (Sync).
	Sync func() (done func())
	// Flush is told of each write of the in-memory layer to the database
	// file, with the number of keys and delete-prefix ops it holds.
	Flush func(keys int) (done func())
}

// stats is the process-wide hook; nil until SetStats.
var stats atomic.Pointer[Stats]

// SetStats installs the process-wide Stats hook (nil removes it). It is
// process-wide rather than per FSM because a process runs one node.
func SetStats(s *Stats) { stats.Store(s) }

func noop() {}

// applyStarted reports a batch of n entries: `defer applyStarted(n)()`.
func applyStarted(n int) (done func()) {
	if s := stats.Load(); s != nil && s.Apply != nil {
		return s.Apply(n)
	}
	return noop
}

// syncStarted reports a checkpoint fsync: `defer syncStarted()()`.
func syncStarted() (done func()) {
	if s := stats.Load(); s != nil && s.Sync != nil {
		return s.Sync()
	}
	return noop
}

// flushStarted reports a flush of keys entries to the database.
func flushStarted(keys int) (done func()) {
	if s := stats.Load(); s != nil && s.Flush != nil {
		return s.Flush(keys)
	}
	return noop
}
