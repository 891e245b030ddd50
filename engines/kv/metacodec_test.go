package kv

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// mustMetadata builds metadata with versions 1..n created a second apart
// from epoch, every third one soft deleted and every fifth destroyed.
func mustMetadata(tb testing.TB, n uint64) *keyMetadata {
	tb.Helper()
	meta := newKeyMetadata()
	meta.CurrentVersion = n
	meta.MaxVersions = 20
	meta.DeleteVersionAfter = time.Hour
	meta.CreatedTime, meta.UpdatedTime = epoch, epoch.Add(time.Duration(n)*time.Second)
	for v := uint64(1); v <= n; v++ {
		vm := &versionMetadata{CreatedTime: epoch.Add(time.Duration(v) * time.Second)}
		if v%3 == 0 {
			vm.DeletionTime = vm.CreatedTime.Add(time.Minute)
		}
		vm.Destroyed = v%5 == 0
		meta.Versions[v] = vm
	}
	return meta
}

// mustEncodeMetadata encodes meta in the binary form.
func mustEncodeMetadata(tb testing.TB, meta *keyMetadata) []byte {
	tb.Helper()
	raw, err := encodeMetadata(meta)
	if err != nil {
		tb.Fatalf("encodeMetadata: %v", err)
	}
	if len(raw) == 0 || raw[0] != metadataFormatBinary {
		tb.Fatalf("encodeMetadata: no format byte: % x", raw)
	}
	return raw
}

// mustRoundTrip checks that meta survives the binary form unchanged and
// that its encoding is canonical, and returns the encoding.
func mustRoundTrip(tb testing.TB, meta *keyMetadata) []byte {
	tb.Helper()
	raw := mustEncodeMetadata(tb, meta)
	got, err := decodeMetadata(raw)
	if err != nil {
		tb.Fatalf("decodeMetadata: %v", err)
	}
	if !reflect.DeepEqual(got, meta) {
		tb.Fatalf("round trip:\n got %+v\nwant %+v", got, meta)
	}
	if again := mustEncodeMetadata(tb, got); !bytes.Equal(again, raw) {
		tb.Fatalf("re-encoding differs:\n% x\n% x", again, raw)
	}
	return raw
}

func TestMetadataBinaryRoundTrip(t *testing.T) {
	sparse := newKeyMetadata()
	sparse.CurrentVersion = math.MaxUint64
	for _, n := range []uint64{0, 1, 7, 1 << 40, math.MaxUint64 - 1, math.MaxUint64} {
		sparse.Versions[n] = &versionMetadata{CreatedTime: epoch}
	}
	extremes := newKeyMetadata()
	extremes.MaxVersions = math.MaxUint32
	extremes.DeleteVersionAfter = math.MinInt64
	extremes.CASRequired = true
	extremes.CreatedTime = time.Unix(minTimeUnix, 0).UTC()
	extremes.UpdatedTime = time.Unix(maxTimeUnix, 999999999).UTC()
	extremes.Versions[1] = &versionMetadata{CreatedTime: time.Unix(0, 0).UTC(), DeletionTime: time.Unix(-1, 1).UTC(), Destroyed: true}
	custom := mustMetadata(t, 2)
	custom.CustomMetadata = map[string]string{"owner": "team-a", "b": "", "é": "ü", "a": "1"}

	tests := []struct {
		name string
		meta *keyMetadata
	}{
		{"empty", newKeyMetadata()},
		{"zero times", &keyMetadata{CurrentVersion: 1, Versions: map[uint64]*versionMetadata{1: {}}}},
		{"one version", mustMetadata(t, 1)},
		{"ten versions", mustMetadata(t, 10)},
		{"many versions", mustMetadata(t, 5000)},
		{"sparse versions", sparse},
		{"extremes", extremes},
		{"custom metadata", custom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustRoundTrip(t, tt.meta)
		})
	}
}

