package main

import (
	"math"
	"math/bits"
	"time"
)

// Latency histogram layout: log-linear buckets, as HdrHistogram. Values up
// to 2^histSubBits nanoseconds get one bucket each; above that every power
// of two is split into 2^histSubBits equal buckets, so a bucket is never
// wider than 1/128 of its lower bound and the midpoint reported for a
// quantile is within 0.4% of every value in it. Values above histMaxNanos
// (about 18 minutes) are counted in the last bucket; min and max are exact.
const (
	histSubBits  = 7
	histSub      = 1 << histSubBits
	histMaxBits  = 40
	histMaxNanos = 1<<histMaxBits - 1
	histBuckets  = (histMaxBits - histSubBits + 1) * histSub
)

// latencyHistogram counts durations in fixed memory (about 35 KiB). It is
// not safe for concurrent use: each worker keeps its own and they are merged
// at the end.
type latencyHistogram struct {
	counts [histBuckets]uint64
	total  uint64
	min    time.Duration
	max    time.Duration
	sum    time.Duration
}

// histBucket is the bucket index holding v nanoseconds.
func histBucket(v uint64) int {
	if v > histMaxNanos {
		v = histMaxNanos
	}
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return (shift+1)*histSub + int(v>>shift) - histSub
}

// histBucketRange is the smallest value in bucket i and the bucket's width.
func histBucketRange(i int) (low, width uint64) {
	if i < histSub {
		return uint64(i), 1
	}
	shift := i/histSub - 1
	return uint64(i%histSub+histSub) << shift, 1 << shift
}

// record counts one duration; negative durations count as zero.
func (h *latencyHistogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[histBucket(uint64(d))]++
	if h.total == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.total++
	h.sum += d
}

// merge adds o's counts into h.
func (h *latencyHistogram) merge(o *latencyHistogram) {
	if o.total == 0 {
		return
	}
	for i, n := range o.counts {
		h.counts[i] += n
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// count is the number of recorded durations.
func (h *latencyHistogram) count() uint64 { return h.total }

// quantile is the duration at quantile q (0..1): the midpoint of the bucket
// holding the ceil(q*count)-th smallest value, clamped to [min, max]; the
// exact min and max for q <= 0 and q >= 1; 0 for an empty histogram.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen < rank {
			continue
		}
		if i == histBuckets-1 {
			return h.max // the overflow bucket has no useful midpoint
		}
		low, width := histBucketRange(i)
		mid := time.Duration(low + (width-1)/2)
		return min(max(mid, h.min), h.max)
	}
	return h.max
}
