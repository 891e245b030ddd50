//go:build linux

package main

import (
	"os"
	"syscall"
)

// dataSync flushes f's data (and the metadata needed to read it back) to
// stable storage, as bbolt and Raft log stores do on Linux.
func dataSync(f *os.File) error {
	return syscall.Fdatasync(int(f.Fd()))
}
