package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// fileSink appends lines to a file opened with O_APPEND. A write that
// fails half way (a full disk) is cut back so no torn line stays behind.
type fileSink struct {
	f *os.File
}

func (s *fileSink) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	if err != nil && n > 0 {
		// O_APPEND: the torn line is the last n bytes, wherever the end is
		// now (another writer or a copytruncate may have moved it).
		if st, serr := s.f.Stat(); serr == nil && st.Size() >= int64(n) {
			if terr := s.f.Truncate(st.Size() - int64(n)); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut back a torn line: %w", terr))
			}
		}
	}
	return n, err
}

func (s *fileSink) Close() error { return s.f.Close() }

// stdoutSink writes to the process's standard output and never closes it.
type stdoutSink struct{}

func (stdoutSink) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdoutSink) Close() error                { return nil }

// fileOpener opens path for appending with mode (0 leaves an existing
// file's mode alone and creates with 0600), and finds the hash of its last
// line. A file that ends in a torn line (no newline) gets a newline first,
// so the torn line stays visible to Verify instead of being glued to the
// next record.
func fileOpener(path string, mode os.FileMode) opener {
	return func(context.Context) (sink, string, error) {
		if path == stdoutPath {
			return stdoutSink{}, "", nil
		}
		create := mode
		if create == 0 {
			create = defaultFileMode
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, create)
		if err != nil {
			return nil, "", fmt.Errorf("open audit file: %w", err)
		}
		if mode != 0 {
			if err := f.Chmod(mode); err != nil {
				f.Close()
				return nil, "", fmt.Errorf("chmod audit file: %w", err)
			}
		}
		tail, terminated, err := lastLineHash(path)
		if err != nil {
			f.Close()
			return nil, "", err
		}
		if !terminated {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return nil, "", fmt.Errorf("terminate torn line: %w", err)
			}
		}
		return &fileSink{f: f}, tail, nil
	}
}

// lastLineHash returns the hash of the last line of the file at path ("" for
// an empty file) and whether the file ends with a newline.
func lastLineHash(path string) (string, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("read audit file tail: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", false, fmt.Errorf("read audit file tail: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return "", true, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return "", false, fmt.Errorf("read audit file tail: %w", err)
	}
	terminated := last[0] == '\n'
	end := size
	if terminated {
		end--
	}
	// Walk back in chunks to the newline before the last line.
	const chunk = 64 << 10
	start := int64(0)
	buf := make([]byte, chunk)
	for pos := end; pos > 0; {
		n := int64(chunk)
		if pos < n {
			n = pos
		}
		if _, err := f.ReadAt(buf[:n], pos-n); err != nil {
			return "", false, fmt.Errorf("read audit file tail: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			start = pos - n + int64(i) + 1
			break
		}
		pos -= n
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, start, end-start)); err != nil {
		return "", false, fmt.Errorf("read audit file tail: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), terminated, nil
}