// TestMetadataBinaryMatchesJSON: metadata written as JSON (the old form)
// decodes to the same record as its binary re-encoding, for every shape
// the old form could hold.
func TestMetadataBinaryMatchesJSON(t *testing.T) {
	custom := mustMetadata(t, 3)
	custom.CustomMetadata = map[string]string{"k": "v", "x": "y"}
	tests := []struct {
		name string
		json string
	}{
		{"written by old code", string(mustJSON(t, mustMetadata(t, 10)))},
		{"custom metadata", string(mustJSON(t, custom))},
		{"null versions and empty custom metadata", `{"current_version":2,"custom_metadata":{},"versions":{"1":{"created_time":"2024-01-01T00:00:00Z"},"2":null}}`},
		{"no versions", `{"current_version":0,"created_time":"2024-01-01T00:00:00.5Z","updated_time":"0001-01-01T00:00:00Z"}`},
		{"offset times", `{"created_time":"2024-01-01T02:00:00+02:00","versions":{"3":{"created_time":"2024-01-01T00:00:00Z","deletion_time":"2024-06-01T00:00:00-07:00","destroyed":true}}}`},
		{"extreme years with offsets", `{"created_time":"0000-01-01T00:00:00+23:59","updated_time":"9999-12-31T23:59:59.999999999-23:59"}`},
		{"null", `null`},
		{"leading space", " \n{\"max_versions\":3,\"cas_required\":true,\"delete_version_after\":-1000000000}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, err := decodeMetadata([]byte(tt.json))
			if err != nil {
				t.Fatalf("old JSON no longer reads: %v", err)
			}
			got, err := decodeMetadata(mustEncodeMetadata(t, old))
			if err != nil {
				t.Fatal(err)
			}
			// Equal instants, reported the same way.
			if !reflect.DeepEqual(metadataView(got), metadataView(old)) {
				t.Fatalf("binary %v\n  json %v", metadataView(got), metadataView(old))
			}
			for n, vm := range old.Versions {
				if g := got.Versions[n]; g == nil || !g.CreatedTime.Equal(vm.CreatedTime) || !g.DeletionTime.Equal(vm.DeletionTime) || g.Destroyed != vm.Destroyed {
					t.Fatalf("version %d: %+v, want %+v", n, g, vm)
				}
			}
		})
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// TestMetadataCustomInvalidUTF8: custom metadata that is not UTF-8 is
// stored as the JSON form stored it (each bad byte becomes U+FFFD).
func TestMetadataCustomInvalidUTF8(t *testing.T) {
	meta := newKeyMetadata()
	meta.CustomMetadata = map[string]string{"a\xff": "v\xfe\xfd", "a\xfe": "other", "ok": "fine"}
	viaJSON, err := decodeMetadata(mustJSON(t, meta))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMetadata(mustEncodeMetadata(t, meta))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.CustomMetadata, viaJSON.CustomMetadata) {
		t.Fatalf("binary %q, JSON %q", got.CustomMetadata, viaJSON.CustomMetadata)
	}
}

// TestMetadataEncodeTimeRange: a time JSON could not hold fails to encode,
// as it did before.
func TestMetadataEncodeTimeRange(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(10000, 1, 3, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 29, 23, 59, 59, 0, time.UTC),
	} {
		meta := mustMetadata(t, 1)
		meta.Versions[1].DeletionTime = tm
		if _, err := json.Marshal(meta); err == nil {
			t.Fatalf("%v: the JSON form accepted it", tm)
		}
		if _, err := encodeMetadata(meta); !errors.Is(err, errTimeOutOfRange) {
			t.Fatalf("%v: got %v, want errTimeOutOfRange", tm, err)
		}
	}
}

// metaBytes assembles a binary record from parts: bytes as they are,
// uint64 as uvarints, int64 as varints, strings as length and bytes.
func metaBytes(parts ...any) []byte {
	buf := []byte{metadataFormatBinary}
	for _, p := range parts {
		switch v := p.(type) {
		case []byte:
			buf = append(buf, v...)
		case byte:
			buf = append(buf, v)
		case uint64:
			buf = binary.AppendUvarint(buf, v)
		case int64:
			buf = binary.AppendVarint(buf, v)
		case string:
			buf = appendString(buf, v)
		default:
			panic("metaBytes: bad part")
		}
	}
	return buf
}

