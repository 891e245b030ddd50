package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// benchOp performs one operation of a workload on behalf of worker w.
type benchOp func(ctx context.Context, w *benchWorker) error

// benchPlan says how long a run lasts and how hard it pushes.
type benchPlan struct {
	concurrency int
	duration    time.Duration // measured time, when ops is 0
	ops         int64         // measured operation count; 0 means run for duration
	warmup      time.Duration // run before measuring, not counted
}

// benchWorker is one client goroutine: its own random source, response
// buffer and histogram, so the hot loop shares nothing but two counters.
type benchWorker struct {
	id     int
	client *benchClient
	rng    *rand.Rand
	buf    bytes.Buffer

	hist     latencyHistogram
	ops      atomic.Int64 // measured successes, read by the progress line
	errs     atomic.Int64 // measured failures
	firstErr error
	firstAt  time.Time
}

// benchResult is what a run measured.
type benchResult struct {
	elapsed  time.Duration
	hist     latencyHistogram
	errors   int64
	firstErr error
}

// runBenchLoad runs op on plan.concurrency workers: warm-up first, then
// until plan.ops operations have started or plan.duration has passed. Only
// operations started after the warm-up are counted; successes go into the
// latency histogram, failures into the error count. If ctx ends early the
// run stops and the result covers what was measured until then. progress,
// when not nil, is written a status line every second.
func runBenchLoad(ctx context.Context, client *benchClient, plan benchPlan, op benchOp, progress io.Writer) *benchResult {
	workers := make([]*benchWorker, plan.concurrency)
	seed := rand.Uint64()
	for i := range workers {
		workers[i] = &benchWorker{id: i, client: client, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
	}
	start := time.Now()
	measureFrom := start.Add(plan.warmup)
	deadline := measureFrom.Add(plan.duration)
	var claimed atomic.Int64

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.Before(measureFrom) {
					_ = op(ctx, w)
					continue
				}
				if plan.ops > 0 {
					if claimed.Add(1) > plan.ops {
						return
					}
				} else if !t0.Before(deadline) {
					return
				}
				err := op(ctx, w)
				took := time.Since(t0)
				switch {
				case err == nil:
					w.hist.record(took)
					w.ops.Add(1)
				case ctx.Err() != nil:
					return // interrupted: not the server's failure
				default:
					if w.firstErr == nil {
						w.firstErr, w.firstAt = err, time.Now()
					}
					w.errs.Add(1)
				}
			}
		})
	}

	stopProgress := func() {}
	if progress != nil {
		stopProgress = startBenchProgress(progress, workers, start, measureFrom, plan)
	}
	wg.Wait()
	end := time.Now()
	stopProgress()

	res := &benchResult{elapsed: max(end.Sub(measureFrom), 0)}
	var firstAt time.Time
	for _, w := range workers {
		res.hist.merge(&w.hist)
		res.errors += w.errs.Load()
		if w.firstErr != nil && (res.firstErr == nil || w.firstAt.Before(firstAt)) {
			res.firstErr, firstAt = w.firstErr, w.firstAt
		}
		clear(w.buf.Bytes())
	}
	return res
}

// benchProgressMin is the shortest run that gets a progress line.
const benchProgressMin = 3 * time.Second

// startBenchProgress writes a progress line to w every second (once the run
// is known to last at least benchProgressMin) and returns a function that
// stops it and clears the line.
func startBenchProgress(w io.Writer, workers []*benchWorker, start, measureFrom time.Time, plan benchPlan) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var lastOps int64
		last := measureFrom
		shown := false
		for {
			select {
			case <-done:
				if shown {
					fmt.Fprint(w, "\r\x1b[K")
				}
				return
			case now := <-tick.C:
				long := plan.ops == 0 && plan.warmup+plan.duration >= benchProgressMin
				if !long && now.Sub(start) < benchProgressMin {
					continue
				}
				var ops, errs int64
				for _, wk := range workers {
					ops += wk.ops.Load()
					errs += wk.errs.Load()
				}
				if now.Sub(measureFrom) < 500*time.Millisecond {
					fmt.Fprintf(w, "\r%s\x1b[K", formatBenchProgress(now.Sub(start), true, 0, 0, 0))
				} else {
					if last.Before(measureFrom) {
						last = measureFrom
					}
					rate := float64(ops-lastOps) / now.Sub(last).Seconds()
					fmt.Fprintf(w, "\r%s\x1b[K", formatBenchProgress(now.Sub(measureFrom), false, ops, rate, errs))
					lastOps, last = ops, now
				}
				shown = true
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// formatBenchProgress is the text of one progress line.
func formatBenchProgress(elapsed time.Duration, warming bool, ops int64, rate float64, errs int64) string {
	if warming {
		return fmt.Sprintf("warming up  %s", elapsed.Truncate(time.Second))
	}
	return fmt.Sprintf("elapsed %s  ops %d  ops/s %.0f  errors %d", elapsed.Truncate(time.Second), ops, rate, errs)
}

// parallelEach calls fn(i) for i in [0, n) on up to conc goroutines and
// returns the first error; it stops handing out work after an error.
func parallelEach(ctx context.Context, n, conc int, fn func(ctx context.Context, i int, buf *bytes.Buffer) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(conc, max(n, 1)) {
		wg.Go(func() {
			var buf bytes.Buffer
			defer func() { clear(buf.Bytes()) }()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i, &buf); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		// The parent ended (interrupt): report it rather than succeed.
		first = context.Cause(ctx)
	}
	return first
}
