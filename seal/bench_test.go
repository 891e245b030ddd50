package seal

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64, 1 << 10, 64 << 10}

func BenchmarkEncrypt(b *testing.B) {
	barrier, _, _ := mustBarrier(b)
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := barrier.Encrypt("logical/8f2c/data/app/config", pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	barrier, _, _ := mustBarrier(b)
	const path = "logical/8f2c/data/app/config"
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			blob := mustEncrypt(b, barrier, path, make([]byte, size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := barrier.Decrypt(path, blob); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncryptParallel(b *testing.B) {
	barrier, _, _ := mustBarrier(b)
	pt := make([]byte, 1<<10)
	b.SetBytes(int64(len(pt)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := barrier.Encrypt("logical/8f2c/data/app/config", pt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
