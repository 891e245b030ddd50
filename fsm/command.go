package fsm

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	bolt "go.etcd.io/bbolt"
)

// OpKind says what an Op does.
type OpKind uint8

// Operation kinds. The numeric values are part of the log format: never
// renumber them.
const (
	OpPut          OpKind = 1
	OpDelete       OpKind = 2
	OpDeletePrefix OpKind = 3 // deletes every key starting with Key
)

// Op is one storage mutation inside a command. Value is used by OpPut only
// and ignored by the delete kinds.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte
}

// commandVersion is the first byte of every encoded command.
const commandVersion = 1

// Limits a command must respect to apply; they are bbolt's own limits, so
// that a decoded command can never fail inside the write transaction.
const (
	// MaxKeySize is the longest key (or delete prefix) a command may carry.
	MaxKeySize = bolt.MaxKeySize
	// MaxValueSize is the longest value an OpPut may carry.
	MaxValueSize = bolt.MaxValueSize
)

// EncodeCommand encodes ops as the Data of one Raft log entry. The encoding
// is deterministic and canonical: equal ops give equal bytes.
//
// Layout: version byte (1), uvarint op count, then per op: kind byte,
// uvarint key length, key bytes and, for OpPut only, uvarint value length and
// value bytes. Invalid ops (see ValidateCommand) are encoded as given and
// rejected by DecodeCommand, so the entry fails deterministically on every
// node.
func EncodeCommand(ops []Op) []byte {
	return AppendCommand(make([]byte, 0, encodedLen(ops)), ops)
}

// AppendCommand appends the encoding of ops (see EncodeCommand) to dst and
// returns the extended slice, so a caller can reuse buffers.
func AppendCommand(dst []byte, ops []Op) []byte {
	if n := encodedLen(ops); cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	dst = append(dst, commandVersion)
	dst = binary.AppendUvarint(dst, uint64(len(ops)))
	for _, op := range ops {
		dst = append(dst, byte(op.Kind))
		dst = binary.AppendUvarint(dst, uint64(len(op.Key)))
		dst = append(dst, op.Key...)
		if op.Kind == OpPut {
			dst = binary.AppendUvarint(dst, uint64(len(op.Value)))
			dst = append(dst, op.Value...)
		}
	}
	return dst
}

// encodedLen is the exact length AppendCommand adds for ops.
func encodedLen(ops []Op) int {
	n := 1 + uvarintLen(uint64(len(ops)))
	for _, op := range ops {
		n += 1 + uvarintLen(uint64(len(op.Key))) + len(op.Key)
		if op.Kind == OpPut {
			n += uvarintLen(uint64(len(op.Value))) + len(op.Value)
		}
	}
	return n
}

// uvarintLen is the length of the minimal uvarint encoding of v.
func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// ValidateCommand reports whether ops would decode and apply: known kinds,
// keys of 1..MaxKeySize bytes for OpPut and OpDelete (0..MaxKeySize for an
// OpDeletePrefix; the empty prefix deletes everything), values of at most
// MaxValueSize bytes. Callers may use it to reject a write before proposing
// it; DecodeCommand enforces the same rules.
func ValidateCommand(ops []Op) error {
	for i, op := range ops {
		if err := validateOp(op.Kind, len(op.Key), len(op.Value)); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return nil
}

// validateOp checks one op's kind and sizes. It never mentions the key
// itself: keys are storage paths and may be sensitive.
func validateOp(kind OpKind, keyLen, valueLen int) error {
	switch kind {
	case OpPut, OpDelete:
		if keyLen == 0 {
			return fmt.Errorf("%w: empty key", ErrBadCommand)
		}
	case OpDeletePrefix:
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrBadCommand, kind)
	}
	if keyLen > MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrBadCommand, keyLen, MaxKeySize)
	}
	if kind == OpPut && valueLen > MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBadCommand, valueLen, MaxValueSize)
	}
	return nil
}

// DecodeCommand parses a command produced by EncodeCommand. It never panics,
// allocates at most in proportion to len(b), and accepts only the canonical
// encoding (minimal uvarints, no trailing bytes), so a successful decode
// re-encodes to exactly b. The returned Values alias b.
func DecodeCommand(b []byte) ([]Op, error) {
	// Every op takes at least 2 bytes (kind + key length), which bounds the
	// slice allocated up front by the input length.
	var ops []Op
	err := walkCommand(b, func(count uint64) {
		ops = make([]Op, 0, count)
	}, func(kind OpKind, key, value []byte) error {
		ops = append(ops, Op{Kind: kind, Key: string(key), Value: value})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ops, nil
}

// walkCommand validates the whole command b, calling start with the op count
// (already checked against len(b)) and then fn for each op in order. Key and
// value alias b. Validation errors wrap ErrBadCommand; an error from fn is
// returned as is. It allocates nothing itself, which keeps the apply path
// free of per-op garbage.
func walkCommand(b []byte, start func(count uint64), fn func(kind OpKind, key, value []byte) error) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrBadCommand)
	}
	if b[0] != commandVersion {
		return fmt.Errorf("%w: unknown version %d", ErrBadCommand, b[0])
	}
	off := 1
	count, err := readUvarint(b, &off)
	if err != nil {
		return fmt.Errorf("op count: %w", err)
	}
	if count > uint64(len(b)-off)/2 {
		return fmt.Errorf("%w: %d ops cannot fit in %d bytes", ErrBadCommand, count, len(b)-off)
	}
	if start != nil {
		start(count)
	}
	for i := uint64(0); i < count; i++ {
		if off >= len(b) {
			return fmt.Errorf("%w: op %d: truncated", ErrBadCommand, i)
		}
		kind := OpKind(b[off])
		off++
		key, err := readBytes(b, &off)
		if err != nil {
			return fmt.Errorf("op %d key: %w", i, err)
		}
		var value []byte
		if kind == OpPut {
			if value, err = readBytes(b, &off); err != nil {
				return fmt.Errorf("op %d value: %w", i, err)
			}
		}
		if err := validateOp(kind, len(key), len(value)); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
		if err := fn(kind, key, value); err != nil {
			return err
		}
	}
	if off != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, len(b)-off)
	}
	return nil
}

// readUvarint reads a minimal uvarint at b[*off:] and advances *off.
func readUvarint(b []byte, off *int) (uint64, error) {
	v, n := binary.Uvarint(b[*off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad uvarint at offset %d", ErrBadCommand, *off)
	}
	if n != uvarintLen(v) {
		return 0, fmt.Errorf("%w: non-minimal uvarint at offset %d", ErrBadCommand, *off)
	}
	*off += n
	return v, nil
}

// readBytes reads a uvarint length and that many bytes, aliasing b.
func readBytes(b []byte, off *int) ([]byte, error) {
	n, err := readUvarint(b, off)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(b)-*off) {
		return nil, fmt.Errorf("%w: length %d overruns input at offset %d", ErrBadCommand, n, *off)
	}
	s := b[*off : *off+int(n) : *off+int(n)]
	*off += int(n)
	return s, nil
}
