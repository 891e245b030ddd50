package gossip

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestMetaRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		meta    Meta
		wantErr error
	}{
		{"zero", Meta{}, nil},
		{"typical", testMeta("node-1"), nil},
		{"long but fits", Meta{NodeID: strings.Repeat("n", 300)}, nil},
		{"too large", Meta{APIAddr: strings.Repeat("a", memberlist.MetaMaxSize)}, ErrMetaTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeMeta(tt.meta)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("encode err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(b) > memberlist.MetaMaxSize {
				t.Fatalf("encoded %d bytes", len(b))
			}
			got, err := decodeMeta(b)
			if err != nil || got != tt.meta {
				t.Fatalf("decode = %+v, %v", got, err)
			}
		})
	}
}

func TestDecodeMetaRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"{", "[]", `{"applied_index":-1}`, `{"sealed":"yes"}`} {
		if _, err := decodeMeta([]byte(in)); err == nil {
			t.Errorf("decodeMeta(%q) succeeded", in)
		}
	}
	if m, err := decodeMeta(nil); err != nil || m != (Meta{}) {
		t.Errorf("decodeMeta(nil) = %+v, %v", m, err)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	b, _ := encodeMeta(testMeta("a"))
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"node_id":1}`))
	f.Add([]byte(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := decodeMeta(in)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes and decodes to the same value, as
		// long as it fits.
		out, err := encodeMeta(m)
		if err != nil {
			if !errors.Is(err, ErrMetaTooLarge) {
				t.Fatalf("re-encode: %v", err)
			}
			return
		}
		again, err := decodeMeta(out)
		if err != nil || again != m {
			t.Fatalf("round trip: %+v != %+v (%v)", again, m, err)
		}
	})
}

func TestLeaveNoticeRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     []byte
		want   string
		wantOK bool
	}{
		{encodeLeave("node-1"), "node-1", true},
		{nil, "", false},
		{[]byte("L"), "", false},
		{[]byte("Xnode"), "", false},
		{append([]byte("L"), strings.Repeat("n", memberlist.MetaMaxSize+1)...), "", false},
	}
	for _, tt := range tests {
		got, err := decodeLeave(tt.in)
		if (err == nil) != tt.wantOK || got != tt.want {
			t.Errorf("decodeLeave(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func FuzzDecodeLeave(f *testing.F) {
	f.Add(encodeLeave("a"))
	f.Add([]byte{})
	f.Add([]byte("Z"))
	f.Fuzz(func(t *testing.T, in []byte) {
		id, err := decodeLeave(in)
		if err != nil {
			return
		}
		if got, err := decodeLeave(encodeLeave(id)); err != nil || got != id {
			t.Fatalf("round trip %q: %q, %v", id, got, err)
		}
	})
}
