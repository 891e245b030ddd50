package userpass

import (
	"testing"
)

// FuzzDecodeHash feeds arbitrary strings to the stored-hash decoder: it
// must never panic, must keep every parameter in bounds, and what it
// accepts must encode back to the same string.
func FuzzDecodeHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=2$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$2a$10$abcdefghijklmnopqrstuv")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decodeHash(s)
		if err != nil {
			return
		}
		if p.time < 1 || p.time > maxKDFTime || p.memory > maxKDFMemory || p.threads < 1 ||
			len(salt) < minSaltLen || len(salt) > maxSaltLen || len(key) < minKeyLen || len(key) > maxKeyLen {
			t.Fatalf("accepted out-of-bounds hash %q: %+v", s, p)
		}
		if again := encodeHash(p, salt, key); again != s {
			p2, salt2, key2, err := decodeHash(again)
			if err != nil || p2 != p || string(salt2) != string(salt) || string(key2) != string(key) {
				t.Fatalf("re-encoding %q gave %q", s, again)
			}
		}
	})
}
