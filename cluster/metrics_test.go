package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sampleCount reads how many observations (or, for a counter, its value)
// a collector of one metric holds.
func sampleCount(tb testing.TB, c prometheus.Metric) uint64 {
	tb.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		tb.Fatalf("read metric: %v", err)
	}
	if h := m.GetHistogram(); h != nil {
		return h.GetSampleCount()
	}
	return uint64(m.GetCounter().GetValue())
}

func TestCollectorsRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Collectors()...)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
}

// TestMetricsFollowWrites checks that commits, Raft log fsyncs, FSM
// applies, flushes and checkpoint fsyncs of a real node reach the
// cluster's metrics.
func TestMetricsFollowWrites(t *testing.T) {
	type metric struct {
		name string
		m    prometheus.Metric
	}
	metrics := []metric{
		{"coffer_raft_commit_duration_seconds", commitDuration},
		{"coffer_raft_batch_ops", batchOps},
		{"coffer_raft_log_fsync_duration_seconds", logFsyncDuration},
		{"coffer_fsm_apply_duration_seconds", fsmApplyDuration},
		{"coffer_fsm_apply_batch_entries", fsmApplyBatch},
		{"coffer_fsm_flush_duration_seconds", fsmFlushDuration},
		{"coffer_fsm_flush_keys", fsmFlushKeys},
		{"coffer_fsm_sync_total", fsmSyncs},
		{"coffer_fsm_sync_duration_seconds", fsmSyncDuration},
	}
	before := make([]uint64, len(metrics))
	for i, m := range metrics {
		before[i] = sampleCount(t, m.m)
	}
	n := mustOpen(t, t.TempDir(), func(c *Config) { c.CheckpointInterval = 10 * time.Millisecond })
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	for i := range 5 {
		if err := n.Put(ctx, "k", []byte{byte(i)}); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, m := range metrics {
		for sampleCount(t, m.m) == before[i] {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not move", m.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if got := sampleCount(t, commitDuration) - before[0]; got < 5 {
		t.Errorf("%d commits observed for 5 sequential writes", got)
	}
}
