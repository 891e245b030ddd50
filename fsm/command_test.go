package fsm

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// opsEqual compares ops as the encoding sees them: Value matters for OpPut
// only, and nil equals empty.
func opsEqual(a, b []Op) bool {
	return slices.EqualFunc(a, b, func(x, y Op) bool {
		if x.Kind != y.Kind || x.Key != y.Key {
			return false
		}
		return x.Kind != OpPut || bytes.Equal(x.Value, y.Value)
	})
}

func TestCommandRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ops  []Op
	}{
		{"no ops", nil},
		{"one put", []Op{put("a", "1")}},
		{"empty value", []Op{put("a", "")}},
		{"binary key and value", []Op{{Kind: OpPut, Key: "\x00\xff/x", Value: []byte{0, 1, 2, 255}}}},
		{"delete", []Op{del("a/b")}},
		{"delete prefix", []Op{delPrefix("a/")}},
		{"empty delete prefix", []Op{delPrefix("")}},
		{"mixed", []Op{put("a", "1"), del("b"), delPrefix("c/"), put("d", strings.Repeat("v", 300))}},
		{"max key", []Op{put(strings.Repeat("k", MaxKeySize), "v")}},
		{"long value", []Op{put("k", strings.Repeat("v", 1<<16))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateCommand(tt.ops); err != nil {
				t.Fatalf("validate: %v", err)
			}
			b := EncodeCommand(tt.ops)
			if len(b) != encodedLen(tt.ops) {
				t.Errorf("encoded %d bytes, encodedLen says %d", len(b), encodedLen(tt.ops))
			}
			got, err := DecodeCommand(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !opsEqual(got, tt.ops) {
				t.Fatalf("round trip = %+v, want %+v", got, tt.ops)
			}
			if again := EncodeCommand(got); !bytes.Equal(again, b) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

func TestEncodeIgnoresValueOfDeletes(t *testing.T) {
	t.Parallel()
	a := EncodeCommand([]Op{{Kind: OpDelete, Key: "k", Value: []byte("ignored")}})
	b := EncodeCommand([]Op{del("k")})
	if !bytes.Equal(a, b) {
		t.Fatal("delete value leaked into the encoding")
	}
}

func TestAppendCommand(t *testing.T) {
	t.Parallel()
	ops := []Op{put("a", "1"), del("b")}
	buf := make([]byte, 0, 128)
	out := AppendCommand(append(buf, "prefix"...), ops)
	if !bytes.Equal(out[len("prefix"):], EncodeCommand(ops)) || string(out[:len("prefix")]) != "prefix" {
		t.Fatalf("append = %q", out)
	}
	if &out[0] != &buf[:1][0] {
		t.Error("did not reuse the buffer's capacity")
	}
	// Too small a buffer grows, keeping what was there.
	out = AppendCommand([]byte("xy"), ops)
	if string(out[:2]) != "xy" || !bytes.Equal(out[2:], EncodeCommand(ops)) {
		t.Fatalf("append to small buffer = %q", out)
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	t.Parallel()
	valid := EncodeCommand([]Op{put("a", "1")})
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"version only", []byte{commandVersion}},
		{"unknown version", []byte{2, 0}},
		{"unknown kind", EncodeCommand([]Op{{Kind: 9, Key: "a"}})},
		{"zero kind", EncodeCommand([]Op{{Kind: 0, Key: "a"}})},
		{"empty put key", EncodeCommand([]Op{put("", "v")})},
		{"empty delete key", EncodeCommand([]Op{del("")})},
		{"key too long", EncodeCommand([]Op{put(strings.Repeat("k", MaxKeySize+1), "v")})},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"count beyond input", []byte{commandVersion, 5, byte(OpDelete), 1, 'a'}},
		{"huge count", []byte{commandVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"non-minimal count", []byte{commandVersion, 0x81, 0x00, byte(OpDelete), 1, 'a'}},
		{"non-minimal key length", []byte{commandVersion, 1, byte(OpDelete), 0x81, 0x00, 'a'}},
		{"overlong uvarint", []byte{commandVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"key length overruns", []byte{commandVersion, 1, byte(OpDelete), 0x7f, 'a'}},
		{"value length overruns", []byte{commandVersion, 1, byte(OpPut), 1, 'a', 9, 'v'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops, err := DecodeCommand(tt.in)
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("decode = %+v, %v; want ErrBadCommand", ops, err)
			}
		})
	}
}

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"valid", []Op{put("a", "1"), del("b"), delPrefix("")}, true},
		{"delete with value", []Op{{Kind: OpDelete, Key: "k", Value: []byte("x")}}, true},
		{"empty put key", []Op{put("", "1")}, false},
		{"unknown kind", []Op{{Kind: 4, Key: "k"}}, false},
		{"long prefix", []Op{delPrefix(strings.Repeat("p", MaxKeySize+1))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateCommand(tt.ops)
			if (err == nil) != tt.ok {
				t.Fatalf("validate = %v, want ok=%v", err, tt.ok)
			}
			_, derr := DecodeCommand(EncodeCommand(tt.ops))
			if (derr == nil) != tt.ok {
				t.Fatalf("decode disagrees with validate: %v", derr)
			}
		})
	}
}
