package kv

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"coffer/engines"
)

// TestConcurrentCAS races writers with the same cas value: exactly one may
// win each round, and the rest must get the check-and-set error.
func TestConcurrentCAS(t *testing.T) {
	const writers, rounds = 32, 5
	h := mustHarness(t, "2")
	for round := 0; round < rounds; round++ {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			wins     int
			failures []error
		)
		start := make(chan struct{})
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := h.do(t, engines.UpdateOperation, "data/hot", map[string]any{
					"data":    map[string]any{"writer": fmt.Sprint(w)},
					"options": map[string]any{"cas": round},
				})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
					return
				}
				failures = append(failures, err)
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, wins)
		}
		for _, err := range failures {
			var e *engines.Error
			if !errors.As(err, &e) || e.Code != engines.CodeInvalidRequest || e.Message != "check-and-set parameter did not match the current version" {
				t.Fatalf("round %d: loser got %v", round, err)
			}
		}
	}
	md := h.mustDo(t, engines.ReadOperation, "metadata/hot", "")
	if md.Data["current_version"] != uint64(rounds) {
		t.Fatalf("current_version %v, want %d", md.Data["current_version"], rounds)
	}
}

// TestConcurrentWritersManyKeys mixes blind writes, patches and reads on a
// few keys: every acknowledged write gets its own version number.
func TestConcurrentWritersManyKeys(t *testing.T) {
	const workers, perWorker, keys = 16, 20, 4
	h := mustHarness(t, "2")
	h.mustDo(t, engines.UpdateOperation, "config", `{"max_versions":1000}`)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				key := fmt.Sprintf("k%d", (w+i)%keys)
				op := engines.UpdateOperation
				if i%3 == 2 {
					op = engines.PatchOperation
				}
				resp, err := h.do(t, op, "data/"+key, map[string]any{"data": map[string]any{"w": fmt.Sprint(w)}})
				if err != nil {
					errs <- err
					return
				}
				if op == engines.PatchOperation && resp.StatusCode != 0 {
					continue // patch raced ahead of the key's first write
				}
				id := fmt.Sprintf("%s#%d", key, resp.Data["version"])
				mu.Lock()
				dup := seen[id]
				seen[id] = true
				mu.Unlock()
				if dup {
					errs <- fmt.Errorf("version %s acknowledged twice", id)
					return
				}
				if _, err := h.do(t, engines.ReadOperation, "data/"+key, nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := uint64(0)
	for k := 0; k < keys; k++ {
		md := h.mustDo(t, engines.ReadOperation, fmt.Sprintf("metadata/k%d", k), "")
		total += md.Data["current_version"].(uint64)
	}
	if total != uint64(len(seen)) {
		t.Fatalf("metadata counts %d versions, %d acknowledged", total, len(seen))
	}
}
