package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdWriter records writes in memory; while held, a write waits for
// release first (and then is recorded).
type holdWriter struct {
	faultWriter
	mu      sync.Mutex
	held    bool
	release chan struct{}
	entered chan struct{}
}

func newHoldWriter() *holdWriter {
	return &holdWriter{release: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (w *holdWriter) hold() { w.mu.Lock(); w.held = true; w.mu.Unlock() }

func (w *holdWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	held := w.held
	w.held = false
	w.mu.Unlock()
	if held {
		w.entered <- struct{}{}
		<-w.release
	}
	return w.faultWriter.Write(p)
}

// TestAbandonedEntriesAreNeitherWrittenNorReused checks the entries whose
// callers gave up while queued behind a slow write: they are dropped, not
// written late, and their pooled buffers are not handed to later entries
// while the device still holds them.
func TestAbandonedEntriesAreNeitherWrittenNorReused(t *testing.T) {
	b := mustBroker(t)
	w := newHoldWriter()
	if err := enableWriter(t, b, "held", w, map[string]string{"write_timeout": "30s"}); err != nil {
		t.Fatal(err)
	}
	w.hold()
	logID := func(ctx context.Context, id string) error {
		in := testInput()
		in.Request.ID = id
		return b.LogRequest(ctx, in)
	}
	stuck := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		stuck <- logID(ctx, "stuck")
	}()
	<-w.entered // the device is now inside the write of "stuck"
	if err := <-stuck; !errors.Is(err, ErrAuditFailed) {
		t.Fatalf("stuck entry: %v", err)
	}
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- logID(ctx, fmt.Sprintf("late-%d", i)) }()
		cancel()
		if err := <-errc; !errors.Is(err, ErrAuditFailed) {
			t.Fatalf("late entry %d: %v", i, err)
		}
	}
	// New entries reuse pooled jobs while the abandoned ones still sit
	// in the queue.
	done := make(chan error, 1)
	go func() { done <- logID(context.Background(), "after") }()
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := logID(context.Background(), fmt.Sprintf("more-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	log := w.String()
	if strings.Contains(log, `"late-`) {
		t.Fatal("an abandoned entry was written late")
	}
	for _, id := range []string{"stuck", "after", "more-0", "more-4"} {
		if n := strings.Count(log, `"id":"`+id+`"`); n != 1 {
			t.Fatalf("entry %s written %d times", id, n)
		}
	}
	path := tempPath(t, "held.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := mustVerify(t, nil, path); st.Lines != 8 {
		t.Fatalf("%d lines, want 8 (genesis, stuck, after, 5 more)", st.Lines)
	}
}

// TestEntryJobsAreReused checks that a recorded entry's job goes back to
// the pool with its buffer cleared.
func TestEntryJobsAreReused(t *testing.T) {
	j := newEntryJob()
	j.body = append(j.body, "secret body"...)
	j.ctx = context.Background()
	j.deadline = time.Now()
	body := j.body
	releaseEntryJob(j)
	if strings.Contains(string(body[:cap(body)]), "secret") {
		t.Fatal("released buffer still holds the entry")
	}
	if j.ctx != nil || !j.deadline.IsZero() {
		t.Fatal("released job keeps its caller's context")
	}
	big := newEntryJob()
	big.body = make([]byte, maxPooledBody+1)
	releaseEntryJob(big)
	if big.body != nil {
		t.Fatal("an oversized buffer was kept")
	}
}
