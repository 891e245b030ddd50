package database

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql://{{username}}:{{password}}@127.0.0.1:5432/db": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/db",
		"postgresql://admin:adminpw@127.0.0.1:5432/db":             "postgresql://admin:*****@127.0.0.1:5432/db",
		"postgres://admin:p%40ss@h/db?sslmode=disable":             "postgres://admin:*****@h/db?sslmode=disable",
		"host=h user=admin password=secret dbname=db":              "host=h user=admin password=***** dbname=db",
		"host=h password='se cret' dbname=db":                      "host=h password=***** dbname=db",
		"host=h password={{password}} dbname=db":                   "host=h password={{password}} dbname=db",
		"postgresql://h/db":                                        "postgresql://h/db",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
