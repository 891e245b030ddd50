package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"coffer/cluster"
	"coffer/engines"
	"coffer/engines/lease"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Metrics are process-wide: a process runs one node, and the counters
// below are fed from Handle without needing a field on System. The node's
// state (sealed, leader, applied index, term, leases) is not registered
// here: it is read at scrape time from the System that serves the scrape
// (see Gatherer), so no registry of Systems is kept.
var (
	httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_http_requests_total",
		Help: "Requests served through the API, by mount, operation and HTTP status.",
	}, []string{"mount", "operation", "code"})
	httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "coffer_http_request_duration_seconds",
		Help:    "Time to serve one API request (authentication, audit and backend), by mount and operation.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. ~16 s
	}, []string{"mount", "operation"})
	auditFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_audit_failures_total",
		Help: "Requests refused because no audit device recorded their request or response entry.",
	}, []string{"stage"})

	registry     = prometheus.NewRegistry()
	registryOnce sync.Once
)

// processRegistry returns the process-wide registry, registering its
// collectors on first use.
func processRegistry() *prometheus.Registry {
	registryOnce.Do(func() {
		registry.MustRegister(httpRequests, httpDuration, auditFailures,
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		registry.MustRegister(cluster.Collectors()...)
		// Both stages report from the start, at zero until a failure,
		// so an alert on the counter needs no absent() clause.
		auditFailures.WithLabelValues("request")
		auditFailures.WithLabelValues("response")
	})
	return registry
}

// Gatherer returns what sys/metrics reports for this node: the
// process-wide metrics (requests, audit failures, Raft commits, FSM
// applies and fsyncs, Go runtime and process) and this node's state read
// at gather time (coffer_sealed, coffer_leader, coffer_raft_applied_index,
// coffer_raft_term and, on an active node, coffer_leases). ctx bounds the
// lease count, which is read from storage at most every leaseCountTTL.
// The transport may use it to serve unauthenticated scrapes.
func (s *System) Gatherer(ctx context.Context) prometheus.Gatherer {
	node := prometheus.NewRegistry()
	node.MustRegister(&nodeGauges{
		sealed:  s.barrier.Sealed,
		leader:  s.cluster.IsLeader,
		applied: s.cluster.AppliedIndex,
		term:    s.cluster.Term,
		leases: func() (int, bool) {
			if !s.active.Load() {
				return 0, false
			}
			n, err := leaseCounts.get(ctx, s.leases, time.Now())
			if err != nil {
				s.logger.Warn("metrics: count leases", "error", err)
				return 0, false
			}
			return n, true
		},
	})
	return prometheus.Gatherers{processRegistry(), node}
}

// Descriptions of the node gauges.
var (
	sealedDesc  = prometheus.NewDesc("coffer_sealed", "1 if this node is sealed, 0 if it is unsealed.", nil, nil)
	leaderDesc  = prometheus.NewDesc("coffer_leader", "1 if this node is the cluster's leader (the active node), else 0.", nil, nil)
	appliedDesc = prometheus.NewDesc("coffer_raft_applied_index", "Index of the last Raft log entry applied to this node's FSM.", nil, nil)
	termDesc    = prometheus.NewDesc("coffer_raft_term", "This node's current Raft term.", nil, nil)
	leasesDesc  = prometheus.NewDesc("coffer_leases", "Leases recorded (irrevocable ones included); counted at most every 10 s.", nil, nil)
)

// nodeGauges is a collector of one node's state, read when gathered.
type nodeGauges struct {
	sealed  func() bool
	leader  func() bool
	applied func() uint64
	term    func() uint64
	// leases returns the lease count, or false when it is not known
	// (sealed, or the count failed): the gauge is then left out.
	leases func() (int, bool)
}

var _ prometheus.Collector = (*nodeGauges)(nil)

// Describe implements prometheus.Collector.
func (g *nodeGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sealedDesc, leaderDesc, appliedDesc, termDesc, leasesDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *nodeGauges) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(sealedDesc, prometheus.GaugeValue, boolValue(g.sealed()))
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, boolValue(g.leader()))
	ch <- prometheus.MustNewConstMetric(appliedDesc, prometheus.GaugeValue, float64(g.applied()))
	ch <- prometheus.MustNewConstMetric(termDesc, prometheus.GaugeValue, float64(g.term()))
	if n, ok := g.leases(); ok {
		ch <- prometheus.MustNewConstMetric(leasesDesc, prometheus.GaugeValue, float64(n))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// leaseCountTTL is how long a lease count is reused: counting reads every
// lease record's key, too much for every scrape of a large store.
const leaseCountTTL = 10 * time.Second

// leaseCountTimeout bounds one count.
const leaseCountTimeout = 5 * time.Second

// leaseCounter is the part of *lease.Manager the lease gauge reads.
type leaseCounter interface {
	Count(ctx context.Context, prefix string) (int, error)
}

var _ leaseCounter = (*lease.Manager)(nil)

// leaseCache remembers the last lease count of one lease manager.
type leaseCache struct {
	mu    sync.Mutex
	owner leaseCounter
	n     int
	at    time.Time
}

// leaseCounts is the process's cache (one node, one lease manager).
var leaseCounts leaseCache

// get returns m's lease count, counting again when the cached one is
// older than leaseCountTTL or belongs to another manager. Concurrent
// scrapes wait for one count.
func (c *leaseCache) get(ctx context.Context, m leaseCounter, now time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner == m && !c.at.IsZero() && now.Sub(c.at) < leaseCountTTL {
		return c.n, nil
	}
	ctx, cancel := context.WithTimeout(ctx, leaseCountTimeout)
	defer cancel()
	n, err := m.Count(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("system: count leases: %w", err)
	}
	c.owner, c.n, c.at = m, n, now
	return n, nil
}

// observeRequest records one request Handle answered: path is the full
// path it was asked for (req.Path is relative once routed). A request
// handed to the active node is counted there, not here.
func (s *System) observeRequest(path string, req *engines.Request, resp *engines.Response, err error, start time.Time) {
	if errors.Is(err, engines.ErrForward) {
		return
	}
	mount := req.MountPoint
	if mount == "" {
		mount = s.mountLabel(path)
	}
	recordRequest(mount, req.Operation, statusCode(req.Operation, resp, err), time.Since(start))
}

// recordRequest adds one request to the request metrics.
func recordRequest(mount string, op engines.Operation, status int, took time.Duration) {
	key := seriesKey{mount: mount, op: op, status: status}
	v, ok := requestSeries.Load(key)
	if !ok {
		v, _ = requestSeries.LoadOrStore(key, &series{
			count: httpRequests.WithLabelValues(mount, string(op), strconv.Itoa(status)),
			took:  httpDuration.WithLabelValues(mount, string(op)),
		})
	}
	sr := v.(*series)
	sr.count.Inc()
	sr.took.Observe(took.Seconds())
}

// requestSeries holds the request metrics' children by their labels
// (seriesKey to *series), so a request does not hash and validate its
// label values again: these series are never deleted, and their labels are
// bounded by the mount tables.
var requestSeries sync.Map

type seriesKey struct {
	mount  string
	op     engines.Operation
	status int
}

type series struct {
	count prometheus.Counter
	took  prometheus.Observer
}

// mountLabel names the mount serving path: a label bounded by the mount
// tables ("none" for a path no mount serves), never the path itself.
func (s *System) mountLabel(path string) string {
	t := s.resolve(path)
	switch {
	case t.sys:
		return "sys/"
	case t.found:
		return t.resolved.MountPoint
	}
	return "none"
}

// countAuditFailure records a request refused because no audit device
// recorded its request ("request") or response ("response") entry.
func countAuditFailure(stage string) { auditFailures.WithLabelValues(stage).Inc() }

// statusCode is the HTTP status the transport answers resp and err with.
func statusCode(op engines.Operation, resp *engines.Response, err error) int {
	if err != nil {
		code, _ := engines.CodeOf(err)
		return code.HTTPStatus()
	}
	switch {
	case resp == nil && (op == engines.ReadOperation || op == engines.ListOperation):
		return http.StatusNotFound
	case resp == nil:
		return http.StatusNoContent
	case resp.Stream != nil:
		return http.StatusOK
	case resp.StatusCode != 0:
		return resp.StatusCode
	case resp.Data == nil && resp.Auth == nil && resp.Secret == nil && len(resp.Warnings) == 0:
		return http.StatusNoContent
	}
	return http.StatusOK
}

// prometheusTextType is the content type of the Prometheus text format.
var prometheusTextType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// metrics serves GET sys/metrics: the Prometheus text format with
// ?format=prometheus (as Vault), otherwise a JSON summary in the shape of
// Vault's (go-metrics') own: {"Timestamp", "Gauges", "Counters",
// "Samples"}, with the Prometheus metric names. Either is the raw body,
// not Vault's response envelope.
func (s *System) metrics(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	format, _ := req.Data["format"].(string)
	if format != "" && format != "prometheus" {
		return nil, engines.BadRequest("unknown metrics format %q", format)
	}
	mfs, err := s.Gatherer(ctx).Gather()
	if err != nil {
		if len(mfs) == 0 {
			return nil, fmt.Errorf("system: gather metrics: %w", err)
		}
		s.logger.Warn("metrics: some metrics could not be gathered", "error", err)
	}
	if format == "prometheus" {
		var buf bytes.Buffer
		if err := writePrometheus(&buf, mfs); err != nil {
			return nil, err
		}
		return &engines.Response{StreamType: prometheusTextType, Stream: func(w io.Writer) error {
			_, err := w.Write(buf.Bytes())
			return err
		}}, nil
	}
	body, err := json.Marshal(summarize(mfs, time.Now().UTC()))
	if err != nil {
		return nil, fmt.Errorf("system: encode metrics: %w", err)
	}
	return &engines.Response{StreamType: "application/json", Stream: func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	}}, nil
}

