package softhsmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tok := New(t, "first")
	second := tok.Another(t, "second")
	tok.KeygenAES(t, "aes")
	second.KeygenRSA(t, "rsa")

	if tok.Slot == second.Slot || tok.PIN == second.PIN || tok.PIN == tok.SOPIN {
		t.Fatalf("tokens share a slot or PIN: %+v %+v", tok, second)
	}
	if second.ConfPath != tok.ConfPath || !strings.HasPrefix(tok.ConfPath, tok.Dir) {
		t.Fatalf("conf %q, second's %q, dir %q", tok.ConfPath, second.ConfPath, tok.Dir)
	}
	conf, err := os.ReadFile(tok.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := "directories.tokendir = " + filepath.Join(tok.Dir, "tokens"); !strings.Contains(string(conf), want) {
		t.Fatalf("conf does not name the private token dir:\n%s", conf)
	}
	entries, err := os.ReadDir(filepath.Join(tok.Dir, "tokens"))
	if err != nil || len(entries) != 2 {
		t.Fatalf("token dir holds %d entries (%v), want 2 tokens", len(entries), err)
	}
	if env := tok.Env(); len(env) != 1 || env[0] != "SOFTHSM2_CONF="+tok.ConfPath {
		t.Fatalf("Env = %q", env)
	}
}

func TestMask(t *testing.T) {
	tok := &Token{PIN: "1234abcd", SOPIN: "99998888"}
	got := tok.mask("--pin 1234abcd --so-pin 99998888")
	if strings.Contains(got, "1234abcd") || strings.Contains(got, "99998888") {
		t.Fatalf("mask left a PIN: %q", got)
	}
}

func TestWithoutConf(t *testing.T) {
	got := withoutConf([]string{"A=1", "SOFTHSM2_CONF=/etc/softhsm2.conf", "B=2"})
	if strings.Join(got, ",") != "A=1,B=2" {
		t.Fatalf("withoutConf = %q", got)
	}
}

// recordingTB records Skipf and Fatalf instead of stopping the test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                       {}
func (r *recordingTB) Skipf(format string, a ...any) { r.skipped = fmt.Sprintf(format, a...) }
func (r *recordingTB) Fatalf(format string, a ...any) {
	r.failed = fmt.Sprintf(format, a...)
}

func TestMissingSkipsOrFails(t *testing.T) {
	tests := []struct {
		require  string
		wantSkip bool
	}{{"", true}, {"1", false}}
	for _, tt := range tests {
		t.Run("require="+tt.require, func(t *testing.T) {
			t.Setenv(RequireEnv, tt.require)
			r := &recordingTB{TB: t}
			missing(r, "softhsm2", "softhsm2")
			if got := r.skipped != ""; got != tt.wantSkip || (r.failed != "") == tt.wantSkip {
				t.Fatalf("skipped %q, failed %q; want skip %t", r.skipped, r.failed, tt.wantSkip)
			}
			if msg := r.skipped + r.failed; !strings.Contains(msg, "softhsm2") || !strings.Contains(msg, RequireEnv) {
				t.Fatalf("message %q names neither the package nor %s", msg, RequireEnv)
			}
		})
	}
}
