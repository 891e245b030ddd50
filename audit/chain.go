package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// The hash chain. Every line ends with `"seq":N,"prev_hash":"<hex>"}`:
// seq counts lines within a segment (the genesis is 0) and prev_hash is
// the SHA-256 of the previous line's exact bytes (prefix included, newline
// excluded). A segment starts with a genesis record whose prev_hash is the
// last line of the previous segment of the same device, or zeroHash for a
// device with no history. Genesis and checkpoint lines carry a "mac" when
// the device has a checkpoint key: HMAC-SHA256(key, the line with the mac
// value replaced by 64 zeros).

// zeroHash is the prev_hash of a chain's first genesis.
const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// chainVersion is the genesis "version": the format of the chain fields.
const chainVersion = 1

// The JSON openings that tell line kinds apart (after the prefix).
var (
	genesisOpen    = []byte(`{"type":"genesis",`)
	checkpointOpen = []byte(`{"type":"checkpoint",`)
	entryOpen      = []byte(`{"time":`)
	macField       = []byte(`"mac":"`)
)

// lineHash returns the hex SHA-256 of one line without its newline.
func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// lineHashTo writes the hex SHA-256 of one line (as lineHash) into dst.
func lineHashTo(dst *[2 * sha256.Size]byte, line []byte) {
	sum := sha256.Sum256(line)
	hex.Encode(dst[:], sum[:])
}

// appendTail closes a body with the chain fields.
func appendTail[H string | []byte](dst []byte, seq uint64, prevHash H) []byte {
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prev_hash":"`...)
	dst = append(dst, prevHash...)
	return append(dst, `"}`...)
}

// genesisRecord is the first line of a segment.
type genesisRecord struct {
	Type               string `json:"type"`
	Time               string `json:"time"`
	Device             string `json:"device"`
	Prefix             string `json:"prefix"`
	Version            int    `json:"version"`
	CheckpointInterval int    `json:"checkpoint_interval,omitempty"`
	MAC                string `json:"mac,omitempty"`
	Seq                uint64 `json:"seq"`
	PrevHash           string `json:"prev_hash"`
}

// checkpointRecord authenticates the chain up to itself.
type checkpointRecord struct {
	Type     string `json:"type"`
	Time     string `json:"time"`
	MAC      string `json:"mac,omitempty"`
	Seq      uint64 `json:"seq"`
	PrevHash string `json:"prev_hash"`
}

// genesisBody returns a genesis body (no chain fields, no closing brace),
// with a zeroed mac placeholder when signed.
func genesisBody(now time.Time, device, prefix string, interval int, signed bool) []byte {
	g := genesisRecord{Type: "genesis", Time: now.UTC().Format(time.RFC3339Nano), Device: device, Prefix: prefix, Version: chainVersion}
	if signed {
		g.CheckpointInterval = interval
		g.MAC = zeroHash
	}
	return bodyOf(&g)
}

// checkpointBody returns a checkpoint body with a zeroed mac placeholder.
func checkpointBody(now time.Time) []byte {
	return bodyOf(&checkpointRecord{Type: "checkpoint", Time: now.UTC().Format(time.RFC3339Nano), MAC: zeroHash})
}

// bodyOf encodes a record and cuts its own chain fields and closing brace;
// the device appends the real ones.
func bodyOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("audit: encode chain record: " + err.Error()) // fixed struct of strings and ints
	}
	i := bytes.LastIndex(b, []byte(`,"seq":`))
	return b[:i]
}

// macSpan returns where the mac value (64 hex chars) sits in line.
func macSpan(line []byte) (int, bool) {
	i := bytes.LastIndex(line, macField)
	if i < 0 {
		return 0, false
	}
	start := i + len(macField)
	if len(line) < start+len(zeroHash)+1 || line[start+len(zeroHash)] != '"' {
		return 0, false
	}
	return start, true
}

// signLine fills the zeroed mac placeholder of line in place.
func signLine(h *hasher, line []byte) bool {
	start, ok := macSpan(line)
	if !ok {
		return false
	}
	var sum [sha256.Size]byte
	if !h.sum(&sum, line) {
		return false
	}
	hex.Encode(line[start:start+len(zeroHash)], sum[:])
	return true
}

// errBadMAC is a checkpoint or genesis whose mac does not verify.
var errBadMAC = errors.New("signature does not match")

// checkLineMAC verifies the mac of a signed line without modifying it.
func checkLineMAC(h *hasher, line []byte) error {
	start, ok := macSpan(line)
	if !ok {
		return errBadMAC
	}
	got := make([]byte, sha256.Size)
	if _, err := hex.Decode(got, line[start:start+len(zeroHash)]); err != nil {
		return errBadMAC
	}
	blank := bytes.Clone(line)
	copy(blank[start:], zeroHash)
	var want [sha256.Size]byte
	if !h.sum(&want, blank) {
		return errBadMAC
	}
	if !hmacEqual(got, want[:]) {
		return errBadMAC
	}
	return nil
}
