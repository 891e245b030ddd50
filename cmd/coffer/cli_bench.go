package main

import (
	"context"
	"flag"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"time"
)

// benchOptions are the flags of `coffer bench WORKLOAD`.
type benchOptions struct {
	workload    string
	concurrency int
	duration    time.Duration
	ops         int64
	valueSize   int
	keys        int
	mount       string
	mountSet    bool
	kvVersion   int
	warmup      time.Duration
	setup       bool
	noCleanup   bool
	timeout     time.Duration
	role        string
	revoke      bool
	ttl         string
	roleID      string
	secretID    string
	transitKey  string
}

// benchReport is the outcome of a run; the JSON field names are stable.
type benchReport struct {
	Workload        string       `json:"workload"`
	Concurrency     int          `json:"concurrency"`
	DurationSeconds float64      `json:"duration_seconds"`
	Ops             int64        `json:"ops"`
	OpsPerSecond    float64      `json:"ops_per_second"`
	LatencyMS       benchLatency `json:"latency_ms"`
	Errors          int64        `json:"errors"`
	FirstError      string       `json:"first_error"`
}

// benchLatency holds latency quantiles in milliseconds.
type benchLatency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func benchUsage() string {
	names := make([]string, 0, len(benchWorkloads))
	for n := range benchWorkloads {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(`Usage: coffer bench [options] WORKLOAD
       coffer bench fsync DIR [-n 2000] [-size 4096]

  Generates load against any Vault-compatible server (VAULT_ADDR or
  -address, VAULT_TOKEN) through its public HTTP API and reports operations
  per second, latency quantiles and errors. Only successful operations count
  in ops, ops/s and latency; failed ones count in errors. Operations started
  during -warmup are not counted.

  "coffer bench fsync DIR" measures the fsync floor of the disk holding DIR.

  Workloads:

`)
	rows := [][]string{{"name", "mount", "what it does"}}
	for _, n := range names {
		wl := benchWorkloads[n]
		mount := "-"
		if wl.defaultMount != "" {
			mount = wl.defaultMount + "/"
		}
		rows = append(rows, []string{n, mount, wl.synopsis})
	}
	for _, line := range strings.Split(formatColumns(rows), "\n") {
		b.WriteString("    " + line + "\n")
	}
	b.WriteString(`
  Examples:

      $ coffer bench -c 32 -d 10s kv-write
      $ coffer bench -setup -n 100000 kv-read
      $ coffer bench -format=json -c 1 -d 5s kv-write
      $ coffer bench -role readonly -revoke db-creds`)
	return b.String()
}

// runBench is `coffer bench`.
func runBench(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fsync" {
		return runBenchFsync(args[1:], stdin, stdout, stderr)
	}
	c := newCommand("bench", benchUsage(), withFormat, stdin, stdout, stderr)
	o := &benchOptions{}
	fs := c.fs
	fs.IntVar(&o.concurrency, "c", 32, "Number of concurrent clients (alias -concurrency).")
	fs.IntVar(&o.concurrency, "concurrency", 32, "Number of concurrent clients.")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "How long to measure (alias -duration).")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "How long to measure.")
	fs.Int64Var(&o.ops, "n", 0, "Number of operations to measure, instead of a duration.")
	fs.IntVar(&o.valueSize, "value-size", 128, "Size in bytes of each value written (kv) or encrypted (transit).")
	fs.IntVar(&o.keys, "keys", 1000, "Number of distinct KV keys.")
	fs.StringVar(&o.mount, "mount", "", "Mount path (default: the workload's, \"secret\" for kv).")
	fs.IntVar(&o.kvVersion, "kv-version", 2, "KV engine version at -mount: 1 or 2.")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "Load to run before measuring, not counted.")
	fs.BoolVar(&o.setup, "setup", false, "Create what the workload needs first (keys, mount, role) and remove it afterwards.")
	fs.BoolVar(&o.noCleanup, "no-cleanup", false, "With -setup, leave what was created in place.")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "Timeout of each operation.")
	fs.StringVar(&o.role, "role", "", "Role: database role (db-creds) or PKI role (pki-issue).")
	fs.BoolVar(&o.revoke, "revoke", false, "db-creds: revoke each lease right after reading it (part of the operation).")
	fs.StringVar(&o.ttl, "ttl", "1h", "TTL of created tokens (token-create, approle-login) and certificates (pki-issue).")
	fs.StringVar(&o.roleID, "role-id", "", "approle-login without -setup: the role ID.")
	fs.StringVar(&o.secretID, "secret-id", "", "approle-login without -setup: the secret ID.")
	fs.StringVar(&o.transitKey, "transit-key", "coffer-bench", "transit-encrypt: the key name.")

	pos, code, ok := c.parseInterspersed(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.usageError("Expected one workload, got %d arguments", len(pos))
	}
	o.workload = pos[0]
	wl, known := benchWorkloads[o.workload]
	if !known {
		return c.usageError("Unknown workload %q", o.workload)
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if msg := o.validate(explicit); msg != "" {
		return c.usageError("%s", msg)
	}
	o.mountSet = o.mount != ""
	if !o.mountSet {
		o.mount = wl.defaultMount
	}
	o.mount = sanitizePath(o.mount)

	cl, code := c.client()
	if cl == nil {
		return code
	}
	client := newBenchClient(cl, o.concurrency, o.timeout)
	defer client.close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	env := &benchEnv{client: client, opts: o}
	cleanup := func() {
		if o.noCleanup {
			env.cleanup = nil
			return
		}
		// Clean-up can take long (disabling an auth method revokes every
		// token its logins made): the per-operation timeout does not apply.
		// The workers are done, so nothing else uses the client now.
		client.timeout = max(client.timeout, 5*time.Minute)
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := env.runCleanup(cctx); err != nil {
			c.errf("Error cleaning up: %s", err)
		}
	}
	op, err := wl.prepare(ctx, env)
	if err != nil {
		cleanup()
		c.errf("Error preparing %s: %s", o.workload, err)
		return exitRemote
	}
	var progress io.Writer
	if isTerminal(c.stderr) {
		progress = c.stderr
	}
	plan := benchPlan{concurrency: o.concurrency, duration: o.duration, ops: o.ops, warmup: o.warmup}
	res := runBenchLoad(ctx, client, plan, op, progress)
	cleanup()

	rep := newBenchReport(o, res)
	if c.json() {
		if code := c.outputJSON(rep); code != exitOK {
			return code
		}
	} else {
		c.outf("%s", formatTable(benchReportRows(rep)))
	}
	if rep.Ops == 0 && rep.Errors > 0 {
		return exitRemote
	}
	return exitOK
}

