package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenFileName is the file Vault's default token helper keeps the token in,
// in the user's home directory. Coffer shares it, so `coffer login` and
// `vault login` leave the token where both CLIs find it.
const tokenFileName = ".vault-token"

// tokenFileMode is the only mode the token file is ever left with.
const tokenFileMode fs.FileMode = 0o600

// errNoHome is returned when there is no home directory to keep the token in.
var errNoHome = errors.New("token helper: no home directory")

// tokenFile is Vault's default token helper: the CLI token kept in one file
// readable only by its owner. The zero value (no path) stores nothing and
// finds nothing.
type tokenFile struct {
	path string
}

// newTokenFile is the token helper for the user whose home directory is home.
func newTokenFile(home string) tokenFile {
	if home == "" {
		return tokenFile{}
	}
	return tokenFile{path: filepath.Join(home, tokenFileName)}
}

// Get returns the stored token, or "" if none is stored.
func (t tokenFile) Get() (string, error) {
	if t.path == "" {
		return "", nil
	}
	b, err := os.ReadFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	clear(b)
	return tok, nil
}

// Store replaces the stored token. The token is written to a new file in
// the same directory, created 0600, and renamed over the old one, so a
// reader never sees half a token and a file that was left with a wider mode
// (or owned by someone else) is replaced rather than written through.
func (t tokenFile) Store(token string) error {
	if t.path == "" {
		return errNoHome
	}
	tmp, err := os.CreateTemp(filepath.Dir(t.path), tokenFileName+".tmp*")
	if err != nil {
		return fmt.Errorf("create token file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	// CreateTemp already uses 0600; the chmod states the invariant and
	// guards against platforms where it does not.
	if err := tmp.Chmod(tokenFileMode); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod token file: %w", err)
	}
	if _, err := tmp.WriteString(token); err != nil {
		tmp.Close()
		return fmt.Errorf("write token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), t.path); err != nil {
		return fmt.Errorf("replace token file: %w", err)
	}
	return nil
}
