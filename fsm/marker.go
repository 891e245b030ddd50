package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// boot's id.
func (f *FSM) recoverUncleanShutdown(current []byte) error {
	marker, err := os.ReadFile(filepath.Join(f.dir, markerFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsm: read open marker: %w", err)
	}
	if len(current) > 0 && bytes.Equal(marker, current) {
		f.logger.Info("fsm: previous process exited without closing; same boot, database kept")
		return nil
	}
	if _, err := os.Stat(f.path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	f.logger.Warn("fsm: database was not closed before a reboot and may be torn; discarding it, the cluster must restore the latest snapshot")
	if err := os.Remove(f.path); err != nil {
		return fmt.Errorf("fsm: discard unclean database: %w", err)
	}
	return syncDir(f.dir)
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
