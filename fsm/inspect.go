package fsm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// SnapshotInfo describes a snapshot stream without exposing any value.
type SnapshotInfo struct {
	// AppliedIndex is the FSM's applied index recorded in the snapshot.
	AppliedIndex uint64
	// Keys is the number of keys; ByPrefix counts them by their first path
	// segment ("core/", "logical/", ...).
	Keys     int
	ByPrefix map[string]int
	// Bytes is the decompressed database size.
	Bytes int64
}

// Inspect verifies a snapshot stream (format, zstd stream, SHA-256 trailer,
// database structure) by decoding it into a temporary file under tmpDir,
// and describes it. The file is removed before Inspect returns.
func Inspect(r io.Reader, tmpDir string) (*SnapshotInfo, error) {
	tmp, err := os.CreateTemp(tmpDir, "coffer-inspect-*.db")
	if err != nil {
		return nil, fmt.Errorf("fsm: inspect: %w", err)
	}
	path := tmp.Name()
	tmp.Close()
	defer os.Remove(path)
	f := &FSM{maxRestore: MaxRestoreSize}
	size, err := f.writeRestoreFile(r, path)
	if err == nil {
		err = validateDBFile(path)
	}
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: openTimeout})
	if err != nil {
		return nil, fmt.Errorf("fsm: inspect: open: %w", err)
	}
	defer db.Close()
	info := &SnapshotInfo{ByPrefix: map[string]int{}, Bytes: size}
	err = db.View(func(tx *bolt.Tx) error {
		data, meta := tx.Bucket(dataBucket), tx.Bucket(metaBucket)
		if data == nil || meta == nil {
			return errors.New("missing buckets")
		}
		applied, err := readApplied(meta)
		if err != nil {
			return err
		}
		info.AppliedIndex = applied
		return data.ForEach(func(k, _ []byte) error {
			info.Keys++
			key := string(k)
			if i := strings.IndexByte(key, '/'); i >= 0 {
				key = key[:i+1]
			}
			info.ByPrefix[key]++
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	return info, nil
}

// Prefixes returns the ByPrefix keys in order.
func (s *SnapshotInfo) Prefixes() []string {
	out := make([]string, 0, len(s.ByPrefix))
	for p := range s.ByPrefix {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
