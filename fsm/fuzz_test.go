package fsm

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{commandVersion, 0})
	f.Add(EncodeCommand([]Op{put("a/b", "v"), del("c"), delPrefix("d/")}))
	f.Add(EncodeCommand([]Op{put("k", "")}))
	f.Add([]byte{commandVersion, 0xff, 0xff, 0xff, 0xff, 0x0f, byte(OpPut)})
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		if err := ValidateCommand(ops); err != nil {
			t.Fatalf("decoded ops fail validation: %v", err)
		}
		// The encoding is canonical: decodable input re-encodes to itself.
		enc := EncodeCommand(ops)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, enc)
		}
		again, err := DecodeCommand(enc)
		if err != nil || !opsEqual(again, ops) {
			t.Fatalf("decode(encode(x)) = %+v, %v; want %+v", again, err, ops)
		}
	})
}

func FuzzEncodeCommand(f *testing.F) {
	f.Add(uint8(OpPut), "a/b", []byte("v"), uint8(OpDelete), "c")
	f.Add(uint8(OpDeletePrefix), "", []byte(nil), uint8(0), "")
	f.Fuzz(func(t *testing.T, k1 uint8, key1 string, value []byte, k2 uint8, key2 string) {
		ops := []Op{{Kind: OpKind(k1), Key: key1, Value: value}, {Kind: OpKind(k2), Key: key2}}
		got, err := DecodeCommand(EncodeCommand(ops))
		if verr := ValidateCommand(ops); verr != nil {
			if err == nil {
				t.Fatalf("invalid ops (%v) decoded", verr)
			}
			return
		}
		if err != nil || !opsEqual(got, ops) {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", ops, got, err)
		}
	})
}

// FuzzRestore feeds arbitrary bytes to Restore. The FSM's only valid input
// in the corpus is a snapshot of its own state, so whatever the input the
// state afterwards must equal the state before, and nothing may panic.
func FuzzRestore(f *testing.F) {
	fsm := mustOpen(f, "")
	mustApply(f, fsm, cmdLog(1, put("a/b", "1"), put("a/c/d", "2")), cmdLog(2, put("z", "3")))
	before := stateOf(f, fsm)
	good := mustSnapshot(f, fsm)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:headerLen+4])
	f.Add([]byte(snapshotMagic))
	f.Add([]byte{})
	f.Add(buildSnapshot(f, []byte("hello")))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := restoreBytes(fsm, b)
		if err != nil && !errors.Is(err, ErrBadSnapshot) && !errors.Is(err, ErrSnapshotTooLarge) {
			t.Fatalf("restore error %v is neither ErrBadSnapshot nor ErrSnapshotTooLarge", err)
		}
		if err == nil && !bytes.Equal(b, good) {
			t.Logf("accepted a snapshot other than the seed (%d bytes)", len(b))
		}
		mustEqualState(t, stateOf(t, fsm), before)
	})
}
