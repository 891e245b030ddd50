package kv

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"coffer/engines"
)

// referenceDecodeObject is how stored objects were decoded before
// parseObject: a json.Decoder with UseNumber.
func referenceDecodeObject(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

var objectSeeds = []string{
	`{"username":"app","password":"hunter2hunter2"}`,
	`{"port":5432,"ratio":-0.5e+10,"big":123456789012345678901234567890,"z":0,"f":1E-2}`,
	`{"nested":{"a":[1,"two",true,false,null,{"b":[]}],"c":{}},"a":null}`,
	`{"esc":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\ud800x\udc00","utf8":"héllo","bad":"\xff\xfe"}`,
	`{"dup":1,"dup":2}`,
	" \t\r\n{ \"a\" : 1 , \"b\" :[ 1 , 2 ] } trailing",
	`null`, `null `, `null}`, `nul`, ``, `  `, `[]`, `"s"`, `1`, `true`,
	`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":.5}`, `{"a":+1}`,
	`{"a":tru}`, `{"a":truex}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":1 "b":2}`,
	"{\"ctl\":\"a\x01b\"}", `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"unterminated}`,
	`{"a":[1,]}`, `{"a":[1 2]}`, `{1:2}`, `{"a":1}}`, `{"a":{"b":1}`,
	strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000),
	strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
	`{"a":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}`,
}

// TestDecodeObjectMatchesDecoder: parseObject decodes exactly what a
// json.Decoder with UseNumber decodes, and fails where it fails.
func TestDecodeObjectMatchesDecoder(t *testing.T) {
	for _, s := range objectSeeds {
		checkDecodeObject(t, []byte(s))
	}
}

func checkDecodeObject(tb testing.TB, raw []byte) {
	tb.Helper()
	want, wantErr := referenceDecodeObject(raw)
	got, gotErr := decodeObject(raw)
	if (wantErr == nil) != (gotErr == nil) {
		tb.Fatalf("%.80q: error %v, encoding/json's %v", raw, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%.80q:\n got %#v\nwant %#v", raw, got, want)
	}
}

// FuzzDecodeObject compares parseObject with encoding/json on arbitrary
// input, and checks the version record decoder never panics.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range objectSeeds {
		if len(s) < 1000 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDecodeObject(t, raw)
		_, _ = decodeVersion(raw)
		_, _ = decodeVersion(append([]byte{versionFormatData}, raw...))
	})
}

