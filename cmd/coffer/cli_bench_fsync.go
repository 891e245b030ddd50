package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// benchFsyncReport is the outcome of `coffer bench fsync`; the JSON field
// names are stable.
type benchFsyncReport struct {
	Dir             string       `json:"dir"`
	Ops             int          `json:"ops"`
	SizeBytes       int          `json:"size_bytes"`
	DurationSeconds float64      `json:"duration_seconds"`
	FsyncsPerSecond float64      `json:"fsyncs_per_second"`
	LatencyMS       benchLatency `json:"latency_ms"`
}

const benchFsyncUsage = `Usage: coffer bench fsync DIR [options]

  Measures the disk's fsync floor: appends -size bytes to a temporary file
  in DIR and flushes it to stable storage (fdatasync on Linux, fsync
  elsewhere), -n times, one at a time, as a write-ahead log does. Reports
  fsyncs per second and the latency of each write and flush. The file is
  removed afterwards.

  Example:

      $ coffer bench fsync /var/lib/coffer`

// runBenchFsync is `coffer bench fsync DIR`.
func runBenchFsync(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("bench fsync", benchFsyncUsage, withFormat, stdin, stdout, stderr)
	n := c.fs.Int("n", 2000, "Number of write+fsync operations.")
	size := c.fs.Int("size", 4096, "Bytes written before each fsync.")
	pos, code, ok := c.parseInterspersed(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.usageError("Expected one directory, got %d arguments", len(pos))
	}
	if *n < 1 || *size < 1 {
		return c.usageError("-n and -size must be at least 1")
	}
	hist, elapsed, err := measureFsync(pos[0], *n, *size)
	if err != nil {
		c.errf("Error measuring fsync: %s", err)
		return exitLocal
	}
	rep := benchFsyncReport{
		Dir:             pos[0],
		Ops:             *n,
		SizeBytes:       *size,
		DurationSeconds: benchRound(elapsed.Seconds(), 3),
		LatencyMS:       benchLatencyMS(hist),
	}
	if s := elapsed.Seconds(); s > 0 {
		rep.FsyncsPerSecond = benchRound(float64(*n)/s, 1)
	}
	if c.json() {
		return c.outputJSON(rep)
	}
	c.outf("%s", formatTable([][]string{
		{"Key", "Value"},
		{"dir", rep.Dir},
		{"ops", strconv.Itoa(rep.Ops)},
		{"size", strconv.Itoa(rep.SizeBytes) + " B"},
		{"duration", strconv.FormatFloat(rep.DurationSeconds, 'f', 3, 64) + " s"},
		{"fsyncs/s", strconv.FormatFloat(rep.FsyncsPerSecond, 'f', 1, 64)},
		{"latency p50", benchFormatMS(rep.LatencyMS.P50)},
		{"latency p90", benchFormatMS(rep.LatencyMS.P90)},
		{"latency p99", benchFormatMS(rep.LatencyMS.P99)},
		{"latency max", benchFormatMS(rep.LatencyMS.Max)},
	}))
	return exitOK
}

// measureFsync appends size bytes and syncs, n times, in a temporary file
// in dir, and returns the latency of each append+sync and the total time.
func measureFsync(dir string, n, size int) (*latencyHistogram, time.Duration, error) {
	f, err := os.CreateTemp(dir, ".coffer-bench-fsync-*")
	if err != nil {
		return nil, 0, fmt.Errorf("create temp file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	_, _ = rand.Read(buf)
	hist := &latencyHistogram{}
	start := time.Now()
	for range n {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, 0, fmt.Errorf("write: %w", err)
		}
		if err := dataSync(f); err != nil {
			return nil, 0, fmt.Errorf("sync: %w", err)
		}
		hist.record(time.Since(t0))
	}
	elapsed := time.Since(start)
	if err := f.Close(); err != nil {
		return nil, 0, fmt.Errorf("close: %w", err)
	}
	return hist, elapsed, nil
}
