package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// Restore replaces the whole state with the snapshot read from rc (as
// written by Persist). It streams the decompressed database into a temp file
// beside the live one, verifying header, checksum and the database's
// structure before touching the live database; only then does it close the
// live database, rename the temp file over it and reopen it. Any invalid
// input returns an error wrapping ErrBadSnapshot (or ErrSnapshotTooLarge)
// and leaves the live state untouched. Get and List may run concurrently;
// they wait during the swap. It waits for an in-flight Persist to finish.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.applyMu.Lock()
	defer f.applyMu.Unlock()

	tmp := filepath.Join(f.dir, restoreFileName)
	size, err := f.writeRestoreFile(rc, tmp)
	if err == nil {
		err = validateDBFile(tmp)
	}
	if err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, ErrBadSnapshot) || errors.Is(err, ErrSnapshotTooLarge) {
			return err
		}
		return fmt.Errorf("fsm: restore: %w", err)
	}

	// No flush may write to the old database while it is swapped; the
	// layers are dropped with it.
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		_ = os.Remove(tmp)
		return ErrClosed
	}
	if err := f.db.Close(); err != nil {
		// The live database may still be locked; do not replace it.
		_ = os.Remove(tmp)
		return fmt.Errorf("fsm: restore: close live database: %w", err)
	}
	f.db = nil
	// From here a crash may leave either file in place: the applied mark
	// must not send Replay over the restored state (see markFileName).
	f.writeMark(0)
	if err := os.Rename(tmp, f.path); err != nil {
		// The old file is still in place: reopen it.
		f.reopenAfterFailure()
		return fmt.Errorf("fsm: restore: rename: %w", err)
	}
	if err := syncDir(f.dir); err != nil {
		f.logger.Error("fsm: restore: sync dir after rename", "error", err)
	}
	db, applied, err := openDB(f.path)
	if err != nil {
		// The new file is in place but will not open: a disk failure.
		f.logger.Error("fsm: restore: reopen failed; the FSM is closed", "error", err)
		return fmt.Errorf("fsm: restore: reopen: %w", err)
	}
	f.db = db
	// The layers belonged to the replaced state.
	f.resetLayers(applied)
	// The applied index never goes back: an operator's restore of an old
	// snapshot is itself a new Raft index, past everything applied here,
	// and entries after it must not be skipped as "already applied".
	if prev := f.applied.Load(); prev > applied {
		if err := db.Update(func(tx *bolt.Tx) error {
			return putApplied(tx.Bucket(metaBucket), prev)
		}); err != nil {
			// The file's index is behind the restored state's: stop
			// until a restart (or another restore) sorts it out.
			fail := fmt.Errorf("%w: restore: record applied index: %w", ErrFailed, err)
			f.failed.Store(&failure{fail})
			return fail
		}
		applied = prev
		f.resetLayers(applied)
	}
	f.failed.Store(nil)
	if _, observe := f.watch.current(); observe != nil {
		observe("")
	}
	f.advance(applied)
	f.logger.Info("fsm: restored snapshot", "applied_index", applied, "bytes", size)
	return nil
}

// reopenAfterFailure reopens the live database after a failed swap; on
// failure the FSM stays closed. Called with mu held.
func (f *FSM) reopenAfterFailure() {
	// The file is as it was: the layers above it and the applied index
	// still hold.
	db, _, err := openDB(f.path)
	if err != nil {
		f.logger.Error("fsm: restore: reopen live database failed; the FSM is closed", "error", err)
		return
	}
	f.db = db
	f.writeMark(f.applied.Load())
}