func TestVersionRecord(t *testing.T) {
	data := map[string]any{"password": "hunter2", "port": json.Number("5432"), "html": "<b>&</b>", "list": []any{json.Number("1"), "x"}}
	blob, err := encodeVersion(data)
	if err != nil {
		t.Fatal(err)
	}
	// The stored object is byte for byte what json.Marshal makes of it.
	if inner := mustJSON(t, data); blob[0] != versionFormatData || !bytes.Equal(blob[1:], inner) {
		t.Fatalf("record % x, want 0x01 then %s", blob, inner)
	}

	tests := []struct {
		name string
		raw  string
		want map[string]any // nil: an error
	}{
		{"new form", string(blob), data},
		{"new form null", "\x01null", map[string]any{}},
		{"new form empty object", "\x01{}", map[string]any{}},
		{"new form trailing space", "\x01{} \n", map[string]any{}},
		{"old form", `{"data":{"password":"hunter2","port":5432,"html":"\u003cb\u003e\u0026\u003c/b\u003e","list":[1,"x"]}}`, data},
		{"old form null", `{"data":null}`, map[string]any{}},
		{"old form no data", `{}`, map[string]any{}},
		{"old form with space", ` {"data" : {"a":"b"} } `, map[string]any{"a": "b"}},
		{"new form trailing bytes", "\x01{}x", nil},
		{"new form two objects", "\x01{}{}", nil},
		{"new form array", "\x01[]", nil},
		{"new form truncated", "\x01{\"a\":", nil},
		{"format byte only", "\x01", nil},
		{"old form array data", `{"data":[1]}`, nil},
		{"old form not json", `[]`, nil},
		{"empty", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeVersion([]byte(tt.raw))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("decoded %v, want an error", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
}

// TestLegacyRecords: a key stored in the JSON forms (metadata and
// version records) keeps working: it reads, takes new versions (written
// in the new forms), prunes and deletes.
func TestLegacyRecords(t *testing.T) {
	h := mustHarness(t, "2")
	ctx := t.Context()
	legacyMeta := `{"current_version":2,"oldest_version":0,"max_versions":2,"cas_required":false,"delete_version_after":0,` +
		`"custom_metadata":{"owner":"ops"},"created_time":"2024-01-01T00:00:00Z","updated_time":"2024-01-02T00:00:00Z",` +
		`"versions":{"1":{"created_time":"2024-01-01T00:00:00Z"},"2":{"created_time":"2024-01-02T00:00:00Z","deletion_time":"2999-01-01T00:00:00Z"}}}`
	puts := map[string]string{
		metadataKey("app"):   legacyMeta,
		versionKey("app", 1): `{"data":{"v":"one"}}`,
		versionKey("app", 2): `{"data":{"v":"two","n":2}}`,
	}
	for k, v := range puts {
		if err := h.storage.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}

	resp := h.get(t, "app", nil)
	jsonEqual(t, dataOf(t, resp), `{"v":"two","n":2}`)
	jsonEqual(t, metaOf(t, resp), `{"created_time":"2024-01-02T00:00:00Z","custom_metadata":{"owner":"ops"},"deletion_time":"2999-01-01T00:00:00Z","destroyed":false,"version":2}`)
	jsonEqual(t, dataOf(t, h.get(t, "app", map[string]any{"version": "1"})), `{"v":"one"}`)
	md := h.mustDo(t, engines.ReadOperation, "metadata/app", "")
	if md.Data["current_version"] != uint64(2) || md.Data["created_time"] != "2024-01-01T00:00:00Z" {
		t.Fatalf("metadata: %v", md.Data)
	}

	if v := h.put(t, "app", `{"data":{"v":"three"}}`); v != 3 {
		t.Fatalf("new version %d, want 3", v)
	}
	raw, err := h.storage.Get(ctx, metadataKey("app"))
	if err != nil || len(raw) == 0 || raw[0] != metadataFormatBinary {
		t.Fatalf("metadata not rewritten in the binary form: %q %v", raw, err)
	}
	if raw, _ := h.storage.Get(ctx, versionKey("app", 1)); raw != nil {
		t.Fatalf("version 1 not pruned (max_versions 2): %q", raw)
	}
	jsonEqual(t, dataOf(t, h.get(t, "app", map[string]any{"version": "2"})), `{"v":"two","n":2}`)
	jsonEqual(t, dataOf(t, h.get(t, "app", nil)), `{"v":"three"}`)
	md = h.mustDo(t, engines.ReadOperation, "metadata/app", "")
	jsonEqual(t, md.Data["custom_metadata"], `{"owner":"ops"}`)
	if md.Data["created_time"] != "2024-01-01T00:00:00Z" || md.Data["oldest_version"] != uint64(2) {
		t.Fatalf("metadata after a new version: %v", md.Data)
	}

	h.mustDo(t, engines.DeleteOperation, "metadata/app", "")
	if left := h.storage.KeysWithPrefix(versionsPrefix); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestCorruptBinaryMetadata: a damaged binary record is an internal
// error, not a panic or a wrong answer.
func TestCorruptBinaryMetadata(t *testing.T) {
	h := mustHarness(t, "2")
	h.put(t, "k", `{"data":{"a":"1"}}`)
	raw, err := h.storage.Get(t.Context(), metadataKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.storage.Put(t.Context(), metadataKey("k"), raw[:len(raw)-1]); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"data/k", "metadata/k"} {
		_, err := h.do(t, engines.ReadOperation, path, nil)
		assertCode(t, err, engines.CodeInternal, "")
		if !errors.Is(err, errCorruptMetadata) {
			t.Fatalf("%s: %v, want errCorruptMetadata", path, err)
		}
	}
}
