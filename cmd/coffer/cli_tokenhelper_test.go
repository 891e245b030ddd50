package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenFileStore(t *testing.T) {
	tests := []struct {
		name     string
		existing string      // content of a file already there; "" for none
		mode     os.FileMode // its mode
	}{
		{name: "new file"},
		{name: "replace 0600 file", existing: "old-token", mode: 0o600},
		{name: "tighten world-readable file", existing: "old-token", mode: 0o644},
		{name: "tighten group-writable file", existing: "old-token\n", mode: 0o660},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			tf := newTokenFile(home)
			p := filepath.Join(home, ".vault-token")
			if tt.existing != "" {
				if err := os.WriteFile(p, []byte(tt.existing), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tt.mode); err != nil { // past the umask
					t.Fatal(err)
				}
				if got, err := tf.Get(); err != nil || got != strings.TrimSpace(tt.existing) {
					t.Fatalf("Get before Store = %q, %v", got, err)
				}
			}
			if err := tf.Store("new-token"); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
			}
			b, err := os.ReadFile(p)
			if err != nil || string(b) != "new-token" {
				t.Fatalf("content = %q, %v", b, err)
			}
			if got, err := tf.Get(); err != nil || got != "new-token" {
				t.Fatalf("Get = %q, %v", got, err)
			}
			entries, err := os.ReadDir(home)
			if err != nil || len(entries) != 1 {
				t.Fatalf("home holds %v (%v), want only the token file", entries, err)
			}
		})
	}
}

func TestTokenFileEmpty(t *testing.T) {
	if got, err := newTokenFile(t.TempDir()).Get(); err != nil || got != "" {
		t.Fatalf("Get with no file = %q, %v", got, err)
	}
	none := newTokenFile("")
	if got, err := none.Get(); err != nil || got != "" {
		t.Fatalf("Get with no home = %q, %v", got, err)
	}
	if err := none.Store("x"); !errors.Is(err, errNoHome) {
		t.Fatalf("Store with no home = %v", err)
	}
	if err := newTokenFile(filepath.Join(t.TempDir(), "missing")).Store("x"); err == nil {
		t.Fatal("Store into a missing directory succeeded")
	}
}

// TestTokenPrecedence checks which token commands send: COFFER_TOKEN, then
// VAULT_TOKEN, then the token helper file.
func TestTokenPrecedence(t *testing.T) {
	a := mustAuthFake(t)
	if err := newTokenFile(os.Getenv("HOME")).Store("file-token"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		coffer, vault string
		want          string
	}{
		{name: "helper file", want: "file-token"},
		{name: "VAULT_TOKEN over file", vault: "vault-token", want: "vault-token"},
		{name: "COFFER_TOKEN over both", coffer: "coffer-token", vault: "vault-token", want: "coffer-token"},
		{name: "blank VAULT_TOKEN ignored", vault: "  ", want: "file-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("COFFER_TOKEN", tt.coffer)
			t.Setenv("VAULT_TOKEN", tt.vault)
			a.runCLI(t, "", "token", "lookup")
			if got := a.last(t).Token; got != tt.want {
				t.Fatalf("token sent = %q, want %q", got, tt.want)
			}
		})
	}
}
