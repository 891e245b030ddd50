package cluster

import (
	"time"

	"coffer/fsm"

	"github.com/prometheus/client_golang/prometheus"
)

// The cluster's metrics are process-wide (a process runs one node): the
// system backend's registry gathers them through Collectors. The Raft
// log's fsyncs are timed in raft-wal's file system (timedSyncFS), so a
// node still on a raft-boltdb log store reports none;
// coffer_fsm_sync_total counts the FSM's checkpoint fsyncs only.
var (
	commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_raft_commit_duration_seconds",
		Help:    "Time from proposing a group-commit entry to Raft until it is committed and applied on this node (leader only).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. ~16 s
	})
	batchOps = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_raft_batch_ops",
		Help:    "Storage operations carried by one group-commit Raft entry.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12), // 1 .. 2048
	})
	logFsyncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_raft_log_fsync_duration_seconds",
		Help:    "Time one fsync of the Raft log (a raft-wal segment) took; the count is the log's fsyncs, each making one batch of entries durable.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16), // 50 µs .. ~1.6 s
	})
	fsmApplyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_fsm_apply_duration_seconds",
		Help:    "Time the FSM took to apply one batch of committed log entries to its in-memory layer.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. ~3 s
	})
	fsmApplyBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_fsm_apply_batch_entries",
		Help:    "Raft log entries in one FSM apply batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 .. 512
	})
	fsmFlushDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_fsm_flush_duration_seconds",
		Help:    "Time one write of the FSM's in-memory layer to its database took (one bbolt transaction, no fsync).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. ~3 s
	})
	fsmFlushKeys = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_fsm_flush_keys",
		Help:    "Keys (and delete-prefix ops) one FSM flush wrote.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 .. 262144
	})
	fsmSyncs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "coffer_fsm_sync_total",
		Help: "Checkpoint fsyncs of the FSM database (the Raft log's own fsyncs are not counted).",
	})
	fsmSyncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "coffer_fsm_sync_duration_seconds",
		Help:    "Time one FSM checkpoint fsync took.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. ~4 s
	})
)

// fsmStats times the FSM's work into the metrics above.
var fsmStats = &fsm.Stats{
	Apply: func(entries int) func() {
		fsmApplyBatch.Observe(float64(entries))
		start := time.Now()
		return func() { fsmApplyDuration.Observe(time.Since(start).Seconds()) }
	},
	Flush: func(keys int) func() {
		fsmFlushKeys.Observe(float64(keys))
		start := time.Now()
		return func() { fsmFlushDuration.Observe(time.Since(start).Seconds()) }
	},
	Sync: func() func() {
		fsmSyncs.Inc()
		start := time.Now()
		return func() { fsmSyncDuration.Observe(time.Since(start).Seconds()) }
	},
}

// The FSM reports to this package's metrics as soon as a process links
// the cluster in: it has exactly one node, hence one FSM.
func init() { fsm.SetStats(fsmStats) }

// Collectors returns the cluster's process-wide metrics (Raft commit
// latency and batch sizes, Raft log fsyncs, FSM apply time, batch sizes,
// flushes and fsyncs) for a registry to gather. Every call returns the same
// collectors: register them in one registry only.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{commitDuration, batchOps, logFsyncDuration, fsmApplyDuration, fsmApplyBatch, fsmFlushDuration, fsmFlushKeys, fsmSyncs, fsmSyncDuration}
}

// commitTimer starts timing the commit of one entry carrying ops
// operations; the returned function records it: `defer commitTimer(n)()`.
func commitTimer(ops int) func() {
	batchOps.Observe(float64(ops))
	start := time.Now()
	return func() { commitDuration.Observe(time.Since(start).Seconds()) }
}
