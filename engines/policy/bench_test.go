package policy

import (
	"context"
	"testing"
)

// benchPolicies is a realistic 20-rule set over three policies.
var benchPolicies = []string{
	`path "secret/data/app/*" { capabilities = ["create", "read", "update", "patch", "delete"] }
path "secret/metadata/app/*" { capabilities = ["list", "read"] }
path "secret/data/app/prod/*" { capabilities = ["read"] }
path "secret/data/shared/config" { capabilities = ["read"] }
path "secret/data/+/team" { capabilities = ["read"] }
path "database/creds/app-ro" { capabilities = ["read"] }
path "database/creds/app-rw" { capabilities = ["read"] }
path "transit/encrypt/app" { capabilities = ["update"] }
path "transit/decrypt/app" { capabilities = ["update"] }`,
	`path "pki/issue/app" {
  capabilities = ["update"]
  allowed_parameters = { "common_name" = ["*.app.example.com"] "ttl" = [] "name" = [] }
}
path "auth/approle/role/+/secret-id" { capabilities = ["update"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
path "secret/data/restricted/*" { capabilities = ["deny"] }
path "kv/+/+/config*" { capabilities = ["read", "list"] }`,
	`path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "cubbyhole/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "sys/mounts/*" { capabilities = ["read", "sudo"] }`,
}

func benchACL(tb testing.TB) *ACL { return mustACL(tb, benchPolicies...) }

var benchRequests = []struct {
	name, path, op string
}{
	{"exact", "database/creds/app-ro", "read"},
	{"glob", "secret/data/app/prod/db", "read"},
	{"segment", "auth/approle/role/web/secret-id", "update"},
	{"segment-glob", "kv/a/b/config/x", "read"},
	{"list", "secret/metadata/app/", "list"},
	{"params", "pki/issue/app", "update"},
	{"deny", "secret/data/restricted/x", "read"},
	{"miss", "unknown/mount/path", "read"},
}

func BenchmarkAllowed(b *testing.B) {
	a := benchACL(b)
	data := map[string]any{"common_name": "api.app.example.com", "ttl": "1h"}
	for _, r := range benchRequests {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Allowed(r.path, r.op, data)
			}
		})
	}
}

func BenchmarkAllowedParallel(b *testing.B) {
	a := benchACL(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.Allowed("secret/data/app/prod/db", "read", nil)
		}
	})
}

func BenchmarkNewACL(b *testing.B) {
	ps := make([]*Policy, len(benchPolicies))
	for i, t := range benchPolicies {
		ps[i] = mustParse(b, "p", t)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewACL(ps...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheACL(b *testing.B) {
	s := &fakeStore{texts: map[string]string{"app": benchPolicies[0], "pki": benchPolicies[1], "default": benchPolicies[2]}}
	c := NewCache(s.load, 100)
	ctx := context.Background()
	names := []string{"default", "app", "pki"}
	mustCacheACL(b, c, names...)
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.ACL(ctx, names); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.ACL(ctx, names); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Invalidate("app")
			if _, err := c.ACL(ctx, names); err != nil {
				b.Fatal(err)
			}
		}
	})
}
