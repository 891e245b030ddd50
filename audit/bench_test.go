package audit

import (
	"context"
	"testing"
)

// BenchmarkLogRequestResponse is the audit cost of one request: its
// request and response entries on one file device.
func BenchmarkLogRequestResponse(b *testing.B) {
	br := mustBroker(b)
	mustEnableFile(b, br, "file", tempPath(b, "audit.log"), nil)
	in := testInput()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := br.LogRequest(ctx, in); err != nil {
			b.Fatal(err)
		}
		if err := br.LogResponse(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkLogRequestResponseParallel is the same under concurrent
// requests, where the device serializes its writes.
func BenchmarkLogRequestResponseParallel(b *testing.B) {
	br := mustBroker(b)
	mustEnableFile(b, br, "file", tempPath(b, "audit.log"), nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		in := testInput()
		for pb.Next() {
			if err := br.LogRequest(ctx, in); err != nil {
				b.Error(err)
				return
			}
			if err := br.LogResponse(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "entries/s")
}
