package kv

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// metadataFormatBinary starts a keyMetadata in the binary form below. It
// can never start JSON, so decodeMetadata tells the forms apart by the
// first byte and keeps reading metadata written as JSON before it.
//
//	0x01
//	uvarint current_version
//	uvarint oldest_version
//	uvarint max_versions                  at most MaxUint32
//	varint  delete_version_after          nanoseconds
//	byte    flags                         1 cas_required, 2 created_time set, 4 updated_time set
//	[time]  created_time, updated_time    each only when set
//	uvarint count, then count × (string key, string value), keys strictly ascending
//	uvarint count, then count × version, numbers strictly ascending
//
// A version is: uvarint number, byte flags (1 destroyed, 2 created_time
// set, 4 deletion_time set), then the times that are set. A time is varint
// unix seconds and uvarint nanoseconds (below 1e9), in UTC, within the
// range the JSON form could hold (minTimeUnix, maxTimeUnix); a zero time
// is not set. Unix nanoseconds would not do: deletion times can pass 2262. A string is
// uvarint length then that many bytes of valid UTF-8.
//
// The form is canonical: one keyMetadata has exactly one encoding, and the
// decoder rejects anything else (truncation, trailing bytes, unknown flag
// bits, unsorted or repeated entries, non-minimal or overflowing varints).
const metadataFormatBinary byte = 0x01

const (
	metaFlagCAS     = 1 << 0
	metaFlagCreated = 1 << 1
	metaFlagUpdated = 1 << 2

	versionFlagDestroyed = 1 << 0
	versionFlagCreated   = 1 << 1
	versionFlagDeletion  = 1 << 2
)

// The unix seconds of the first and last second a time can have: the
// JSON form held years 0 to 9999 in the time's own zone, so two days'
// margin covers any offset it could carry.
var (
	minTimeUnix = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - 2*86400
	maxTimeUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix() + 2*86400
)

// encodeMetadata returns meta's binary form. It fails, as the JSON form
// did, on a time outside the years 0 to 9999 (give or take a day).
func encodeMetadata(meta *keyMetadata) ([]byte, error) {
	count := 0
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for n, vm := range meta.Versions {
		if vm == nil {
			continue
		}
		count++
		lo, hi = min(lo, n), max(hi, n)
	}
	custom := canonicalCustomMetadata(meta.CustomMetadata)
	size := 1 + 4*binary.MaxVarintLen64 + 1 + 2*15 + binary.MaxVarintLen64 + count*(binary.MaxVarintLen64+1+2*15)
	for k, v := range custom {
		size += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	buf := make([]byte, 0, size)

	buf = append(buf, metadataFormatBinary)
	buf = binary.AppendUvarint(buf, meta.CurrentVersion)
	buf = binary.AppendUvarint(buf, meta.OldestVersion)
	buf = binary.AppendUvarint(buf, uint64(meta.MaxVersions))
	buf = binary.AppendVarint(buf, int64(meta.DeleteVersionAfter))
	var flags byte
	if meta.CASRequired {
		flags |= metaFlagCAS
	}
	if !meta.CreatedTime.IsZero() {
		flags |= metaFlagCreated
	}
	if !meta.UpdatedTime.IsZero() {
		flags |= metaFlagUpdated
	}
	buf = append(buf, flags)
	var err error
	if buf, err = appendTime(buf, meta.CreatedTime); err != nil {
		return nil, err
	}
	if buf, err = appendTime(buf, meta.UpdatedTime); err != nil {
		return nil, err
	}

	buf = binary.AppendUvarint(buf, uint64(len(custom)))
	if len(custom) > 0 {
		for _, k := range slices.Sorted(maps.Keys(custom)) {
			buf = appendString(buf, k)
			buf = appendString(buf, custom[k])
		}
	}

	buf = binary.AppendUvarint(buf, uint64(count))
	if count == 0 {
		return buf, nil
	}
	// Versions are nearly always the dense run oldest..current: walk it
	// rather than sort the map's keys.
	if hi-lo < 2*uint64(count)+16 {
		for n := lo; ; n++ {
			if vm := meta.Versions[n]; vm != nil {
				if buf, err = appendVersion(buf, n, vm); err != nil {
					return nil, err
				}
			}
			if n == hi {
				break
			}
		}
		return buf, nil
	}
	numbers := make([]uint64, 0, count)
	for n, vm := range meta.Versions {
		if vm != nil {
			numbers = append(numbers, n)
		}
	}
	slices.Sort(numbers)
	for _, n := range numbers {
		if buf, err = appendVersion(buf, n, meta.Versions[n]); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func appendVersion(buf []byte, n uint64, vm *versionMetadata) ([]byte, error) {
	buf = binary.AppendUvarint(buf, n)
	var flags byte
	if vm.Destroyed {
		flags |= versionFlagDestroyed
	}
	if !vm.CreatedTime.IsZero() {
		flags |= versionFlagCreated
	}
	if !vm.DeletionTime.IsZero() {
		flags |= versionFlagDeletion
	}
	buf = append(buf, flags)
	buf, err := appendTime(buf, vm.CreatedTime)
	if err != nil {
		return nil, err
	}
	return appendTime(buf, vm.DeletionTime)
}

// appendTime appends t unless it is zero (the flags say which are set).
func appendTime(buf []byte, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return buf, nil
	}
	sec := t.Unix()
	if sec < minTimeUnix || sec > maxTimeUnix {
		return nil, errTimeOutOfRange
	}
	buf = binary.AppendVarint(buf, sec)
	return binary.AppendUvarint(buf, uint64(t.Nanosecond())), nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// canonicalCustomMetadata is m as the JSON form stored it: each byte of
// invalid UTF-8 in a key or value becomes U+FFFD, and of keys that then
// collide the greatest original key's value wins. m itself comes back
// when it is valid UTF-8, which it always is from a JSON request.
func canonicalCustomMetadata(m map[string]string) map[string]string {
	valid := true
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			valid = false
			break
		}
	}
	if valid {
		return m
	}
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out[replaceInvalidUTF8(k)] = replaceInvalidUTF8(m[k])
	}
	return out
}

