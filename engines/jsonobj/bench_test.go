package jsonobj

import (
	"fmt"
	"strings"
	"testing"
)

// benchBodies are a typical KV write body and a 100-key object.
func benchBodies() map[string][]byte {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 100 {
		if i > 0 {
			b.WriteString(`,`)
		}
		fmt.Fprintf(&b, `"key%03d":"value number %d"`, i, i)
	}
	b.WriteString(`}`)
	return map[string][]byte{
		"kv-write": []byte(`{"data":{"password":"` + strings.Repeat("p4ssw0rd", 16) + `","user":"x"},"options":{"cas":3}}`),
		"100-keys": []byte(b.String()),
	}
}

// httpLimits are transport/http's defaults.
var httpLimits = Limits{MaxDepth: 300, MaxStringBytes: 1 << 20, MaxEntries: 10000, MaxValues: 250000}

// BenchmarkDecode compares Decode with the json.Decoder Token loop it
// replaces in transport/http, and DecodePrefix with the json.Decoder
// decoding the whole value that kv used before.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"kv-write", "100-keys"} {
		body := benchBodies()[name]
		b.Run(name+"/jsonobj", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Decode(body, httpLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/token-loop", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := tokenDecode(body, httpLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/jsonobj-prefix", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := DecodePrefix(body, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/decoder", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := refDecodePrefix(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
