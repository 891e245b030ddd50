package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"coffer/engines"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeBarrier and fakeCluster answer the few calls the metrics make; any
// other call panics on the nil embedded interface.
type fakeBarrier struct {
	Barrier
	sealed bool
}

func (b fakeBarrier) Sealed() bool { return b.sealed }

type fakeCluster struct {
	Cluster
	leader  bool
	applied uint64
	term    uint64
}

func (c fakeCluster) IsLeader() bool       { return c.leader }
func (c fakeCluster) AppliedIndex() uint64 { return c.applied }
func (c fakeCluster) Term() uint64         { return c.term }

// mustMetricsSystem returns an unsealed but not yet active System (no
// lease manager needed) good enough for sys/metrics.
func mustMetricsSystem(tb testing.TB) *System {
	tb.Helper()
	return &System{
		barrier: fakeBarrier{sealed: false},
		cluster: fakeCluster{leader: true, applied: 42, term: 3},
		logger:  slog.New(slog.DiscardHandler),
	}
}

// mustStream runs a response's stream and returns what it wrote.
func mustStream(tb testing.TB, resp *engines.Response) string {
	tb.Helper()
	if resp == nil || resp.Stream == nil {
		tb.Fatalf("response %+v has no stream", resp)
	}
	var buf bytes.Buffer
	if err := resp.Stream(&buf); err != nil {
		tb.Fatalf("stream: %v", err)
	}
	return buf.String()
}