// validate checks option values; it returns a message for the first bad one.
func (o *benchOptions) validate(explicit map[string]bool) string {
	switch {
	case o.concurrency < 1:
		return "-c must be at least 1"
	case o.ops < 0:
		return "-n must not be negative"
	case o.ops > 0 && (explicit["d"] || explicit["duration"]):
		return "Use -d or -n, not both"
	case o.ops == 0 && o.duration <= 0:
		return "-d must be positive"
	case o.valueSize < 1:
		return "-value-size must be at least 1"
	case o.keys < 1:
		return "-keys must be at least 1"
	case o.kvVersion != 1 && o.kvVersion != 2:
		return "-kv-version must be 1 or 2"
	case o.warmup < 0:
		return "-warmup must not be negative"
	case o.timeout <= 0:
		return "-timeout must be positive"
	}
	return ""
}

// parseInterspersed parses flags placed before, between and after the
// positional arguments and returns the positional ones; ok is false when
// the command should stop and return code.
func (c *command) parseInterspersed(args []string) (pos []string, code int, ok bool) {
	for {
		if code, ok := c.parse(args); !ok {
			return nil, code, false
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return pos, exitOK, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newBenchReport summarises a run.
func newBenchReport(o *benchOptions, res *benchResult) benchReport {
	rep := benchReport{
		Workload:        o.workload,
		Concurrency:     o.concurrency,
		DurationSeconds: benchRound(res.elapsed.Seconds(), 3),
		Ops:             int64(res.hist.count()),
		Errors:          res.errors,
		LatencyMS:       benchLatencyMS(&res.hist),
	}
	if s := res.elapsed.Seconds(); s > 0 {
		rep.OpsPerSecond = benchRound(float64(rep.Ops)/s, 1)
	}
	if res.firstErr != nil {
		rep.FirstError = res.firstErr.Error()
	}
	return rep
}

// benchLatencyMS is h's quantiles in milliseconds, to the microsecond.
func benchLatencyMS(h *latencyHistogram) benchLatency {
	ms := func(d time.Duration) float64 { return benchRound(float64(d)/float64(time.Millisecond), 3) }
	return benchLatency{P50: ms(h.quantile(0.50)), P90: ms(h.quantile(0.90)), P99: ms(h.quantile(0.99)), Max: ms(h.quantile(1))}
}

// benchRound rounds f to the given number of decimals.
func benchRound(f float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(f*p) / p
}

// benchFormatMS renders milliseconds for a table.
func benchFormatMS(ms float64) string {
	return strconv.FormatFloat(ms, 'f', 3, 64) + " ms"
}

// benchReportRows is the Key/Value table of a report.
func benchReportRows(r benchReport) [][]string {
	first := r.FirstError
	if first == "" {
		first = "-"
	}
	return [][]string{
		{"Key", "Value"},
		{"workload", r.Workload},
		{"concurrency", strconv.Itoa(r.Concurrency)},
		{"duration", strconv.FormatFloat(r.DurationSeconds, 'f', 3, 64) + " s"},
		{"ops", strconv.FormatInt(r.Ops, 10)},
		{"ops/s", strconv.FormatFloat(r.OpsPerSecond, 'f', 1, 64)},
		{"latency p50", benchFormatMS(r.LatencyMS.P50)},
		{"latency p90", benchFormatMS(r.LatencyMS.P90)},
		{"latency p99", benchFormatMS(r.LatencyMS.P99)},
		{"latency max", benchFormatMS(r.LatencyMS.Max)},
		{"errors", strconv.FormatInt(r.Errors, 10)},
		{"first error", first},
	}
}
