package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzVerify feeds Verify arbitrary files (it must not panic), and good
// logs with one byte changed before their last line (it must fail).
func FuzzVerify(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.log")
	b := NewBroker(nil)
	mustEnableFile(f, b, "file", path, map[string]string{"prefix": "p "})
	for i := 0; i < 3; i++ {
		if err := b.LogRequest(context.Background(), testInput()); err != nil {
			f.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, 10, byte('x'))
	f.Add([]byte("{}\n"), 0, byte('\n'))
	f.Add([]byte(`{"type":"genesis","prefix":"","seq":0,"prev_hash":"`+zeroHash+`"}`+"\n"), 3, byte('a'))
	lastStart := bytes.LastIndexByte(good[:len(good)-1], '\n') + 1

	f.Fuzz(func(t *testing.T, data []byte, pos int, c byte) {
		if _, err := (&verifier{}).file("in", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if pos < 0 || pos >= lastStart || good[pos] == c {
			return
		}
		mutated := bytes.Clone(good)
		mutated[pos] = c
		res, err := (&verifier{}).file("in", bytes.NewReader(mutated))
		if err != nil {
			t.Fatal(err)
		}
		if res == nil {
			t.Fatalf("byte %d changed to %q and the log still verifies", pos, c)
		}
	})
}

// FuzzRedact formats arbitrary JSON bodies as request and response data:
// the entry must be valid JSON and every string left in its data must be
// a hash.
func FuzzRedact(f *testing.F) {
	f.Add([]byte(`{"a":"b","n":1,"l":["x",{"y":"z"}],"t":true}`))
	f.Add([]byte(`{"keys":["a","b"],"k\u2028":"\ud800"}`))
	o, err := parseOptions(DeviceConfig{Type: "file", Options: map[string]string{"file_path": "x"}})
	if err != nil {
		f.Fatal(err)
	}
	d := newDevice(DeviceConfig{Type: "file", Name: "f/"}, o, make([]byte, 32), nil)
	f.Cleanup(func() { _ = d.close() })
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		in := testInput()
		in.Request.Data = data
		in.Response.Data = data
		out, err := d.form.format(in, typeResponse)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]any
		if err := json.Unmarshal(append(out, '}'), &e); err != nil {
			t.Fatalf("entry is not JSON: %v", err)
		}
		for _, p := range []string{"request.data", "response.data"} {
			checkHashed(t, field(e, p))
		}
	})
}

func checkHashed(t *testing.T, v any) {
	switch x := v.(type) {
	case string:
		if !strings.HasPrefix(x, hmacPrefix) {
			t.Fatalf("unhashed string in data")
		}
	case map[string]any:
		for _, e := range x {
			checkHashed(t, e)
		}
	case []any:
		for _, e := range x {
			checkHashed(t, e)
		}
	}
}
