// Package softhsmtest makes private SoftHSM2 tokens for tests.
package softhsmtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing SoftHSM2 or
// OpenSC from a skipped test into a failed one (CI sets it to 1).
const RequireEnv = "COFFER_REQUIRE_HSM"

// LibEnv overrides where the SoftHSM2 PKCS#11 module is looked for.
const LibEnv = "COFFER_SOFTHSM_LIB"

// libCandidates are where distributions install the SoftHSM2 module.
var libCandidates = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/lib/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// cmdTimeout bounds each softhsm2-util and pkcs11-tool run.
const cmdTimeout = 60 * time.Second

// Token is an initialised SoftHSM2 token in a test's temporary directory.
// Every process that uses it needs SOFTHSM2_CONF=ConfPath in its
// environment (t.Setenv in the test process, Env for a child), set before
// the PKCS#11 library is initialised: SoftHSM2 reads it once.
type Token struct {
	Lib      string // the SoftHSM2 PKCS#11 module
	Label    string // the token label
	PIN      string // the user PIN (random per token)
	SOPIN    string // the security officer PIN (random per token)
	ConfPath string // the softhsm2.conf naming Dir's token directory
	Dir      string // the temporary directory holding the conf and tokens
	Slot     uint   // the slot SoftHSM2 assigned the token
}

// New initialises a token labelled label in a fresh temporary directory.
// It never touches the system token directory. It skips tb when SoftHSM2
// is not installed, or fails it when COFFER_REQUIRE_HSM is set.
func New(tb testing.TB, label string) *Token {
	tb.Helper()
	lib := findLib()
	util, err := exec.LookPath("softhsm2-util")
	if lib == "" || err != nil {
		missing(tb, "softhsm2 (softhsm2-util and libsofthsm2.so)", "softhsm2")
	}
	dir := tb.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		tb.Fatalf("softhsmtest: token dir: %v", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatalf("softhsmtest: conf: %v", err)
	}
	t := &Token{Lib: lib, ConfPath: conf, Dir: dir}
	return t.initToken(tb, util, label)
}

// Another initialises a second token labelled label in t's token
// directory, so one process (one SOFTHSM2_CONF) sees both.
func (t *Token) Another(tb testing.TB, label string) *Token {
	tb.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		missing(tb, "softhsm2-util", "softhsm2")
	}
	o := &Token{Lib: t.Lib, ConfPath: t.ConfPath, Dir: t.Dir}
	return o.initToken(tb, util, label)
}

// slotRE finds the slot in softhsm2-util's "reassigned to slot N".
var slotRE = regexp.MustCompile(`reassigned to slot (\d+)`)

// initToken runs softhsm2-util --init-token for label with fresh PINs.
func (t *Token) initToken(tb testing.TB, util, label string) *Token {
	tb.Helper()
	t.Label, t.PIN, t.SOPIN = label, randomPIN(), randomPIN()
	out := t.run(tb, util, "--init-token", "--free", "--label", label, "--pin", t.PIN, "--so-pin", t.SOPIN)
	m := slotRE.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("softhsmtest: init token %q: no slot in output: %s", label, out)
	}
	slot, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		tb.Fatalf("softhsmtest: init token %q: slot %q: %v", label, m[1], err)
	}
	t.Slot = uint(slot)
	return t
}

// KeygenAES makes an AES-256 key labelled label in the token with
// pkcs11-tool, as an operator would before first start.
func (t *Token) KeygenAES(tb testing.TB, label string) {
	tb.Helper()
	t.pkcs11Tool(tb, "--keygen", "--key-type", "AES:32", "--label", label)
}

// KeygenRSA makes an RSA-3072 key pair labelled label with pkcs11-tool.
func (t *Token) KeygenRSA(tb testing.TB, label string) {
	tb.Helper()
	t.pkcs11Tool(tb, "--keypairgen", "--key-type", "rsa:3072", "--label", label)
}

// pkcs11Tool runs pkcs11-tool logged in to t with args.
func (t *Token) pkcs11Tool(tb testing.TB, args ...string) {
	tb.Helper()
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		missing(tb, "pkcs11-tool", "opensc")
	}
	base := []string{"--module", t.Lib, "--slot", strconv.FormatUint(uint64(t.Slot), 10), "--login", "--pin", t.PIN}
	t.run(tb, tool, append(base, args...)...)
}

// Env is the environment entry a child process needs to see the token.
func (t *Token) Env() []string {
	return []string{"SOFTHSM2_CONF=" + t.ConfPath}
}

// run runs name with args and SOFTHSM2_CONF=ConfPath, failing tb on error.
// Output is reported with the PINs masked.
func (t *Token) run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(withoutConf(os.Environ()), t.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("softhsmtest: %s %s: %v: %s", filepath.Base(name), t.mask(strings.Join(args, " ")), err, t.mask(string(out)))
	}
	return string(out)
}

// mask hides t's PINs in s.
func (t *Token) mask(s string) string {
	for _, pin := range []string{t.PIN, t.SOPIN} {
		if pin != "" {
			s = strings.ReplaceAll(s, pin, "<pin>")
		}
	}
	return s
}

// withoutConf drops any SOFTHSM2_CONF from env.
func withoutConf(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SOFTHSM2_CONF=") {
			out = append(out, kv)
		}
	}
	return out
}

// findLib returns the SoftHSM2 module's path, or "" when absent.
func findLib() string {
	if p := os.Getenv(LibEnv); p != "" {
		return p
	}
	for _, p := range libCandidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// missing skips tb, or fails it under COFFER_REQUIRE_HSM.
func missing(tb testing.TB, what, pkg string) {
	tb.Helper()
	msg := fmt.Sprintf("softhsmtest: %s not installed (Debian package %s; scripts/install-deps installs it)", what, pkg)
	if os.Getenv(RequireEnv) != "" {
		tb.Fatalf("%s, and %s is set", msg, RequireEnv)
		return
	}
	tb.Skipf("%s; set %s=1 to fail instead of skipping", msg, RequireEnv)
}

// randomPIN returns 16 random hex digits.
func randomPIN() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
