package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"coffer/fsm"

	"github.com/hashicorp/raft"
)

// Snapshot archive: what GET sys/storage/raft/snapshot streams and POST
// .../snapshot takes back.
//
//	"COFFRAFT" (8 bytes) | header length (uint32, big endian) | header JSON |
//	the FSM snapshot (its own magic, zstd body and SHA-256 trailer)
//
// The header holds no secret: Raft index and term, sizes, the cluster ID,
// and the keyring record as stored (encrypted under the root key), which
// lets a restoring cluster tell whether the snapshot was made with its keys.
const (
	archiveMagic     = "COFFRAFT"
	maxArchiveHeader = 1 << 20
)

// ArchiveMeta is the archive header.
type ArchiveMeta struct {
	Version   int       `json:"version"`
	Index     uint64    `json:"index"`
	Term      uint64    `json:"term"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	NodeID    string    `json:"node_id"`
	ClusterID string    `json:"cluster_id,omitempty"`
	// Keyring is the barrier's keyring record (ciphertext) at save time.
	Keyring []byte `json:"keyring,omitempty"`
}

// ErrBadArchive is a snapshot archive that does not parse.
var ErrBadArchive = errors.New("cluster: invalid snapshot archive")

// SaveArchive streams a snapshot of the current state to w. It forces a
// Raft snapshot (or reuses the newest when nothing changed since); meta's
// ClusterID and Keyring are the caller's. Leader only, so the snapshot
// holds every acknowledged write.
func (n *Node) SaveArchive(ctx context.Context, w io.Writer, meta ArchiveMeta) error {
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
	hdr, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("cluster: encode archive header: %w", err)
	}
	var lenBuf [4]byte
	binary.BigEndian.PutUint32(lenBuf[:], uint32(len(hdr)))
	for _, part := range [][]byte{[]byte(archiveMagic), lenBuf[:], hdr} {
		if _, err := w.Write(part); err != nil {
			return fmt.Errorf("cluster: write archive: %w", err)
		}
	}
	if m, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("cluster: write archive: %w", err)
	} else if m != sm.Size {
		return fmt.Errorf("cluster: snapshot is %d bytes, wrote %d", sm.Size, m)
	}
	return nil
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

// ReadArchiveMeta reads the archive header from r; r is then positioned at
// the FSM snapshot (meta.Size bytes).
func ReadArchiveMeta(r io.Reader) (*ArchiveMeta, error) {
	var head [len(archiveMagic) + 4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadArchive, err)
	}
	if !bytes.Equal(head[:len(archiveMagic)], []byte(archiveMagic)) {
		return nil, fmt.Errorf("%w: not a Coffer snapshot", ErrBadArchive)
	}
	hl := binary.BigEndian.Uint32(head[len(archiveMagic):])
	if hl == 0 || hl > maxArchiveHeader {
		return nil, fmt.Errorf("%w: header length %d", ErrBadArchive, hl)
	}
	hdr := make([]byte, hl)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadArchive, err)
	}
	var meta ArchiveMeta
	if err := json.Unmarshal(hdr, &meta); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrBadArchive, err)
	}
	if meta.Version != 1 || meta.Size <= 0 {
		return nil, fmt.Errorf("%w: version %d, size %d", ErrBadArchive, meta.Version, meta.Size)
	}
	return &meta, nil
}

// RestoreArchive replaces the cluster's state with the archive's FSM
// snapshot (already read past its header with ReadArchiveMeta): Raft
// stores it as a new snapshot at a new index and every node installs it.
// Leader only. The FSM's stream checksum rejects a damaged body before the
// live state is touched.
func (n *Node) RestoreArchive(ctx context.Context, meta *ArchiveMeta, body io.Reader) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	sm := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: meta.Size, Index: meta.Index, Term: meta.Term}
	if err := n.raft.Restore(sm, io.LimitReader(body, meta.Size), timeout); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	return nil
}

// ArchiveInfo is what InspectArchive reports.
type ArchiveInfo struct {
	Meta     ArchiveMeta
	Snapshot *fsm.SnapshotInfo
}

// InspectArchive reads and verifies a whole archive (checksum and database
// structure) using a temporary file under tmpDir.
func InspectArchive(r io.Reader, tmpDir string) (*ArchiveInfo, error) {
	meta, err := ReadArchiveMeta(r)
	if err != nil {
		return nil, err
	}
	info, err := fsm.Inspect(io.LimitReader(r, meta.Size), tmpDir)
	if err != nil {
		return nil, err
	}
	return &ArchiveInfo{Meta: *meta, Snapshot: info}, nil
}
