package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// testBootID is the boot id every test FSM sees unless a test simulates a
// reboot.
func testBootID() []byte { return []byte("test-boot") }

// mustOpen opens an FSM in dir (a fresh temp dir when empty) and closes it
// at cleanup.
func mustOpen(tb testing.TB, dir string) *FSM {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	f, err := open(dir, nil, testBootID)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := f.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return f
}

// cmdLog is a LogCommand entry at index carrying ops.
func cmdLog(index uint64, ops ...Op) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: EncodeCommand(ops)}
}

func put(key, value string) Op { return Op{Kind: OpPut, Key: key, Value: []byte(value)} }
func del(key string) Op        { return Op{Kind: OpDelete, Key: key} }
func delPrefix(p string) Op    { return Op{Kind: OpDeletePrefix, Key: p} }

// mustApply applies logs as one batch and fails on any error result.
func mustApply(tb testing.TB, f *FSM, logs ...*raft.Log) {
	tb.Helper()
	for i, r := range f.ApplyBatch(logs) {
		if r != nil {
			tb.Fatalf("entry %d (index %d): %v", i, logs[i].Index, r)
		}
	}
}

// mustPutKeys applies one batch putting every key of kv, at index.
func mustPutKeys(tb testing.TB, f *FSM, index uint64, kv map[string]string) {
	tb.Helper()
	var ops []Op
	for k, v := range kv {
		ops = append(ops, put(k, v))
	}
	mustApply(tb, f, cmdLog(index, ops...))
}

// dump returns every key and value in the data bucket, after a flush of
// the in-memory layer.
func dump(tb testing.TB, f *FSM) map[string]string {
	tb.Helper()
	if err := f.flush(); err != nil {
		tb.Fatalf("dump: flush: %v", err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string]string{}
	err := f.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(dataBucket).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		tb.Fatalf("dump: %v", err)
	}
	return out
}

// state is what a restore must reproduce exactly.
type state struct {
	applied uint64
	kv      map[string]string
}

func stateOf(tb testing.TB, f *FSM) state {
	tb.Helper()
	return state{applied: f.AppliedIndex(), kv: dump(tb, f)}
}

func mustEqualState(tb testing.TB, got, want state) {
	tb.Helper()
	if got.applied != want.applied {
		tb.Fatalf("applied index = %d, want %d", got.applied, want.applied)
	}
	if !maps.Equal(got.kv, want.kv) {
		tb.Fatalf("state differs: got %d keys, want %d keys", len(got.kv), len(want.kv))
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Write(p []byte) (int, error) {
	if s.closed || s.cancelled {
		return 0, errors.New("sink finished")
	}
	return s.Buffer.Write(p)
}

// mustSnapshot takes and persists a snapshot of f.
func mustSnapshot(tb testing.TB, f *FSM) []byte {
	tb.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	return mustPersist(tb, snap)
}

func mustPersist(tb testing.TB, snap raft.FSMSnapshot) []byte {
	tb.Helper()
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		tb.Fatalf("persist: %v", err)
	}
	if !sink.closed {
		tb.Fatal("persist did not close the sink")
	}
	return sink.Bytes()
}

// restoreBytes calls Restore on a copy of b.
func restoreBytes(f *FSM, b []byte) error {
	return f.Restore(io.NopCloser(bytes.NewReader(bytes.Clone(b))))
}

// buildSnapshot frames an arbitrary body the way Persist does: header,
// zstd(body), SHA-256 trailer. It lets tests produce checksum-valid
// snapshots of things that are not FSM databases.
func buildSnapshot(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	buf.WriteString(snapshotMagic)
	buf.WriteByte(snapshotVersion)
	enc, err := zstd.NewWriter(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := enc.Write(body); err != nil {
		tb.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return append(buf.Bytes(), sum[:]...)
}

// key formats a numbered key under dir.
func key(dir string, i int) string { return fmt.Sprintf("%s%06d", dir, i) }

// mustGetAll checks Get against want for every key of want and for each
// of absent that want lacks.
func mustGetAll(tb testing.TB, f *FSM, want map[string]string, absent ...string) {
	tb.Helper()
	for k, v := range want {
		got, err := f.Get(k)
		if err != nil || got == nil || string(got) != v {
			tb.Fatalf("Get(%q) = %q, %v; want %q", k, got, err, v)
		}
	}
	for _, k := range absent {
		if _, ok := want[k]; ok {
			continue
		}
		if got, err := f.Get(k); err != nil || got != nil {
			tb.Fatalf("Get(%q) = %q, %v; want absent", k, got, err)
		}
	}
}
