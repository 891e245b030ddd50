package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

// keepRuntime puts the test binary's GC target, processor count and the
// two variables back when the test ends.
func keepRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	gc := debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	for _, key := range []string{"GOGC", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(key); ok {
			t.Cleanup(func() { os.Setenv(key, v) })
		} else {
			t.Cleanup(func() { os.Unsetenv(key) })
		}
	}
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
	})
}

func TestTuneRuntimeDefaults(t *testing.T) {
	keepRuntime(t)
	os.Unsetenv("GOGC")
	os.Unsetenv("GOMAXPROCS")
	debug.SetGCPercent(100)
	before := runtime.GOMAXPROCS(0)
	tuneRuntime()
	if got := runtime.GOMAXPROCS(0); got != 2*before {
		t.Errorf("GOMAXPROCS = %d, want twice the default %d", got, before)
	}
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Errorf("GC target = %d, want %d", got, serverGCPercent)
	}
}

func TestTuneRuntimeOperatorWins(t *testing.T) {
	keepRuntime(t)
	os.Setenv("GOGC", "150")
	os.Setenv("GOMAXPROCS", "3")
	debug.SetGCPercent(150)
	runtime.GOMAXPROCS(3)
	tuneRuntime()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS = %d, want the operator's 3", got)
	}
	if got := debug.SetGCPercent(150); got != 150 {
		t.Errorf("GC target = %d, want the operator's 150", got)
	}
}
