package lease

import (
	"fmt"
	"testing"
	"time"
)

func FuzzDecodeEntry(f *testing.F) {
	good, err := encodeEntry(&Entry{LeaseID: "database/creds/ro/abc", ExpireTime: t0, InternalData: map[string]any{"u": "x"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"lease_id":"../x"}`))
	f.Add([]byte(`{"lease_id":"a/b","expire_time":"not a time"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		if !validID(e.LeaseID) {
			t.Fatalf("decoded an invalid lease id %q", e.LeaseID)
		}
		again, err := encodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := decodeEntry(again)
		if err != nil || e2.LeaseID != e.LeaseID || !e2.ExpireTime.Equal(e.ExpireTime) {
			t.Fatalf("re-decode: %+v, %v", e2, err)
		}
	})
}

func FuzzParseTimeKey(f *testing.F) {
	f.Add(timeKey(t0, "a/b"))
	f.Add(timeKey(time.Unix(0, 0).Add(-time.Hour), "a/b"))
	f.Add(timePrefix + "garbage")
	f.Add(timePrefix + "-0000000000000000001/0123456789abcdef0123456789abcdef")
	f.Add(timePrefix + "+0000000000000000001/0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, key string) {
		at, h, ok := parseTimeKey(key)
		if !ok {
			return
		}
		if again := fmt.Sprintf("%s%020d/%s", timePrefix, at.UnixNano(), h); again != key || at.UnixNano() < 0 {
			t.Fatalf("parseTimeKey(%q) = %v, %q: re-encodes as %q", key, at, h, again)
		}
	})
}
