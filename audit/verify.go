package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// VerifyResult names the first line where a log's hash chain breaks.
type VerifyResult struct {
	File   string
	Line   int // 1-based
	Reason string
}

func (r *VerifyResult) String() string {
	return fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Reason)
}

// VerifyStats counts what Verify checked, up to the first bad line.
type VerifyStats struct {
	Lines    int // every line, genesis and checkpoints included
	Segments int // genesis records
	// Checkpoints is the number of signed checkpoints checked (only with
	// a key); Unsigned the lines after the last checkpoint or signed
	// genesis, which the key does not cover yet.
	Checkpoints int
	Unsigned    int
	// Chains counts where the chain starts unchecked: the first genesis,
	// and every later one with no predecessor (prev_hash all zeros, a
	// device that started without history). More than one means
	// the files are out of order, or a device lost its history (stdout
	// across restarts, a file rotated away before a restart).
	Chains int
}

// maxLine bounds one audit line for Verify (an entry with a large
// response body can be big, but not unbounded).
const maxLine = 64 << 20

// Verify checks the hash chain across the given audit files, in the order
// given (the oldest segment first), and returns the first bad line, or nil
// when the chain holds. With key, every genesis must be signed, every
// checkpoint must verify, and no stretch may run longer than the device's
// checkpoint interval without one. It detects an edited, inserted or
// deleted line and a file cut short in the middle; it cannot see lines cut
// from the very end of the last file (nor, with a key, the lines after the
// last checkpoint). The error is for files that cannot be read.
func Verify(paths []string, key []byte) (*VerifyResult, error) {
	_, res, err := VerifyWithStats(paths, key)
	return res, err
}

// VerifyWithStats is Verify that also counts lines, segments and
// checkpoints.
func VerifyWithStats(paths []string, key []byte) (VerifyStats, *VerifyResult, error) {
	v := &verifier{}
	if key != nil {
		if len(key) < 32 {
			return VerifyStats{}, nil, fmt.Errorf("%w: the key must be at least 32 bytes", ErrBadCheckpoint)
		}
		v.signer = newHasher(key)
		defer v.signer.zero()
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return v.stats, nil, fmt.Errorf("audit verify: %w", err)
		}
		res, err := v.file(p, f)
		f.Close()
		if err != nil || res != nil {
			return v.stats, res, err
		}
	}
	if v.signer != nil && v.stats.Segments > 0 && v.stats.Checkpoints == 0 && v.signedGenesis == 0 {
		return v.stats, nil, ErrNoCheckpoints
	}
	return v.stats, nil, nil
}

// verifier is the chain state carried across files.
type verifier struct {
	signer        *hasher
	stats         VerifyStats
	started       bool
	prevHash      string
	seq           uint64
	prefix        []byte
	interval      int
	signedGenesis int
}

// chainFields are the fields Verify reads from every line.
type chainFields struct {
	Type               string  `json:"type"`
	Prefix             string  `json:"prefix"`
	CheckpointInterval int     `json:"checkpoint_interval"`
	MAC                string  `json:"mac"`
	Seq                *uint64 `json:"seq"`
	PrevHash           *string `json:"prev_hash"`
}

func (v *verifier) file(name string, r io.Reader) (*VerifyResult, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			if len(long) > maxLine {
				return &VerifyResult{File: name, Line: lineNo + 1, Reason: "line too long to be an audit entry"}, nil
			}
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if err == io.EOF {
			if len(line) == 0 {
				break
			}
			lineNo++
			return &VerifyResult{File: name, Line: lineNo, Reason: "incomplete last line (no newline): the write was cut short or the file truncated"}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("audit verify: read %s: %w", name, err)
		}
		lineNo++
		if reason := v.line(line[:len(line)-1]); reason != "" {
			return &VerifyResult{File: name, Line: lineNo, Reason: reason}, nil
		}
	}
	if lineNo == 0 {
		return &VerifyResult{File: name, Line: 1, Reason: "file is empty: every audit file starts with a genesis record"}, nil
	}
	return nil, nil
}

