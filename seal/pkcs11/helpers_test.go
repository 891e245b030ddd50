package pkcs11

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"coffer/seal"
	"coffer/seal/pkcs11/softhsmtest"
)

// mustToken makes a private SoftHSM2 token and points this process at its
// token directory. Tests using it cannot run in parallel (t.Setenv).
func mustToken(t *testing.T, label string) *softhsmtest.Token {
	t.Helper()
	tok := softhsmtest.New(t, label)
	t.Setenv("SOFTHSM2_CONF", tok.ConfPath)
	return tok
}

// configFor is a Config for key in tok with mech.
func configFor(tok *softhsmtest.Token, key, mech string) Config {
	return Config{Lib: tok.Lib, TokenLabel: tok.Label, PIN: tok.PIN, KeyLabel: key, Mechanism: mech}
}

// logBuffer collects a Seal's log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustOpen opens a Seal for cfg, closed when the test ends.
func mustOpen(tb testing.TB, cfg Config) *Seal {
	tb.Helper()
	s, err := Open(tb.Context(), cfg, nil)
	if err != nil {
		tb.Fatalf("Open(%v): %v", cfg, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// mustRoundTrip wraps and unwraps a 32-byte key through s at path.
func mustRoundTrip(tb testing.TB, s seal.Wrapper, path string) {
	tb.Helper()
	want := bytes.Repeat([]byte{7}, 32)
	blob, err := s.Wrap(tb.Context(), path, want)
	if err != nil {
		tb.Fatalf("Wrap: %v", err)
	}
	got, err := s.Unwrap(tb.Context(), path, blob)
	if err != nil {
		tb.Fatalf("Unwrap: %v", err)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("Unwrap = %x, want %x", got, want)
	}
}

// sentinels are the errors Open classifies failures into.
var sentinels = []error{ErrConfig, ErrLibrary, ErrToken, ErrPIN, ErrKeyNotFound, ErrMechanism, ErrHSM}

// matching returns the sentinels err wraps.
func matching(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

// blobKey returns the key label and mechanism a blob records.
func blobKey(tb testing.TB, blob []byte) (string, wrapMech) {
	tb.Helper()
	r, _, err := parseRecord(blob)
	if err != nil {
		tb.Fatalf("parseRecord: %v", err)
	}
	return string(r.label), r.mech
}