func TestMetadataBinaryRejects(t *testing.T) {
	// header: current 2, oldest 0, max_versions 0, delete_version_after 0, no flags.
	header := []any{uint64(2), uint64(0), uint64(0), int64(0), byte(0)}
	with := func(tail ...any) []byte { return metaBytes(append(append([]any{}, header...), tail...)...) }
	ts := func(sec int64, nsec uint64) []any { return []any{sec, nsec} }
	version := func(n uint64, flags byte, times ...any) []any { return append([]any{n, flags}, times...) }
	flat := func(groups ...[]any) []any {
		var out []any
		for _, g := range groups {
			out = append(out, g...)
		}
		return out
	}
	valid := with(uint64(0), uint64(2), uint64(1), byte(0), uint64(2), byte(0)) // no custom metadata, versions 1 and 2
	if _, err := decodeMetadata(valid); err != nil {
		t.Fatalf("the valid base record fails: %v", err)
	}

	tests := []struct {
		name string
		raw  []byte
	}{
		{"format byte only", []byte{metadataFormatBinary}},
		{"trailing byte", append(append([]byte{}, valid...), 0)},
		{"non-minimal varint", metaBytes([]byte{0x82, 0x00}, uint64(0), uint64(0), int64(0), byte(0), uint64(0), uint64(0))},
		{"overflowing varint", metaBytes([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, uint64(0), uint64(0), int64(0), byte(0), uint64(0), uint64(0))},
		{"max_versions over uint32", metaBytes(uint64(0), uint64(0), uint64(math.MaxUint32+1), int64(0), byte(0), uint64(0), uint64(0))},
		{"unknown key flag", metaBytes(uint64(0), uint64(0), uint64(0), int64(0), byte(8), uint64(0), uint64(0))},
		{"version count beyond input", with(uint64(0), uint64(1000))},
		{"huge version count", with(uint64(0), uint64(math.MaxUint64))},
		{"custom count beyond input", with(uint64(50), "a", "b")},
		{"versions out of order", with(flat([]any{uint64(0), uint64(2)}, version(2, 0), version(1, 0))...)},
		{"repeated version", with(flat([]any{uint64(0), uint64(2)}, version(1, 0), version(1, 0))...)},
		{"unknown version flag", with(flat([]any{uint64(0), uint64(1)}, version(1, 8))...)},
		{"custom keys out of order", with(uint64(2), "b", "1", "a", "2", uint64(0))},
		{"repeated custom key", with(uint64(2), "a", "1", "a", "2", uint64(0))},
		{"custom value not utf-8", with(uint64(1), "a", "\xff", uint64(0))},
		{"string beyond input", with(uint64(1), uint64(40), []byte("ab"))},
		{"nanoseconds out of range", with(flat([]any{uint64(0), uint64(1)}, version(1, versionFlagCreated, ts(0, 1e9)...))...)},
		{"time after 9999", with(flat([]any{uint64(0), uint64(1)}, version(1, versionFlagCreated, ts(maxTimeUnix+1, 0)...))...)},
		{"time before year 0", with(flat([]any{uint64(0), uint64(1)}, version(1, versionFlagDeletion, ts(minTimeUnix-1, 0)...))...)},
		{"zero time marked set", with(flat([]any{uint64(0), uint64(1)}, version(1, versionFlagCreated, ts(time.Time{}.Unix(), 0)...))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if meta, err := decodeMetadata(tt.raw); !errors.Is(err, errCorruptMetadata) {
				t.Fatalf("decode % x: got %+v, %v; want errCorruptMetadata", tt.raw, meta, err)
			}
			if _, _, err := decodeMetadataVersion(tt.raw, 1); !errors.Is(err, errCorruptMetadata) {
				t.Fatalf("decode one version of % x: %v; want errCorruptMetadata", tt.raw, err)
			}
		})
	}

	// Every strict prefix of a real record is truncated.
	full := mustEncodeMetadata(t, func() *keyMetadata {
		m := mustMetadata(t, 4)
		m.CustomMetadata = map[string]string{"k": "v"}
		m.CASRequired = true
		return m
	}())
	for i := 1; i < len(full); i++ {
		if _, err := decodeMetadata(full[:i]); !errors.Is(err, errCorruptMetadata) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
}

// TestDecodeMetadataVersion: decoding one version agrees with the full
// decode, for both forms.
func TestDecodeMetadataVersion(t *testing.T) {
	meta := mustMetadata(t, 6)
	meta.CustomMetadata = map[string]string{"k": "v"}
	delete(meta.Versions, 2)
	for name, raw := range map[string][]byte{"binary": mustEncodeMetadata(t, meta), "json": mustJSON(t, meta)} {
		full, err := decodeMetadata(raw)
		if err != nil {
			t.Fatal(err)
		}
		for want := uint64(0); want <= 8; want++ {
			got, vm, err := decodeMetadataVersion(raw, want)
			if err != nil {
				t.Fatalf("%s %d: %v", name, want, err)
			}
			n := want
			if n == 0 {
				n = full.CurrentVersion
			}
			if !reflect.DeepEqual(vm, full.Versions[n]) {
				t.Fatalf("%s %d: %+v, want %+v", name, want, vm, full.Versions[n])
			}
			if got.CurrentVersion != full.CurrentVersion || !reflect.DeepEqual(got.CustomMetadata, full.CustomMetadata) {
				t.Fatalf("%s %d: metadata %+v, want %+v", name, want, got, full)
			}
		}
	}
}

// FuzzDecodeMetadataBinary: arbitrary bytes after the format byte decode
// or fail, never panic; what decodes re-encodes to the same bytes, and
// decoding one version agrees with the full decode.
func FuzzDecodeMetadataBinary(f *testing.F) {
	for _, n := range []uint64{0, 1, 10} {
		m := mustMetadata(f, n)
		if n == 1 {
			m.CustomMetadata = map[string]string{"a": "b", "c": "d"}
		}
		raw := mustEncodeMetadata(f, m)
		f.Add(raw[1:])
	}
	f.Add([]byte{0x82, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		raw := append([]byte{metadataFormatBinary}, body...)
		meta, err := decodeMetadata(raw)
		_, vm, errOne := decodeMetadataVersion(raw, 0)
		if (err == nil) != (errOne == nil) {
			t.Fatalf("full decode %v, one-version decode %v", err, errOne)
		}
		if err != nil {
			if !errors.Is(err, errCorruptMetadata) {
				t.Fatalf("error %v is not errCorruptMetadata", err)
			}
			return
		}
		if !reflect.DeepEqual(vm, meta.Versions[meta.CurrentVersion]) {
			t.Fatalf("one-version decode %+v, full %+v", vm, meta.Versions[meta.CurrentVersion])
		}
		again, err := encodeMetadata(meta)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(again, raw) {
			t.Fatalf("not canonical:\n% x\n% x", raw, again)
		}
		_ = metadataView(meta)
	})
}
