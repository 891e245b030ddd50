package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// The open marker tells a clean shutdown from a crash. Open writes it
// (fsynced, holding the kernel's boot id) before touching the database and
// Close removes it after a final fsync. bbolt runs with NoSync, so after a
// crash the file is only trustworthy if the kernel that buffered its writes
// is still running: a process crash (same boot id) loses nothing, a power
// loss or kernel crash (different boot id) may have torn it.
const markerFileName = "fsm.open"

// bootIDPath is where Linux exposes a random id chosen at each boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// readBootID returns the current boot id, or nil where the platform has
// none (then every unclean shutdown is treated as a possible power loss).
func readBootID() []byte {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil
	}
	return bytes.TrimSpace(b)
}

// recoverUncleanShutdown discards the database file if the previous process
// did not close it and the machine has rebooted since; current is this
// boot's id. crashed reports a previous process that died in this boot:
// its unsynced writes (the database's and the applied mark's) survived.
func (f *FSM) recoverUncleanShutdown(current []byte) (crashed bool, err error) {
	marker, err := os.ReadFile(filepath.Join(f.dir, markerFileName))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fsm: read open marker: %w", err)
	}
	if len(current) > 0 && bytes.Equal(marker, current) {
		f.logger.Info("fsm: previous process exited without closing; same boot, database kept")
		return true, nil
	}
	if _, err := os.Stat(f.path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	f.logger.Warn("fsm: database was not closed before a reboot and may be torn; discarding it, the cluster must restore the latest snapshot")
	if err := os.Remove(f.path); err != nil {
		return false, fmt.Errorf("fsm: discard unclean database: %w", err)
	}
	return false, syncDir(f.dir)
}

// The applied mark (fsm.applied) holds the applied index as 8 big-endian
// bytes, rewritten in place without fsync after every batch. Entries
// applied but not yet flushed live only in memory, so a process that dies
// leaves bbolt behind what it had applied; those entries are committed
// and in the Raft log, but Raft delivers them again only once this node
// learns the commit index (after an election), and until then the node
// would serve the older state. After a crash in the same boot the mark
// survives in the page cache and says how far to replay from the local
// log at once (Replay). After a reboot it is ignored: the database is
// discarded then anyway.
const markFileName = "fsm.applied"

// openMark opens the applied mark, returning the index it holds when trust
// is set (a crash in this boot) and 0 otherwise.
func openMark(dir string, trust bool) (*os.File, uint64, error) {
	path := filepath.Join(dir, markFileName)
	var hint uint64
	if trust {
		if b, err := os.ReadFile(path); err == nil && len(b) == 8 {
			hint = binary.BigEndian.Uint64(b)
		}
	}
	file, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("fsm: open applied mark: %w", err)
	}
	return file, hint, nil
}

// writeMark records idx in the applied mark. Called with applyMu held (or
// before the FSM is shared) for markBuf and markFailed, and with mu held
// (shared or exclusive) for the file, which Close replaces under mu. A
// failure costs only the replay after a crash (the node then catches up
// through Raft), so it is logged once and not fatal.
func (f *FSM) writeMark(idx uint64) {
	if f.mark == nil {
		return
	}
	binary.BigEndian.PutUint64(f.markBuf[:], idx)
	if _, err := f.mark.WriteAt(f.markBuf[:], 0); err != nil && !f.markFailed {
		f.markFailed = true
		f.logger.Warn("fsm: cannot record the applied index; after a crash this node will serve older state until Raft catches it up", "error", err)
	}
}

// writeOpenMarker durably records that the database is open in this boot.
func writeOpenMarker(dir string, boot []byte) error {
	path := filepath.Join(dir, markerFileName)
	file, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("fsm: write open marker: %w", err)
	}
	_, werr := file.Write(boot)
	serr := file.Sync()
	cerr := file.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("fsm: write open marker: %w", err)
	}
	return syncDir(dir)
}

// removeOpenMarker durably records a clean shutdown.
func removeOpenMarker(dir string) error {
	if err := os.Remove(filepath.Join(dir, markerFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove open marker: %w", err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that file creations, renames and removals
// in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsm: sync dir: %w", err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("fsm: sync dir: %w", err)
	}
	return nil
}

// replayBatch is how many log entries Replay applies at a time.
const replayBatch = 256

// CrashMark is the index the previous process had applied when it died
// in this boot without closing (see markFileName), 0 when unknown: every
// entry up to it is committed and in the local Raft log unless compacted.
func (f *FSM) CrashMark() uint64 { return f.crashMark }

// Replay applies, from the local Raft log, the entries after AppliedIndex
// up to to (CrashMark: those the previous process had applied but not yet
// written to the database); get reads one entry of that log. Call it
// before Raft starts, and only with entries that continue the FSM's
// current state (after a restore of a snapshot at index S, only when S is
// below to). It returns how many entries it applied. An entry the log
// lacks ends the replay there: Raft delivers the rest once it learns the
// commit index.
func (f *FSM) Replay(to uint64, get func(index uint64, log *raft.Log) error) (int, error) {
	n := 0
	for from := f.AppliedIndex() + 1; from <= to; {
		batch := make([]*raft.Log, 0, min(replayBatch, to-from+1))
		for i := from; i <= to && len(batch) < replayBatch; i++ {
			l := new(raft.Log)
			if err := get(i, l); err != nil {
				f.logger.Warn("fsm: replay stopped at an entry the log lacks", "index", i, "error", err)
				to = i - 1
				break
			}
			batch = append(batch, l)
		}
		if len(batch) == 0 {
			break
		}
		for _, r := range f.ApplyBatch(batch) {
			if err, ok := r.(error); ok && (errors.Is(err, ErrFailed) || errors.Is(err, ErrClosed)) {
				return n, fmt.Errorf("fsm: replay: %w", err)
			}
		}
		n += len(batch)
		from += uint64(len(batch))
	}
	return n, nil
}
