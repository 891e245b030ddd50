package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkPut measures one group-committed write through Raft (fsynced
// log) into the FSM, with 1 and 32 concurrent writers.
func BenchmarkPut(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			n := mustOpen(b, b.TempDir(), func(c *Config) { c.RaftLogLevel = "error" })
			defer n.Close()
			val := make([]byte, 160)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if err := n.Put(context.Background(), fmt.Sprintf("k%d", i%1000), val); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkGet measures a linearizable read (read barrier + bbolt).
func BenchmarkGet(b *testing.B) {
	n := mustOpen(b, b.TempDir(), func(c *Config) { c.RaftLogLevel = "error" })
	defer n.Close()
	if err := n.Put(context.Background(), "k", []byte("v")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := n.Get(context.Background(), "k"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