// writeRestoreFile decodes the snapshot stream r into a new file at path,
// fsyncs it, and returns the decompressed size. The file is complete and
// its checksum verified when it returns nil.
func (f *FSM) writeRestoreFile(r io.Reader, path string) (int64, error) {
	tr := &trailerReader{r: r}
	h := sha256.New()
	body := io.TeeReader(tr, h)

	var header [headerLen]byte
	if _, err := io.ReadFull(body, header[:]); err != nil {
		return 0, fmt.Errorf("%w: read header: %w", ErrBadSnapshot, err)
	}
	if string(header[:len(snapshotMagic)]) != snapshotMagic {
		return 0, fmt.Errorf("%w: bad magic", ErrBadSnapshot)
	}
	if v := header[len(snapshotMagic)]; v != snapshotVersion {
		return 0, fmt.Errorf("%w: unsupported format version %d", ErrBadSnapshot, v)
	}

	dec, err := zstd.NewReader(body,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxDecoderWindow),
		zstd.WithDecoderMaxMemory(maxDecoderWindow))
	if err != nil {
		return 0, fmt.Errorf("zstd: %w", err)
	}
	defer dec.Close()

	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create temp file: %w", err)
	}
	n, err := copyBody(out, dec, body, tr, h.Sum, f.maxRestore)
	if err == nil {
		if err = out.Sync(); err != nil {
			err = fmt.Errorf("sync temp file: %w", err)
		}
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close temp file: %w", cerr)
	}
	return n, err
}

// copyBody decompresses dec into out (at most limit bytes), then checks
// that the zstd stream consumed the whole body and that the trailer matches
// the SHA-256 of everything before it.
func copyBody(out io.Writer, dec io.Reader, body io.Reader, tr *trailerReader, sum func([]byte) []byte, limit int64) (int64, error) {
	w := &recordingWriter{w: out}
	n, err := io.Copy(w, io.LimitReader(dec, limit+1))
	switch {
	case w.err != nil:
		return n, fmt.Errorf("write temp file: %w", w.err)
	case err != nil:
		return n, fmt.Errorf("%w: decompress: %w", ErrBadSnapshot, err)
	case n > limit:
		return n, fmt.Errorf("%w: more than %d bytes", ErrSnapshotTooLarge, limit)
	case n == 0:
		return n, fmt.Errorf("%w: empty database", ErrBadSnapshot)
	}
	var one [1]byte
	if m, _ := io.ReadFull(body, one[:]); m != 0 {
		return n, fmt.Errorf("%w: data after the compressed stream", ErrBadSnapshot)
	}
	trailer, err := tr.trailer()
	if err != nil {
		return n, err
	}
	if !bytes.Equal(sum(nil), trailer) {
		return n, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	return n, nil
}

// recordingWriter remembers its writer's error, so a full disk is not
// reported as a bad snapshot.
type recordingWriter struct {
	w   io.Writer
	err error
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// validateDBFile opens the restored file as a bbolt database and checks it
// holds the FSM's buckets and a well-formed applied index. The checksum
// already rules out corruption in transit; this rules out a stream that is
// intact but is not an FSM database. bbolt panics on some malformed files,
// so a panic here is an invalid snapshot, not a crash.
func validateDBFile(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: malformed database", ErrBadSnapshot)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        openTimeout,
		NoSync:         true,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return fmt.Errorf("%w: open database: %w", ErrBadSnapshot, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if tx.Bucket(dataBucket) == nil || meta == nil {
			return fmt.Errorf("%w: missing buckets", ErrBadSnapshot)
		}
		if _, err := readApplied(meta); err != nil {
			return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		return nil
	})
}

// trailerReader passes through everything its source yields except the last
// trailerLen bytes, which it holds back as the trailer. This lets Restore
// stream a body of unknown length that is followed by a fixed-size trailer.
type trailerReader struct {
	r          io.Reader
	buf        [32<<10 + trailerLen]byte
	start, end int
	eof        bool
}

func (t *trailerReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for t.end-t.start <= trailerLen && !t.eof {
		if t.start > 0 {
			t.end = copy(t.buf[:], t.buf[t.start:t.end])
			t.start = 0
		}
		n, err := t.r.Read(t.buf[t.end:])
		t.end += n
		if errors.Is(err, io.EOF) {
			t.eof = true
		} else if err != nil {
			return 0, err
		}
	}
	avail := t.end - t.start - trailerLen
	if avail <= 0 {
		return 0, io.EOF
	}
	n := copy(p, t.buf[t.start:t.start+avail])
	t.start += n
	return n, nil
}

// trailer returns the held-back bytes once the source is exhausted.
func (t *trailerReader) trailer() ([]byte, error) {
	if !t.eof || t.end-t.start != trailerLen {
		return nil, fmt.Errorf("%w: truncated", ErrBadSnapshot)
	}
	return t.buf[t.start:t.end], nil
}
