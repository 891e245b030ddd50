package token

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// Records are stored in a compact binary form: they are decoded on every
// request (Lookup), where JSON cost most of the time. Layout, after a
// version byte: length-prefixed byte strings and strings (uvarint length),
// lists and maps as a uvarint count of such strings (map keys sorted),
// integers as varints, the boolean as one byte, in the order of encode.
const recordVersion = 1

func encodeRecord(r *record) []byte {
	b := make([]byte, 0, 256)
	b = append(b, recordVersion)
	b = appendBytes(b, r.Check)
	b = appendBytes(b, r.Sealed)
	b = appendStrings(b, r.Policies)
	keys := make([]string, 0, len(r.Meta))
	for k := range r.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, r.Meta[k])
	}
	b = appendString(b, r.DisplayName)
	b = appendString(b, r.Path)
	for _, n := range []int64{r.Created, r.Expires, r.Renewed, int64(r.CreationTTL), int64(r.TTL),
		int64(r.ExplicitMaxTTL), int64(r.Period), int64(r.NumUses)} {
		b = binary.AppendVarint(b, n)
	}
	renewable := byte(0)
	if r.Renewable {
		renewable = 1
	}
	b = append(b, renewable)
	b = appendString(b, r.Role)
	b = appendStrings(b, r.BoundCIDRs)
	b = appendString(b, r.Type)
	b = appendString(b, r.EntityID)
	b = appendString(b, r.Revoking)
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, list []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, s := range list {
		b = appendString(b, s)
	}
	return b
}

// decodeRecord parses an encoded record; any malformation is errCorrupt.
func decodeRecord(raw []byte) (*record, error) {
	if len(raw) == 0 || raw[0] != recordVersion {
		return nil, fmt.Errorf("token: decode record: %w", errCorrupt)
	}
	d := decoder{b: raw[1:], s: string(raw[1:])}
	r := &record{}
	r.Check = d.bytes()
	r.Sealed = d.bytes()
	r.Policies = d.strings()
	if n := d.count(); n > 0 {
		r.Meta = make(map[string]string, n)
		for range n {
			k := d.string()
			r.Meta[k] = d.string()
		}
	}
	r.DisplayName = d.string()
	r.Path = d.string()
	r.Created, r.Expires, r.Renewed = d.varint(), d.varint(), d.varint()
	r.CreationTTL, r.TTL = time.Duration(d.varint()), time.Duration(d.varint())
	r.ExplicitMaxTTL, r.Period = time.Duration(d.varint()), time.Duration(d.varint())
	uses := d.varint()
	if uses > math.MaxInt32 || uses < math.MinInt32 {
		d.fail()
	}
	r.NumUses = int(uses)
	switch d.byte() {
	case 0:
	case 1:
		r.Renewable = true
	default:
		d.fail()
	}
	r.Role = d.string()
	r.BoundCIDRs = d.strings()
	r.Type = d.string()
	r.EntityID = d.string()
	r.Revoking = d.string()
	if d.bad || len(d.b) != 0 {
		return nil, fmt.Errorf("token: decode record: %w", errCorrupt)
	}
	return r, nil
}

// decoder reads the encoding; the first malformation sets bad and every
// later read returns zero values. Strings are cut from one copy of the
// input (s mirrors b), so decoding allocates once for all of them.
type decoder struct {
	b   []byte
	s   string
	bad bool
}

func (d *decoder) fail() { d.bad, d.b, d.s = true, nil, "" }

func (d *decoder) skip(n int) { d.b, d.s = d.b[n:], d.s[n:] }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.skip(n)
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.skip(n)
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.skip(1)
	return c
}

// count reads a length, which cannot exceed the bytes left (every element
// of a list takes at least one).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

// bytes returns a slice of the input itself.
func (d *decoder) bytes() []byte {
	n := d.count()
	if d.bad {
		return nil
	}
	v := d.b[:n:n]
	d.skip(n)
	return v
}

func (d *decoder) string() string {
	n := d.count()
	if d.bad {
		return ""
	}
	v := d.s[:n]
	d.skip(n)
	return v
}

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, d.string())
	}
	return out
}