// writePrometheus writes metric families in the Prometheus text format.
func writePrometheus(w io.Writer, mfs []*dto.MetricFamily) error {
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("system: encode metric %s: %w", mf.GetName(), err)
		}
	}
	return nil
}

// metricsSummary is sys/metrics' JSON body.
type metricsSummary struct {
	Timestamp string
	Gauges    []gaugeValue
	Counters  []sampledValue
	Samples   []sampledValue
}

type gaugeValue struct {
	Name   string
	Value  float64
	Labels map[string]string
}

// sampledValue is a counter (Count and Sum are its value) or a histogram
// or summary (Count observations summing to Sum).
type sampledValue struct {
	Name   string
	Count  uint64
	Sum    float64
	Mean   float64
	Labels map[string]string
}

// summarize turns gathered metric families into the JSON summary.
func summarize(mfs []*dto.MetricFamily, now time.Time) metricsSummary {
	out := metricsSummary{Timestamp: now.Format("2006-01-02 15:04:05 -0700 MST"), Gauges: []gaugeValue{}, Counters: []sampledValue{}, Samples: []sampledValue{}}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				out.Gauges = append(out.Gauges, gaugeValue{Name: name, Value: finite(m.GetGauge().GetValue()), Labels: labels})
			case dto.MetricType_UNTYPED:
				out.Gauges = append(out.Gauges, gaugeValue{Name: name, Value: finite(m.GetUntyped().GetValue()), Labels: labels})
			case dto.MetricType_COUNTER:
				v := finite(m.GetCounter().GetValue())
				out.Counters = append(out.Counters, sample(name, uint64(v), v, labels))
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out.Samples = append(out.Samples, sample(name, h.GetSampleCount(), h.GetSampleSum(), labels))
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				out.Samples = append(out.Samples, sample(name, sm.GetSampleCount(), sm.GetSampleSum(), labels))
			}
		}
	}
	return out
}

func sample(name string, count uint64, sum float64, labels map[string]string) sampledValue {
	v := sampledValue{Name: name, Count: count, Sum: finite(sum), Labels: labels}
	if count > 0 {
		v.Mean = v.Sum / float64(count)
	}
	return v
}

// finite maps NaN and infinities (which JSON cannot carry) to 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
