package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// mustPopulate gives f a few hundred keys, including deletes, over several
// batches, ending at applied index 10.
func mustPopulate(tb testing.TB, f *FSM) {
	tb.Helper()
	for b := 1; b <= 10; b++ {
		var ops []Op
		for i := 0; i < 40; i++ {
			ops = append(ops, put(key(fmt.Sprintf("b%d/", b%3), b*100+i), strings.Repeat("v", i)))
		}
		if b == 5 {
			ops = append(ops, delPrefix("b1/"))
		}
		mustApply(tb, f, cmdLog(uint64(b), ops...))
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, "")
	mustPopulate(t, src)
	want := stateOf(t, src)
	snap := mustSnapshot(t, src)

	if !bytes.HasPrefix(snap, []byte(snapshotMagic)) {
		t.Fatal("snapshot lacks the magic")
	}
	dst := mustOpen(t, "")
	mustApply(t, dst, cmdLog(1, put("only-in-dst", "x")), cmdLog(99, put("z", "z")))
	if err := restoreBytes(dst, snap); err != nil {
		t.Fatalf("restore: %v", err)
	}
	// The applied index never goes back (an operator's restore is a new
	// Raft index past everything applied); the data is the snapshot's.
	want.applied = 99
	mustEqualState(t, stateOf(t, dst), want)
	if got, _ := dst.Get("only-in-dst"); got != nil {
		t.Fatal("restore kept previous state")
	}
	// The restored FSM keeps working and stays durable across reopen.
	mustApply(t, dst, cmdLog(100, put("after", "restore")))
	if got, _ := dst.Get("after"); string(got) != "restore" {
		t.Fatalf("after = %q", got)
	}
}

func TestRestoreSurvivesReopen(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, "")
	mustPopulate(t, src)
	want := stateOf(t, src)
	dir := t.TempDir()
	dst, err := open(dir, nil, testBootID)
	if err != nil {
		t.Fatal(err)
	}
	if err := restoreBytes(dst, mustSnapshot(t, src)); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	mustEqualState(t, stateOf(t, mustOpen(t, dir)), want)
}

func TestPersistSeesStateAtSnapshotTime(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, "")
	mustPopulate(t, src)
	want := stateOf(t, src)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Raft applies while Persist runs; the snapshot must not see it.
	mustApply(t, src, cmdLog(11, put("late", "x"), delPrefix("b0/")))
	b := mustPersist(t, snap)

	dst := mustOpen(t, "")
	if err := restoreBytes(dst, b); err != nil {
		t.Fatal(err)
	}
	mustEqualState(t, stateOf(t, dst), want)
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, "")
	mustPopulate(t, src)
	good := mustSnapshot(t, src)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		return b
	}
	notFSM := buildSnapshot(t, bytes.Repeat([]byte("not a bbolt database "), 1000))
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"empty", nil, ErrBadSnapshot},
		{"short header", good[:4], ErrBadSnapshot},
		{"header only", good[:headerLen], ErrBadSnapshot},
		{"wrong magic", append([]byte("NOTSNAPS"), good[8:]...), ErrBadSnapshot},
		{"wrong version", flip(len(snapshotMagic)), ErrBadSnapshot},
		{"bit flip in the middle", flip(len(good) / 2), ErrBadSnapshot},
		{"bit flip in the trailer", flip(len(good) - 1), ErrBadSnapshot},
		{"truncated by one byte", good[:len(good)-1], ErrBadSnapshot},
		{"truncated mid body", good[:len(good)/2], ErrBadSnapshot},
		{"trailer missing", good[:len(good)-trailerLen], ErrBadSnapshot},
		{"extra byte", append(bytes.Clone(good), 0), ErrBadSnapshot},
		{"garbage", bytes.Repeat([]byte{0xa5}, 4096), ErrBadSnapshot},
		{"valid framing, not a database", notFSM, ErrBadSnapshot},
		{"valid framing, empty body", buildSnapshot(t, nil), ErrBadSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := mustOpen(t, "")
			mustApply(t, dst, cmdLog(3, put("keep", "me")))
			before := stateOf(t, dst)
			err := restoreBytes(dst, tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("restore = %v, want %v", err, tt.wantErr)
			}
			mustEqualState(t, stateOf(t, dst), before)
			mustApply(t, dst, cmdLog(4, put("still", "works")))
		})
	}
}

