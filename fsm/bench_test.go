package fsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkApplyBatch measures one ApplyBatch of entries*ops puts of
// 128-byte values (encoding included): a lone write, a group-committed
// batch of 64 entries, and one entry carrying 64 ops. The batch goes into
// the in-memory layer; the flusher writes it to bbolt on its own goroutine
// meanwhile, as in the server.
func BenchmarkApplyBatch(b *testing.B) {
	value := bytes.Repeat([]byte{0xab}, 128)
	for _, bc := range []struct{ entries, ops int }{{1, 1}, {64, 1}, {1, 64}} {
		b.Run(fmt.Sprintf("entries=%d/ops=%d", bc.entries, bc.ops), func(b *testing.B) {
			f := mustOpen(b, "")
			var index uint64
			var n int
			logs := make([]*raft.Log, bc.entries)
			b.SetBytes(int64(bc.entries * bc.ops * len(value)))
			b.ReportAllocs()
			for b.Loop() {
				for e := range logs {
					ops := make([]Op, bc.ops)
					for o := range ops {
						n++
						ops[o] = Op{Kind: OpPut, Key: key("bench/", n), Value: value}
					}
					index++
					logs[e] = &raft.Log{Index: index, Type: raft.LogCommand, Data: EncodeCommand(ops)}
				}
				for _, r := range f.ApplyBatch(logs) {
					if r != nil {
						b.Fatal(r)
					}
				}
			}
			b.ReportMetric(float64(b.N*bc.entries*bc.ops)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
