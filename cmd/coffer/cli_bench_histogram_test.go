package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistBucketCoversValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 257, 511, 512, 1e3, 1e6, 1e9, histMaxNanos}
	for range 10000 {
		values = append(values, rng.Uint64N(histMaxNanos))
	}
	prev := -1
	slices.Sort(values)
	for _, v := range values {
		i := histBucket(v)
		if i < prev {
			t.Fatalf("bucket of %d is %d, below the previous value's %d", v, i, prev)
		}
		prev = i
		low, width := histBucketRange(i)
		if v < low || v >= low+width {
			t.Fatalf("value %d in bucket %d = [%d, %d)", v, i, low, low+width)
		}
		if v >= histSub && float64(width)/float64(low) > 1.0/histSub {
			t.Fatalf("bucket %d too wide: %d at %d", i, width, low)
		}
	}
	if got := histBucket(math.MaxUint64); got != histBuckets-1 {
		t.Fatalf("bucket of max uint64 = %d, want the last, %d", got, histBuckets-1)
	}
}

func TestLatencyHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(rng *rand.Rand) time.Duration
	}{
		{"log-normal around 2ms", func(rng *rand.Rand) time.Duration {
			return time.Duration(2e6 * math.Exp(rng.NormFloat64()))
		}},
		{"uniform 0-100us", func(rng *rand.Rand) time.Duration { return time.Duration(rng.Int64N(100_000)) }},
		{"bimodal 1ms and 1s", func(rng *rand.Rand) time.Duration {
			if rng.IntN(100) < 5 {
				return time.Second + time.Duration(rng.Int64N(1e8))
			}
			return time.Millisecond + time.Duration(rng.Int64N(1e5))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			// Split across "workers" and merge, as a run does.
			parts := make([]latencyHistogram, 4)
			all := make([]time.Duration, 0, 100_000)
			for i := range 100_000 {
				d := tt.gen(rng)
				parts[i%4].record(d)
				all = append(all, d)
			}
			var h latencyHistogram
			for i := range parts {
				h.merge(&parts[i])
			}
			slices.Sort(all)
			if h.count() != uint64(len(all)) {
				t.Fatalf("count = %d", h.count())
			}
			for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
				exact := all[int(math.Ceil(q*float64(len(all))))-1]
				got := h.quantile(q)
				if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
					t.Errorf("q%.3f = %v, exact %v: error %.2f%% > 1%%", q, got, exact, 100*rel)
				}
			}
			if h.quantile(1) != all[len(all)-1] {
				t.Errorf("max = %v, want %v", h.quantile(1), all[len(all)-1])
			}
			if h.quantile(0) != all[0] {
				t.Errorf("q0 = %v, want min %v", h.quantile(0), all[0])
			}
		})
	}
}

func TestLatencyHistogramEdges(t *testing.T) {
	var h latencyHistogram
	if h.quantile(0.5) != 0 || h.count() != 0 {
		t.Fatal("empty histogram not zero")
	}
	h.merge(&latencyHistogram{})
	h.record(-time.Second)
	if h.quantile(0.5) != 0 {
		t.Fatalf("negative duration recorded as %v", h.quantile(0.5))
	}
	h.record(time.Hour) // beyond the last bucket: max stays exact
	if h.quantile(1) != time.Hour || h.quantile(0.99) != time.Hour {
		t.Fatalf("q1 = %v, q0.99 = %v, want 1h", h.quantile(1), h.quantile(0.99))
	}
	var one latencyHistogram
	one.record(1234567 * time.Nanosecond)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if got := one.quantile(q); got != 1234567*time.Nanosecond {
			t.Fatalf("single value q%v = %v", q, got)
		}
	}
}