// counterValue reads a counter's current value.
func counterValue(tb testing.TB, c prometheus.Counter) float64 {
	tb.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		tb.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

func TestMetricsPrometheusFormat(t *testing.T) {
	s := mustMetricsSystem(t)
	recordRequest("secret/", engines.ReadOperation, 200, time.Millisecond)
	countAuditFailure("request")
	resp, err := s.metrics(t.Context(), &engines.Request{Operation: engines.ReadOperation, Data: map[string]any{"format": "prometheus"}})
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	if !strings.HasPrefix(resp.StreamType, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", resp.StreamType)
	}
	body := mustStream(t, resp)
	for _, want := range []string{
		`coffer_http_requests_total{code="200",mount="secret/",operation="read"}`,
		`coffer_http_request_duration_seconds_bucket{mount="secret/",operation="read",le=`,
		`coffer_audit_failures_total{stage="request"}`,
		`coffer_audit_failures_total{stage="response"} 0`,
		"# TYPE coffer_raft_log_fsync_duration_seconds histogram",
		"coffer_sealed 0",
		"coffer_leader 1",
		"coffer_raft_applied_index 42",
		"coffer_raft_term 3",
		"# TYPE coffer_raft_commit_duration_seconds histogram",
		"# TYPE coffer_raft_batch_ops histogram",
		"# TYPE coffer_fsm_apply_duration_seconds histogram",
		"# TYPE coffer_fsm_apply_batch_entries histogram",
		"# TYPE coffer_fsm_sync_total counter",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// A sealed (inactive) node reports no lease count rather than a wrong one.
	if strings.Contains(body, "coffer_leases ") {
		t.Errorf("inactive node reports coffer_leases")
	}
}

func TestMetricsJSONSummary(t *testing.T) {
	s := mustMetricsSystem(t)
	recordRequest("sys/", engines.ListOperation, 403, time.Millisecond)
	resp, err := s.metrics(t.Context(), &engines.Request{Operation: engines.ReadOperation, Data: map[string]any{}})
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	if resp.StreamType != "application/json" {
		t.Errorf("content type %q", resp.StreamType)
	}
	var got metricsSummary
	if err := json.Unmarshal([]byte(mustStream(t, resp)), &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	find := func(list []gaugeValue, name string) (gaugeValue, bool) {
		for _, g := range list {
			if g.Name == name {
				return g, true
			}
		}
		return gaugeValue{}, false
	}
	if g, ok := find(got.Gauges, "coffer_raft_applied_index"); !ok || g.Value != 42 {
		t.Errorf("applied index gauge %+v %v", g, ok)
	}
	var counted, sampled bool
	for _, c := range got.Counters {
		if c.Name == "coffer_http_requests_total" && c.Labels["mount"] == "sys/" && c.Labels["code"] == "403" && c.Count >= 1 {
			counted = true
		}
	}
	for _, sm := range got.Samples {
		if sm.Name == "coffer_http_request_duration_seconds" && sm.Labels["operation"] == "list" && sm.Count >= 1 {
			sampled = true
		}
	}
	if !counted || !sampled || got.Timestamp == "" {
		t.Errorf("summary lacks the request: counted=%v sampled=%v timestamp=%q", counted, sampled, got.Timestamp)
	}
}

func TestMetricsBadFormat(t *testing.T) {
	s := mustMetricsSystem(t)
	_, err := s.metrics(t.Context(), &engines.Request{Operation: engines.ReadOperation, Data: map[string]any{"format": "statsd"}})
	if code, _ := engines.CodeOf(err); code != engines.CodeInvalidRequest {
		t.Fatalf("err %v, want a 400", err)
	}
}

func TestRecordRequestCounts(t *testing.T) {
	c := httpRequests.WithLabelValues("kv-test/", "update", "204")
	before := counterValue(t, c)
	for range 3 {
		recordRequest("kv-test/", engines.UpdateOperation, 204, time.Microsecond)
	}
	if got := counterValue(t, c) - before; got != 3 {
		t.Fatalf("counter rose by %v, want 3", got)
	}
	// Another status or operation is another series.
	nf := httpRequests.WithLabelValues("kv-test/", "update", "404")
	rd := httpRequests.WithLabelValues("kv-test/", "read", "204")
	nfBefore, rdBefore := counterValue(t, nf), counterValue(t, rd)
	recordRequest("kv-test/", engines.UpdateOperation, 404, time.Microsecond)
	if counterValue(t, nf) != nfBefore+1 || counterValue(t, rd) != rdBefore || counterValue(t, c)-before != 3 {
		t.Fatalf("a 404 update was not counted in its own series")
	}
}

func TestObserveRequestSkipsForwarded(t *testing.T) {
	s := mustMetricsSystem(t)
	req := &engines.Request{Operation: engines.ReadOperation, MountPoint: "fwd-test/"}
	c := httpRequests.WithLabelValues("fwd-test/", "read", "503")
	before := counterValue(t, c)
	s.observeRequest("fwd-test/x", req, nil, engines.ErrForward, time.Now())
	if got := counterValue(t, c); got != before {
		t.Fatalf("a forwarded request was counted here")
	}
	s.observeRequest("fwd-test/x", req, nil, engines.ErrSealed, time.Now())
	if got := counterValue(t, c); got != before+1 {
		t.Fatalf("a refused request was not counted")
	}
}

func TestStatusCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   engines.Operation
		resp *engines.Response
		err  error
		want int
	}{
		{"denied", engines.ReadOperation, nil, engines.ErrPermissionDenied, 403},
		{"wrapped sealed", engines.UpdateOperation, nil, errors.Join(errors.New("x"), engines.ErrSealed), 503},
		{"internal", engines.ReadOperation, nil, errors.New("disk on fire"), 500},
		{"missing read", engines.ReadOperation, nil, nil, 404},
		{"missing list", engines.ListOperation, nil, nil, 404},
		{"write no body", engines.UpdateOperation, nil, nil, 204},
		{"empty response", engines.UpdateOperation, &engines.Response{}, nil, 204},
		{"data", engines.ReadOperation, &engines.Response{Data: map[string]any{"a": 1}}, nil, 200},
		{"override", engines.ReadOperation, &engines.Response{StatusCode: 404, Data: map[string]any{}}, nil, 404},
		{"stream", engines.ReadOperation, &engines.Response{Stream: func(w io.Writer) error { return nil }}, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusCode(tc.op, tc.resp, tc.err); got != tc.want {
				t.Fatalf("statusCode = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestNodeGauges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		g      *nodeGauges
		want   map[string]float64
		absent string
	}{
		{
			name: "sealed standby",
			g: &nodeGauges{sealed: func() bool { return true }, leader: func() bool { return false },
				applied: func() uint64 { return 7 }, term: func() uint64 { return 2 }, leases: func() (int, bool) { return 0, false }},
			want:   map[string]float64{"coffer_sealed": 1, "coffer_leader": 0, "coffer_raft_applied_index": 7, "coffer_raft_term": 2},
			absent: "coffer_leases",
		},
		{
			name: "active leader",
			g: &nodeGauges{sealed: func() bool { return false }, leader: func() bool { return true },
				applied: func() uint64 { return 1000 }, term: func() uint64 { return 9 }, leases: func() (int, bool) { return 12, true }},
			want: map[string]float64{"coffer_sealed": 0, "coffer_leader": 1, "coffer_raft_applied_index": 1000, "coffer_raft_term": 9, "coffer_leases": 12},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(tc.g)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatalf("gather: %v", err)
			}
			got := map[string]float64{}
			for _, mf := range mfs {
				got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
			}
			for name, v := range tc.want {
				if got[name] != v {
					t.Errorf("%s = %v, want %v", name, got[name], v)
				}
			}
			if _, ok := got[tc.absent]; tc.absent != "" && ok {
				t.Errorf("%s reported", tc.absent)
			}
		})
	}
}

// countingLeases counts how often it is asked.
type countingLeases struct {
	n     int
	calls atomic.Int32
	err   error
}

func (c *countingLeases) Count(ctx context.Context, prefix string) (int, error) {
	c.calls.Add(1)
	return c.n, c.err
}

func TestLeaseCache(t *testing.T) {
	var cache leaseCache
	a, b := &countingLeases{n: 5}, &countingLeases{n: 8}
	now := time.Unix(1000, 0)
	steps := []struct {
		m         *countingLeases
		at        time.Time
		want      int
		wantCalls int32
	}{
		{a, now, 5, 1},
		{a, now.Add(leaseCountTTL - time.Second), 5, 1}, // cached
		{a, now.Add(leaseCountTTL), 5, 2},               // stale: counted again
		{b, now.Add(leaseCountTTL), 8, 1},               // another manager
	}
	for i, st := range steps {
		n, err := cache.get(t.Context(), st.m, st.at)
		if err != nil || n != st.want || st.m.calls.Load() != st.wantCalls {
			t.Fatalf("step %d: got %d %v after %d calls, want %d after %d", i, n, err, st.m.calls.Load(), st.want, st.wantCalls)
		}
	}
	failing := &countingLeases{err: errors.New("storage down")}
	if _, err := cache.get(t.Context(), failing, now); err == nil {
		t.Fatalf("a failed count was not reported")
	}
}

func TestSummarizeNonFinite(t *testing.T) {
	name, typ, v := "x", dto.MetricType_GAUGE, math.NaN()
	mfs := []*dto.MetricFamily{{Name: &name, Type: &typ, Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}}
	sum := summarize(mfs, time.Unix(0, 0))
	if len(sum.Gauges) != 1 || sum.Gauges[0].Value != 0 {
		t.Fatalf("NaN gauge summarized as %+v", sum.Gauges)
	}
	if _, err := json.Marshal(sum); err != nil {
		t.Fatalf("summary does not encode: %v", err)
	}
}

func TestPprofNeedsSudo(t *testing.T) {
	s := &System{}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"sys/pprof", true},
		{"sys/pprof/", true},
		{"sys/pprof/goroutine", true},
		{"sys/pprof/profile", true},
		{"sys/metrics", false},
	} {
		if got := s.needsSudo(target{sys: true, found: true}, tc.path); got != tc.want {
			t.Errorf("needsSudo(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