// line checks one line (without its newline) against the chain and
// returns why it is bad, or "".
func (v *verifier) line(line []byte) string {
	kind, body := v.classify(line)
	if kind == "" {
		return "not an audit line (bad prefix or not a JSON object)"
	}
	var f chainFields
	if err := json.Unmarshal(body, &f); err != nil || f.Seq == nil || f.PrevHash == nil {
		return "not an audit line (malformed JSON or chain fields missing)"
	}
	if f.Type == "genesis" || f.Type == "checkpoint" {
		if kind != f.Type {
			return "record type does not match its layout"
		}
	} else if kind != "entry" {
		return "record type does not match its layout"
	}
	seq, prev := *f.Seq, *f.PrevHash

	switch kind {
	case "genesis":
		if seq != 0 {
			return fmt.Sprintf("genesis record with seq %d, expected 0", seq)
		}
		if len(prev) != len(zeroHash) {
			return "genesis record with a malformed prev_hash"
		}
		if !v.started || prev == zeroHash {
			v.stats.Chains++
		} else if prev != v.prevHash {
			return "genesis does not name the hash of the line before it: lines are missing before it, a line before it was edited, or files are out of order"
		}
		if v.signer != nil {
			if f.MAC == "" {
				return "genesis is not signed: the device has no checkpoint key, or this segment was forged"
			}
			if checkLineMAC(v.signer, line) != nil {
				return "genesis signature does not match: the line was forged or the key is wrong"
			}
			v.signedGenesis++
			v.stats.Unsigned = 0
		}
		v.started = true
		v.prefix = []byte(f.Prefix)
		v.interval = f.CheckpointInterval
		v.stats.Segments++
	default:
		if !v.started {
			return "the log does not start with a genesis record: it was cut at the start, or verify the previous file first"
		}
		if seq != v.seq+1 {
			return fmt.Sprintf("seq %d, expected %d: a line was deleted or inserted here", seq, v.seq+1)
		}
		if prev != v.prevHash {
			return "prev_hash does not match the hash of the line before it: the line before was edited, or a line was inserted or deleted"
		}
		if kind == "checkpoint" && v.signer != nil {
			if checkLineMAC(v.signer, line) != nil {
				return "checkpoint signature does not match: the log was rewritten or the key is wrong"
			}
			v.stats.Checkpoints++
			v.stats.Unsigned = 0
		} else if v.signer != nil {
			v.stats.Unsigned++
			if v.interval > 0 && v.stats.Unsigned > v.interval {
				return fmt.Sprintf("more than %d lines without a checkpoint: the checkpoints were removed", v.interval)
			}
		}
	}
	v.prevHash = lineHash(line)
	v.seq = seq
	v.stats.Lines++
	return ""
}

// classify tells a genesis, a checkpoint and an entry apart and returns
// the JSON object. A genesis declares its own prefix and must match it; the
// lines after it must carry that prefix.
func (v *verifier) classify(line []byte) (string, []byte) {
	if v.started && bytes.HasPrefix(line, v.prefix) {
		rest := line[len(v.prefix):]
		switch {
		case bytes.HasPrefix(rest, entryOpen):
			return "entry", rest
		case bytes.HasPrefix(rest, checkpointOpen):
			return "checkpoint", rest
		}
	}
	// The prefix is free text and could itself contain the genesis
	// opening: try every occurrence.
	for off := 0; ; {
		i := bytes.Index(line[off:], genesisOpen)
		if i < 0 {
			break
		}
		i += off
		var g struct {
			Prefix string `json:"prefix"`
		}
		if json.Unmarshal(line[i:], &g) == nil && g.Prefix == string(line[:i]) {
			return "genesis", line[i:]
		}
		off = i + 1
	}
	if !v.started {
		// Not a genesis, and no prefix known yet: still tell an entry from
		// garbage, so a log cut at its start is reported as such.
		if i := bytes.Index(line, entryOpen); i >= 0 {
			return "entry", line[i:]
		}
		if i := bytes.Index(line, checkpointOpen); i >= 0 {
			return "checkpoint", line[i:]
		}
	}
	return "", nil
}