func TestRestoreRejectsOversizedDatabase(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, "")
	mustPopulate(t, src)
	good := mustSnapshot(t, src)
	dst := mustOpen(t, "")
	dst.maxRestore = 4096 // smaller than any bbolt file
	before := stateOf(t, dst)
	if err := restoreBytes(dst, good); !errors.Is(err, ErrSnapshotTooLarge) {
		t.Fatalf("restore = %v, want ErrSnapshotTooLarge", err)
	}
	mustEqualState(t, stateOf(t, dst), before)
}

func TestRestoreRejectsHugeWindow(t *testing.T) {
	t.Parallel()
	// A stream demanding a window above the decoder's limit is refused up
	// front rather than allocated.
	var buf bytes.Buffer
	buf.WriteString(snapshotMagic)
	buf.WriteByte(snapshotVersion)
	enc, err := zstd.NewWriter(&buf, zstd.WithWindowSize(2*maxDecoderWindow), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	// Enough data that the frame header must declare the big window.
	if _, err := enc.Write(bytes.Repeat([]byte{1}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	dst := mustOpen(t, "")
	if err := restoreBytes(dst, buf.Bytes()); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("restore = %v, want ErrBadSnapshot", err)
	}
}

func TestReadsDuringRestore(t *testing.T) {
	t.Parallel()
	src := mustOpen(t, "")
	mustPopulate(t, src)
	snap := mustSnapshot(t, src)
	dst := mustOpen(t, "")
	mustApply(t, dst, cmdLog(1, put("b0/000000", "old")))

	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := dst.Get("b0/000000"); err != nil {
				errs <- err
				return
			}
			if _, err := dst.List("b0/"); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := 0; i < 5; i++ {
		if err := restoreBytes(dst, snap); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err := <-errs; err != nil {
		t.Fatalf("read during restore: %v", err)
	}
}

func TestRestoreWaitsForInFlightPersist(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustPopulate(t, f)
	other := mustOpen(t, "")
	mustApply(t, other, cmdLog(50, put("other", "x")))
	otherSnap := mustSnapshot(t, other)

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := make(chan error, 1)
	go func() { restored <- restoreBytes(f, otherSnap) }()
	// Whether or not Restore already waits on the open read transaction,
	// Persist must complete (it never takes the FSM's lock) and then
	// Restore must too.
	persisted := mustPersist(t, snap)
	select {
	case err := <-restored:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("restore deadlocked behind persist")
	}
	if got, _ := f.Get("other"); string(got) != "x" {
		t.Fatal("restore did not apply")
	}
	check := mustOpen(t, "")
	if err := restoreBytes(check, persisted); err != nil {
		t.Fatalf("snapshot persisted during restore is invalid: %v", err)
	}
}

func TestPersistCancelsSinkOnError(t *testing.T) {
	t.Parallel()
	f := mustOpen(t, "")
	mustPopulate(t, f)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &failingSink{}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("persist to a failing sink succeeded")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("cancelled=%v closed=%v", sink.cancelled, sink.closed)
	}
	snap.Release() // idempotent
}

type failingSink struct{ memSink }

func (s *failingSink) Write(p []byte) (int, error) { return 0, io.ErrShortWrite }

func TestSnapshotSyncsFirst(t *testing.T) {
	t.Parallel()
	// After Snapshot, the on-disk file holds everything the snapshot holds:
	// a crash (same boot) and reopen must see the snapshot's applied index.
	dir := t.TempDir()
	f, err := open(dir, nil, testBootID)
	if err != nil {
		t.Fatal(err)
	}
	mustPopulate(t, f)
	want := stateOf(t, f)
	mustSnapshot(t, f)
	f.mu.Lock()
	_ = f.db.Close()
	f.db = nil
	f.mu.Unlock()
	got := stateOf(t, mustOpen(t, dir))
	if got.applied != want.applied || !maps.Equal(got.kv, want.kv) {
		t.Fatalf("reopened at %d, want %d", got.applied, want.applied)
	}
}
