package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"coffer/engines"
	"coffer/engines/enginestest"
)

func TestLoadResetAndRoot(t *testing.T) {
	ctx := context.Background()
	st := enginestest.NewStorage()
	s := New(Config{Storage: st})
	if _, err := s.CreateRoot(ctx, ""); !errors.Is(err, engines.ErrSealed) {
		t.Fatalf("create before load: %v", err)
	}
	if _, err := s.Lookup(ctx, "hvs.x"); !errors.Is(err, engines.ErrSealed) {
		t.Fatalf("lookup before load: %v", err)
	}
	if err := s.Load(ctx); err != nil {
		t.Fatalf("load: %v", err)
	}
	salt, _ := st.Get(ctx, saltKey)
	if len(salt) != saltBytes {
		t.Fatalf("salt: %d bytes", len(salt))
	}
	root, err := s.CreateRoot(ctx, "")
	if err != nil {
		t.Fatalf("create root: %v", err)
	}
	if !strings.HasPrefix(root, "hvs.") || len(root) < 4+32 {
		t.Fatalf("token shape: %d chars", len(root))
	}
	e, err := s.Lookup(ctx, root)
	if err != nil || e == nil {
		t.Fatalf("lookup root: %+v %v", e, err)
	}
	if !e.IsRoot() || e.TTL != 0 || !e.ExpireTime.IsZero() || !e.Orphan || e.ID != "" || len(e.Accessor) != accessorLength ||
		e.Path != "auth/token/root" || e.DisplayName != "root" || e.Type != "service" {
		t.Fatalf("root entry: %+v", e)
	}
	for _, bad := range []string{"", root + "x", root[:len(root)-1], "hvs.nope", strings.Repeat("a", 10000)} {
		if e, err := s.Lookup(ctx, bad); err != nil || e != nil {
			t.Fatalf("lookup of a wrong token: %+v %v", e, err)
		}
	}
	named, err := s.CreateRoot(ctx, "my-dev-root")
	if err != nil || named != "my-dev-root" {
		t.Fatalf("named root: %q %v", named, err)
	}
	if _, err := s.CreateRoot(ctx, "my-dev-root"); err == nil {
		t.Fatal("duplicate root id accepted")
	}

	// Seal: the salt is zeroed and forgotten.
	kr := s.keys
	s.Reset()
	if !bytes.Equal(kr.salt, make([]byte, saltBytes)) {
		t.Fatal("salt not zeroed on reset")
	}
	if _, err := s.Lookup(ctx, root); !errors.Is(err, engines.ErrSealed) {
		t.Fatalf("lookup after reset: %v", err)
	}
	// Unseal again, and a fresh store over the same storage (a restart).
	for _, s2 := range []*Store{s, New(Config{Storage: st})} {
		if err := s2.Load(ctx); err != nil {
			t.Fatalf("reload: %v", err)
		}
		for _, id := range []string{root, named} {
			if e, _ := s2.Lookup(ctx, id); e == nil || !e.IsRoot() {
				t.Fatal("token lost across reload")
			}
		}
	}
}

func TestLoadRejectsCorruptSalt(t *testing.T) {
	ctx := context.Background()
	st := enginestest.NewStorage()
	_ = st.Put(ctx, saltKey, []byte("short"))
	if err := New(Config{Storage: st}).Load(ctx); !errors.Is(err, errCorrupt) {
		t.Fatalf("load with a short salt: %v", err)
	}
}

// TestStorageHoldsNoTokenOrAccessor dumps every key and value and looks
// for each token ID and accessor, raw, hex and base64.
func TestStorageHoldsNoTokenOrAccessor(t *testing.T) {
	e := mustEnv(t)
	parent, pacc := e.mustCreate(e.root, "create", map[string]any{"policies": []any{"a"}, "meta": map[string]any{"k": "v"}})
	child, cacc := e.mustCreate(parent, "create", nil)
	orphan, oacc := e.mustCreate(e.root, "create-orphan", map[string]any{"num_uses": 3})
	rootAcc := e.mustLookup(e.root).Accessor
	e.mustDo(engines.UpdateOperation, "renew", e.root, map[string]any{"token": child})

	secrets := []string{e.root, parent, child, orphan, rootAcc, pacc, cacc, oacc}
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, strings.TrimPrefix(s, "hvs."))
		forms = append(forms, hex.EncodeToString([]byte(s)))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(s)))
		}
	}
	keys := e.storage.Keys()
	if len(keys) < 10 {
		t.Fatalf("suspiciously few keys: %v", keys)
	}
	for _, k := range keys {
		v, _ := e.storage.Get(e.ctx, k)
		for _, f := range forms {
			if strings.Contains(k, f) || bytes.Contains(v, []byte(f)) {
				t.Fatalf("storage key %s holds a token or accessor", k)
			}
		}
	}
}

func TestAccessorShape(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		a, err := newAccessor()
		if err != nil || len(a) != accessorLength || strings.Trim(a, base62Alphabet) != "" || seen[a] {
			t.Fatalf("accessor %q %v", a, err)
		}
		seen[a] = true
	}
}

func TestAddrAllowed(t *testing.T) {
	cases := []struct {
		cidrs  []string
		remote string
		want   bool
	}{
		{nil, "1.2.3.4:5", true},
		{[]string{"10.0.0.0/8"}, "10.1.2.3:80", true},
		{[]string{"10.0.0.0/8"}, "11.1.2.3:80", false},
		{[]string{"10.0.0.0/8"}, "[::ffff:10.0.0.1]:80", true},
		{[]string{"127.0.0.1/32"}, "127.0.0.1", true},
		{[]string{"::1/128"}, "[::1]:1", true},
		{[]string{"10.0.0.0/8"}, "garbage", false},
	}
	for _, c := range cases {
		if got := AddrAllowed(c.cidrs, c.remote); got != c.want {
			t.Errorf("AddrAllowed(%v, %q) = %v", c.cidrs, c.remote, got)
		}
	}
	if got, err := parseCIDRs([]string{"10.1.2.3/8", " 127.0.0.1 ", ""}); err != nil || strings.Join(got, ",") != "10.0.0.0/8,127.0.0.1/32" {
		t.Fatalf("parseCIDRs: %v %v", got, err)
	}
	if _, err := parseCIDRs([]string{"nope"}); err == nil {
		t.Fatal("bad CIDR accepted")
	}
}