// replaceInvalidUTF8 replaces each byte of invalid UTF-8 in s with U+FFFD,
// as encoding/json does.
func replaceInvalidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s { // ranging yields RuneError once per invalid byte
		out = append(out, r)
	}
	return string(out)
}

// metaReader reads the binary form, keeping the first error; after an
// error every read returns zero values.
type metaReader struct {
	buf []byte
	off int
	err error
}

func (r *metaReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", errCorruptMetadata, what, r.off)
	}
}

func (r *metaReader) remaining() int { return len(r.buf) - r.off }

func (r *metaReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.remaining() < 1 {
		r.fail("truncated")
		return 0
	}
	c := r.buf[r.off]
	r.off++
	return c
}

func (r *metaReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	rest := r.buf[r.off:]
	v, n := binary.Uvarint(rest)
	switch {
	case n == 0:
		r.fail("truncated varint")
		return 0
	case n < 0:
		r.fail("overflowing varint")
		return 0
	case n > 1 && rest[n-1] == 0:
		r.fail("non-minimal varint")
		return 0
	}
	r.off += n
	return v
}

func (r *metaReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.AppendVarint writes
}

// count reads an entry count, each entry taking at least minSize bytes.
func (r *metaReader) count(minSize int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(r.remaining()/minSize) {
		r.fail("count exceeds the input")
		return 0
	}
	return int(n)
}

func (r *metaReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(r.remaining()) {
		r.fail("truncated string")
		return ""
	}
	b := r.buf[r.off : r.off+int(n)]
	if !utf8.Valid(b) {
		r.fail("invalid utf-8")
		return ""
	}
	r.off += int(n)
	return string(b)
}

// time reads a time if set, else returns the zero time.
func (r *metaReader) time(set bool) time.Time {
	if !set {
		return time.Time{}
	}
	sec := r.varint()
	nsec := r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if sec < minTimeUnix || sec > maxTimeUnix || nsec >= uint64(time.Second) {
		r.fail("time out of range")
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		r.fail("zero time marked set")
		return time.Time{}
	}
	return t
}

func (r *metaReader) flags(known byte) byte {
	f := r.byte()
	if f&^known != 0 {
		r.fail("unknown flags")
		return 0
	}
	return f
}

// decodeMetadataBinary decodes the binary form (raw[0] is the format
// byte). With all set every version goes into meta.Versions; otherwise
// meta.Versions stays nil and only version want (the current version
// when want is 0) comes back, as vm, or nil if the key has no such
// version. Either way the whole input is checked.
func decodeMetadataBinary(raw []byte, all bool, want uint64) (meta *keyMetadata, vm *versionMetadata, err error) {
	r := &metaReader{buf: raw, off: 1}
	meta = &keyMetadata{}
	meta.CurrentVersion = r.uvarint()
	meta.OldestVersion = r.uvarint()
	maxVersions := r.uvarint()
	if maxVersions > math.MaxUint32 {
		r.fail("max_versions out of range")
	}
	meta.MaxVersions = uint32(maxVersions)
	meta.DeleteVersionAfter = time.Duration(r.varint())
	flags := r.flags(metaFlagCAS | metaFlagCreated | metaFlagUpdated)
	meta.CASRequired = flags&metaFlagCAS != 0
	meta.CreatedTime = r.time(flags&metaFlagCreated != 0)
	meta.UpdatedTime = r.time(flags&metaFlagUpdated != 0)

	if n := r.count(2); n > 0 {
		meta.CustomMetadata = make(map[string]string, n)
		prev := ""
		for i := 0; i < n && r.err == nil; i++ {
			k, v := r.string(), r.string()
			if i > 0 && k <= prev {
				r.fail("custom metadata keys out of order")
			}
			meta.CustomMetadata[k] = v
			prev = k
		}
	}

	if want == 0 {
		want = meta.CurrentVersion
	}
	n := r.count(2)
	var slab []versionMetadata
	if all {
		// Room for the version a write adds; one allocation for every version.
		meta.Versions = make(map[uint64]*versionMetadata, n+1)
		slab = make([]versionMetadata, n)
	}
	var prev uint64
	for i := 0; i < n && r.err == nil; i++ {
		num := r.uvarint()
		if i > 0 && num <= prev {
			r.fail("versions out of order")
		}
		prev = num
		f := r.flags(versionFlagDestroyed | versionFlagCreated | versionFlagDeletion)
		v := versionMetadata{
			Destroyed:    f&versionFlagDestroyed != 0,
			CreatedTime:  r.time(f&versionFlagCreated != 0),
			DeletionTime: r.time(f&versionFlagDeletion != 0),
		}
		switch {
		case all:
			slab[i] = v
			meta.Versions[num] = &slab[i]
		case num == want:
			vm = new(versionMetadata)
			*vm = v
		}
	}
	if r.err == nil && r.remaining() != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	return meta, vm, nil
}
