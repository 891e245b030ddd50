package cluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"time"

	"coffer/fsm"

	"github.com/hashicorp/raft"
)

// Snapshot archive: what GET sys/storage/raft/snapshot streams and POST
// .../snapshot takes back. It has Vault's shape, so Vault's clients and
// CLI handle it: a gzip stream of a tar with, in order,
//
//	meta.json           ArchiveMeta (no secret)
//	state.bin           the FSM snapshot (its own magic, zstd body and
//	                    SHA-256 trailer; the data in it is barrier ciphertext)
//	SHA256SUMS          "<hex>  meta.json\n<hex>  state.bin\n"
//	SHA256SUMS.sealed   SHA256SUMS encrypted by the barrier
//
// The sealed sums prove the archive was made with this cluster's keys: a
// restore without force requires them to open and match.
const (
	archiveMeta   = "meta.json"
	archiveState  = "state.bin"
	archiveSums   = "SHA256SUMS"
	archiveSealed = "SHA256SUMS.sealed"
	// maxArchiveSmall bounds the small entries (meta, sums).
	maxArchiveSmall = 1 << 20
	// ArchiveSumsAAD is the path the sealed sums are encrypted for.
	ArchiveSumsAAD = "core/raft/snapshot-sums"
)

// ArchiveMeta is meta.json.
type ArchiveMeta struct {
	Version   int       `json:"version"`
	Index     uint64    `json:"index"`
	Term      uint64    `json:"term"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	NodeID    string    `json:"node_id"`
	ClusterID string    `json:"cluster_id,omitempty"`
}

// ErrBadArchive is a snapshot archive that does not parse or whose sums do
// not match.
var ErrBadArchive = errors.New("cluster: invalid snapshot archive")

// ErrArchiveOtherKeys is an archive whose sealed sums do not open with
// this cluster's keys.
var ErrArchiveOtherKeys = errors.New("cluster: the snapshot was made with other keys")

// SaveArchive streams a snapshot of the current state to w. It forces a
// Raft snapshot (or reuses the newest when nothing changed since); seal
// encrypts the sums (the barrier). Leader only, so the snapshot holds every
// acknowledged write.
func (n *Node) SaveArchive(ctx context.Context, w io.Writer, meta ArchiveMeta, seal func([]byte) ([]byte, error)) error {
	if _, err := n.ReadBarrier(ctx); err != nil {
		return err
	}
	if !n.IsLeader() {
		return ErrNotLeader
	}
	sm, rc, err := n.openSnapshot()
	if err != nil {
		return err
	}
	defer rc.Close()
	meta.Version, meta.Index, meta.Term, meta.Size = 1, sm.Index, sm.Term, sm.Size
	meta.CreatedAt, meta.NodeID = time.Now().UTC(), n.cfg.NodeID
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("cluster: encode archive meta: %w", err)
	}
	// state.bin is zstd already: gzip only frames it.
	gz, err := gzip.NewWriterLevel(w, gzip.NoCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	put := func(name string, size int64, body io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: meta.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("cluster: write archive: %w", err)
		}
		if m, err := io.Copy(tw, body); err != nil {
			return fmt.Errorf("cluster: write archive: %w", err)
		} else if m != size {
			return fmt.Errorf("cluster: archive entry %s: %d bytes, want %d", name, m, size)
		}
		return nil
	}
	if err := put(archiveMeta, int64(len(metaJSON)), bytes.NewReader(metaJSON)); err != nil {
		return err
	}
	stateSum := sha256.New()
	if err := put(archiveState, sm.Size, io.TeeReader(rc, stateSum)); err != nil {
		return err
	}
	sums := sumsFile(sha256.Sum256(metaJSON), stateSum.Sum(nil))
	sealed, err := seal(sums)
	if err != nil {
		return fmt.Errorf("cluster: seal archive sums: %w", err)
	}
	if err := put(archiveSums, int64(len(sums)), bytes.NewReader(sums)); err != nil {
		return err
	}
	if err := put(archiveSealed, int64(len(sealed)), bytes.NewReader(sealed)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("cluster: write archive: %w", err)
	}
	return gz.Close()
}

func sumsFile(metaSum [32]byte, stateSum []byte) []byte {
	return []byte(hex.EncodeToString(metaSum[:]) + "  " + archiveMeta + "\n" + hex.EncodeToString(stateSum) + "  " + archiveState + "\n")
}

// openSnapshot takes a fresh Raft snapshot, or opens the newest one when
// there is nothing new to snapshot.
func (n *Node) openSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	f := n.raft.Snapshot()
	if err := f.Error(); err == nil {
		return f.Open()
	} else if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, nil, fmt.Errorf("cluster: snapshot: %w", err)
	}
	metas, err := n.snapshots.List()
	if err != nil || len(metas) == 0 {
		return nil, nil, fmt.Errorf("cluster: no snapshot to open: %w", err)
	}
	return n.snapshots.Open(metas[0].ID)
}

// ArchiveInfo is what reading a whole archive found.
type ArchiveInfo struct {
	Meta ArchiveMeta
	// Sealed is SHA256SUMS.sealed, for the caller to open with its keys;
	// Sums is SHA256SUMS, already checked against the entries.
	Sums, Sealed []byte
	// Snapshot describes state.bin (InspectArchive only).
	Snapshot *fsm.SnapshotInfo
}

// ReadArchive reads a whole archive from r and checks its structure and
// SHA256SUMS; state, when non-nil, is given state.bin's bytes as they
// stream past (fsm.Inspect, or a spool).
func ReadArchive(r io.Reader, state func(io.Reader) error) (*ArchiveInfo, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not gzip: %w", ErrBadArchive, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	info := &ArchiveInfo{}
	var metaSum [32]byte
	var stateSum []byte
	for i, want := range []string{archiveMeta, archiveState, archiveSums, archiveSealed} {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadArchive, i+1, err)
		}
		if h.Name != want {
			return nil, fmt.Errorf("%w: entry %d is %q, want %q", ErrBadArchive, i+1, h.Name, want)
		}
		switch want {
		case archiveState:
			if h.Size != info.Meta.Size {
				return nil, fmt.Errorf("%w: state.bin is %d bytes, meta says %d", ErrBadArchive, h.Size, info.Meta.Size)
			}
			sum := sha256.New()
			body := io.TeeReader(io.LimitReader(tr, h.Size), sum)
			if state != nil {
				if err := state(body); err != nil {
					return nil, err
				}
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				return nil, fmt.Errorf("%w: state.bin: %w", ErrBadArchive, err)
			}
			stateSum = sum.Sum(nil)
		default:
			if h.Size > maxArchiveSmall {
				return nil, fmt.Errorf("%w: %s is too large", ErrBadArchive, want)
			}
			b, err := io.ReadAll(io.LimitReader(tr, h.Size))
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrBadArchive, want, err)
			}
			switch want {
			case archiveMeta:
				metaSum = sha256.Sum256(b)
				if err := json.Unmarshal(b, &info.Meta); err != nil {
					return nil, fmt.Errorf("%w: meta.json: %w", ErrBadArchive, err)
				}
				if info.Meta.Version != 1 || info.Meta.Size <= 0 {
					return nil, fmt.Errorf("%w: meta.json: version %d, size %d", ErrBadArchive, info.Meta.Version, info.Meta.Size)
				}
			case archiveSums:
				info.Sums = b
			case archiveSealed:
				info.Sealed = b
			}
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		return nil, fmt.Errorf("%w: unexpected data after %s", ErrBadArchive, archiveSealed)
	}
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fmt.Errorf("%w: after the archive: %w", ErrBadArchive, err)
	}
	if !bytes.Equal(info.Sums, sumsFile(metaSum, stateSum)) {
		return nil, fmt.Errorf("%w: SHA256SUMS does not match the entries", ErrBadArchive)
	}
	return info, nil
}

// CheckSealed reports whether the archive's sealed sums open with open
// (the barrier's decryption) and match its SHA256SUMS.
func (a *ArchiveInfo) CheckSealed(open func([]byte) ([]byte, error)) error {
	sums, err := open(a.Sealed)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrArchiveOtherKeys, err)
	}
	if !bytes.Equal(sums, a.Sums) {
		return fmt.Errorf("%w: sealed sums differ", ErrArchiveOtherKeys)
	}
	return nil
}

// StateReader positions a fresh read of an archive (already checked with
// ReadArchive) at state.bin.
func StateReader(r io.Reader) (io.Reader, func() error, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadArchive, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			gz.Close()
			return nil, nil, fmt.Errorf("%w: no state.bin: %w", ErrBadArchive, err)
		}
		if h.Name == archiveState {
			return io.LimitReader(tr, h.Size), gz.Close, nil
		}
	}
}

// RestoreArchive replaces the cluster's state with state (an archive's
// state.bin of meta.Size bytes): Raft stores it as a new snapshot at a new
// index and every node installs it. Leader only. The FSM's own checksum
// rejects a damaged body before the live state is touched.
func (n *Node) RestoreArchive(ctx context.Context, meta *ArchiveMeta, state io.Reader) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	sm := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: meta.Size, Index: meta.Index, Term: meta.Term}
	if err := n.raft.Restore(sm, io.LimitReader(state, meta.Size), timeout); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	return nil
}

// InspectArchive reads and verifies a whole archive (sums, FSM checksum and
// database structure, using a temporary file under tmpDir).
func InspectArchive(r io.Reader, tmpDir string) (*ArchiveInfo, error) {
	var snap *fsm.SnapshotInfo
	info, err := ReadArchive(r, func(state io.Reader) error {
		var err error
		snap, err = fsm.Inspect(state, tmpDir)
		return err
	})
	if err != nil {
		return nil, err
	}
	info.Snapshot = snap
	return info, nil
}
