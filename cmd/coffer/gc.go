package main

import (
	"os"
	"runtime/debug"
)

// serverGCPercent is the server's garbage-collection target when GOGC is
// not set. A request allocates a few kilobytes that die at once, while the
// live heap (mount tables, caches, bbolt's mmap is outside it) stays small:
// letting the heap grow to five times the live set before a cycle cuts the
// collector's share of the CPU by about three quarters under load, for a
// few tens of megabytes. GOGC and GOMEMLIMIT in the environment win.
const serverGCPercent = 400

// tuneGC applies serverGCPercent unless the operator chose GOGC.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(serverGCPercent)
}
