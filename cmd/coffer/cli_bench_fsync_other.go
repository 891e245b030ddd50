//go:build !linux

package main

import "os"

// dataSync flushes f to stable storage.
func dataSync(f *os.File) error {
	return f.Sync()
}
