package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"coffer/seal/pkcs11/softhsmtest"
)

// hsmSealMarker separates a node's base config from its seal stanza, so a
// test can swap the stanza between restarts (setSealStanza).
const hsmSealMarker = "\n# --- seal stanza (hsm tests) ---\n"

// hsmKeyLabel is the wrapping key's label, as an operator would name it.
const hsmKeyLabel = "coffer-root"

// hsmActiveLimit bounds every wait for a node to auto-unseal.
const hsmActiveLimit = 15 * time.Second

// hsmSeal describes a `seal "pkcs11"` stanza for a test token.
type hsmSeal struct {
	tok         *softhsmtest.Token
	pin         string // "" means tok.PIN
	tokenLabel  string // "" means tok.Label
	keyLabel    string // "" means hsmKeyLabel
	mechanism   string // "" means the default (CKM_AES_GCM)
	generateKey bool
	disabled    bool
}

// hcl renders the stanza.
func (s hsmSeal) hcl() string {
	pin, tokenLabel, keyLabel := s.pin, s.tokenLabel, s.keyLabel
	if pin == "" {
		pin = s.tok.PIN
	}
	if tokenLabel == "" {
		tokenLabel = s.tok.Label
	}
	if keyLabel == "" {
		keyLabel = hsmKeyLabel
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seal \"pkcs11\" {\n  lib         = %q\n  token_label = %q\n  pin         = %q\n  key_label   = %q\n",
		s.tok.Lib, tokenLabel, pin, keyLabel)
	if s.mechanism != "" {
		fmt.Fprintf(&b, "  mechanism   = %q\n", s.mechanism)
	}
	if s.generateKey {
		b.WriteString("  generate_key = \"true\"\n")
	}
	if s.disabled {
		b.WriteString("  disabled    = \"true\"\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// hsmEnvKeys are the settings the server also reads from COFFER_HSM_* and
// VAULT_HSM_*; the tests blank them so the developer's shell cannot
// override a stanza.
var hsmEnvKeys = []string{"LIB", "SLOT", "TOKEN_LABEL", "PIN", "KEY_LABEL", "KEY_ID", "MECHANISM", "GENERATE_KEY"}

// mustHSMToken makes a private SoftHSM2 token and points this test
// process's environment at it: Node.start leaves exec.Cmd.Env nil, so the
// server inherits SOFTHSM2_CONF. It skips the test when SoftHSM2 is
// missing (fails under COFFER_REQUIRE_HSM).
func mustHSMToken(t *testing.T) *softhsmtest.Token {
	t.Helper()
	tok := softhsmtest.New(t, "coffer-it")
	t.Setenv("SOFTHSM2_CONF", tok.ConfPath)
	for _, k := range hsmEnvKeys {
		t.Setenv("COFFER_HSM_"+k, "")
		t.Setenv("VAULT_HSM_"+k, "")
	}
	return tok
}

// mustStartHSMNode starts a fresh node whose config carries stanza (which
// may be empty: a Shamir node that can get a seal stanza later).
func mustStartHSMNode(t *testing.T, stanza string) *Node {
	t.Helper()
	return mustStartNodeWith(t, hsmSealMarker+stanza)
}

// setSealStanza replaces the seal stanza in n's config; it takes effect at
// the next start.
func setSealStanza(t *testing.T, n *Node, stanza string) {
	t.Helper()
	raw, err := os.ReadFile(n.Config)
	if err != nil {
		t.Fatalf("read config: %v", err)
	}
	base, _, ok := strings.Cut(string(raw), hsmSealMarker)
	if !ok {
		t.Fatalf("config %s has no seal marker", n.Config)
	}
	if err := os.WriteFile(n.Config, []byte(base+hsmSealMarker+stanza), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
}

// hsmKill SIGKILLs n's process and waits until it is gone.
func hsmKill(n *Node) {
	if n.stopped || n.cmd == nil {
		return
	}
	n.stopped = true
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// hsmStart starts n's process on its config and returns the time it was
// started; it returns once the API answers (any status).
func hsmStart(n *Node) time.Time {
	n.t.Helper()
	started := time.Now()
	n.start("server", "-config", n.Config)
	return started
}

// waitActive waits until sys/health answers 200 and returns the time
// since since. On timeout it fails with the seal status and the log.
func waitActive(t *testing.T, n *Node, since time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(hsmActiveLimit)
	for {
		code, err := healthCode(n.Addr, "")
		if err == nil && code == http.StatusOK {
			return time.Since(since)
		}
		select {
		case <-n.exited:
			t.Fatalf("coffer exited while waiting to be active:\n%s", n.Log())
		default:
		}
		if time.Now().After(deadline) {
			_, body := rawRequest(t, http.MethodGet, "http://"+n.Addr+"/v1/sys/seal-status", "", "", "")
			t.Fatalf("not active after %s (last health %d, %v); seal-status %s\nlog:\n%s", hsmActiveLimit, code, err, body, n.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hsmSealStatus is sys/seal-status with Coffer's seal_error.
type hsmSealStatus struct {
	vault.SealStatusResponse
	SealError string `json:"seal_error"`
}

// mustSealStatus reads sys/seal-status raw, returning it decoded and the
// body as sent.
func mustSealStatus(t *testing.T, n *Node) (hsmSealStatus, string) {
	t.Helper()
	code, body := rawRequest(t, http.MethodGet, "http://"+n.Addr+"/v1/sys/seal-status", "", "", "")
	if code != http.StatusOK {
		t.Fatalf("seal-status: %d %s", code, body)
	}
	var st hsmSealStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("seal-status: %v: %s", err, body)
	}
	return st, body
}

// mustHealth returns sys/health's status code.
func mustHealth(t *testing.T, n *Node) int {
	t.Helper()
	code, err := healthCode(n.Addr, "")
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	return code
}

// mustInitRecovery initialises an HSM node with recovery shares/threshold
// through the raw API, checks the response's shape (empty unseal key
// lists, recovery keys in hex and base64) and returns it.
func mustInitRecovery(t *testing.T, n *Node, shares, threshold int) *vault.InitResponse {
	t.Helper()
	code, body := rawRequest(t, http.MethodPut, "http://"+n.Addr+"/v1/sys/init", "", "application/json",
		fmt.Sprintf(`{"recovery_shares":%d,"recovery_threshold":%d}`, shares, threshold))
	if code != http.StatusOK {
		t.Fatalf("init: %d %s\nlog:\n%s", code, body, n.Log())
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &shape); err != nil {
		t.Fatalf("init: %v", err)
	}
	for _, f := range []string{"keys", "keys_base64"} {
		if got := string(shape[f]); got != "[]" {
			t.Errorf("init: %s = %s, want []", f, got)
		}
	}
	var res vault.InitResponse
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("init: %v", err)
	}
	if len(res.RecoveryKeys) != shares || len(res.RecoveryKeysB64) != shares || res.RootToken == "" {
		t.Fatalf("init: %d recovery keys, %d base64 recovery keys, root token set %v; want %d",
			len(res.RecoveryKeys), len(res.RecoveryKeysB64), res.RootToken != "", shares)
	}
	return &res
}

// mustPutSecret mounts KV v2 at secret/ (when mount) and writes
// secret/<path> = {"password": value}.
func mustPutSecret(t *testing.T, c *vault.Client, mount bool, path, value string) {
	t.Helper()
	if mount {
		if err := c.Sys().MountWithContext(t.Context(), "secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			t.Fatalf("mount kv v2: %v", err)
		}
	}
	if _, err := c.KVv2("secret").Put(t.Context(), path, map[string]any{"password": value}); err != nil {
		t.Fatalf("put secret/%s: %v", path, err)
	}
}

// mustSecretIs checks that secret/<path> holds value.
func mustSecretIs(t *testing.T, c *vault.Client, path, value string) {
	t.Helper()
	got, err := readPassword(t.Context(), c, path)
	if err != nil || got != value {
		t.Fatalf("secret/%s: got %q, %v; want the value written", path, got, err)
	}
}

// mustNoPlaintext scans n's data directory (n must be stopped) for the
// secrets raw, hex and base64, and for the PINs.
func mustNoPlaintext(t *testing.T, n *Node, secrets []string, b64Keys []string, pins ...string) {
	t.Helper()
	var raw [][]byte
	for _, s := range append(secrets, pins...) {
		raw = append(raw, []byte(s))
	}
	for _, k := range b64Keys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			t.Fatalf("decode key: %v", err)
		}
		raw = append(raw, b)
	}
	if scanned := scanForPlaintext(t, []string{n.Dir}, raw); scanned == 0 {
		t.Fatal("scanned nothing: the data directory is empty")
	} else {
		t.Logf("scanned %d bytes in %s for %d secrets", scanned, n.Dir, len(raw))
	}
}

// TestHSMAutoUnseal: with the key made beforehand, init returns recovery
// keys and the node is active at once; after SIGKILL it unseals by itself
// with the data intact, and recovery keys never unseal it.
func TestHSMAutoUnseal(t *testing.T) {
	tok := mustHSMToken(t)
	tok.KeygenAES(t, hsmKeyLabel)
	n := mustStartHSMNode(t, hsmSeal{tok: tok}.hcl())
	anon := n.Client("")

	if code := mustHealth(t, n); code != http.StatusNotImplemented {
		t.Fatalf("health before init: %d, want 501", code)
	}
	if _, err := anon.Sys().InitWithContext(t.Context(), &vault.InitRequest{SecretShares: 3, SecretThreshold: 2}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("init with secret_shares on an HSM node: want 400, got %v", err)
	}
	init := mustInitRecovery(t, n, 3, 2)
	if code := mustHealth(t, n); code != http.StatusOK {
		t.Fatalf("health right after init: %d, want 200\nlog:\n%s", code, n.Log())
	}
	checkHSMStatus := func(when string) {
		t.Helper()
		st, _ := mustSealStatus(t, n)
		if st.Type != "pkcs11" || !st.RecoverySeal || st.T != 2 || st.N != 3 || st.Sealed || !st.Initialized || st.Migration {
			t.Fatalf("seal-status %s: %+v", when, st)
		}
	}
	checkHSMStatus("after init")

	const canary = "CANARY-hsm-3e91d7-password"
	root := n.Client(init.RootToken)
	mustPutSecret(t, root, true, "app/db", canary)

	hsmKill(n)
	took := waitActive(t, n, hsmStart(n))
	t.Logf("auto-unseal after SIGKILL: %s from process start to sys/health 200", took.Round(time.Millisecond))
	for _, l := range strings.Split(n.Log(), "\n") {
		if strings.Contains(l, "auto-unsealed") {
			t.Logf("server: %s", l)
		}
	}
	mustSecretIs(t, root, "app/db", canary)
	checkHSMStatus("after restart")

	// Recovery keys are not unseal keys: seal by hand, then try one.
	if err := root.Sys().SealWithContext(t.Context()); err != nil {
		t.Fatalf("seal: %v", err)
	}
	for _, k := range []string{init.RecoveryKeysB64[0], init.RecoveryKeys[1]} {
		if _, err := anon.Sys().UnsealWithContext(t.Context(), k); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("sys/unseal with a recovery key: want 400, got %v", err)
		}
	}
	if code := mustHealth(t, n); code != http.StatusServiceUnavailable {
		t.Fatalf("health after sys/seal and a recovery key: %d, want 503", code)
	}

	// A clean restart unseals it again.
	n.Stop()
	waitActive(t, n, hsmStart(n))
	mustSecretIs(t, root, "app/db", canary)

	n.Stop()
	mustNoPlaintext(t, n, []string{canary, init.RootToken}, init.RecoveryKeysB64, tok.PIN, tok.SOPIN)
}

// TestHSMGenerateKey: with generate_key and no key in the token, init
// creates the key and a restart finds the same one.
func TestHSMGenerateKey(t *testing.T) {
	tok := mustHSMToken(t)
	n := mustStartHSMNode(t, hsmSeal{tok: tok, generateKey: true}.hcl())
	init := mustInitRecovery(t, n, 3, 2)
	if code := mustHealth(t, n); code != http.StatusOK {
		t.Fatalf("health right after init: %d, want 200\nlog:\n%s", code, n.Log())
	}
	const canary = "CANARY-hsm-genkey-5a0c"
	root := n.Client(init.RootToken)
	mustPutSecret(t, root, true, "gen", canary)

	hsmKill(n)
	took := waitActive(t, n, hsmStart(n))
	t.Logf("auto-unseal with a generated key: %s", took.Round(time.Millisecond))
	mustSecretIs(t, root, "gen", canary)
	if st, _ := mustSealStatus(t, n); st.Type != "pkcs11" || !st.RecoverySeal || st.Sealed {
		t.Fatalf("seal-status after restart: %+v", st)
	}
}

// TestHSMRSAOAEP: the RSA-OAEP mechanism with a key pair made beforehand.
func TestHSMRSAOAEP(t *testing.T) {
	tok := mustHSMToken(t)
	tok.KeygenRSA(t, hsmKeyLabel)
	n := mustStartHSMNode(t, hsmSeal{tok: tok, mechanism: "CKM_RSA_PKCS_OAEP"}.hcl())
	init := mustInitRecovery(t, n, 3, 2)
	if code := mustHealth(t, n); code != http.StatusOK {
		t.Fatalf("health right after init: %d, want 200\nlog:\n%s", code, n.Log())
	}
	const canary = "CANARY-hsm-rsa-77b2"
	root := n.Client(init.RootToken)
	mustPutSecret(t, root, true, "rsa", canary)

	hsmKill(n)
	waitActive(t, n, hsmStart(n))
	mustSecretIs(t, root, "rsa", canary)
}

// hsmWrongPINWatch is how long the wrong-PIN node is watched: long enough
// for the auto-unseal loop to retry a few times (its backoff starts at
// 0.5 s and doubles).
const hsmWrongPINWatch = 3500 * time.Millisecond

// TestHSMWrongPIN: a node started with a wrong PIN never serves, says why
// in seal-status and once in its log, never shows a PIN, and keeps
// running; with the right PIN back it unseals.
func TestHSMWrongPIN(t *testing.T) {
	tok := mustHSMToken(t)
	tok.KeygenAES(t, hsmKeyLabel)
	n := mustStartHSMNode(t, hsmSeal{tok: tok}.hcl())
	init := mustInitRecovery(t, n, 3, 2)
	const canary = "CANARY-hsm-pin-c4e1"
	root := n.Client(init.RootToken)
	mustPutSecret(t, root, true, "pin", canary)
	n.Stop()

	const wrongPIN = "wrong-pin-93f0a6d1"
	setSealStanza(t, n, hsmSeal{tok: tok, pin: wrongPIN}.hcl())
	logStart := len(n.Log())
	hsmStart(n)

	var st hsmSealStatus
	var body string
	deadline := time.Now().Add(hsmWrongPINWatch)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			t.Fatalf("coffer exited with a wrong PIN (it must stay up, sealed):\n%s", n.Log())
		default:
		}
		code, err := healthCode(n.Addr, "")
		if err != nil || code != http.StatusServiceUnavailable {
			t.Fatalf("health with a wrong PIN: %d %v, want 503", code, err)
		}
		st, body = mustSealStatus(t, n)
		if !st.Sealed || !st.Initialized {
			t.Fatalf("seal-status with a wrong PIN: %s", body)
		}
		if _, err := root.KVv2("secret").Get(t.Context(), "pin"); statusOf(err) != http.StatusServiceUnavailable {
			t.Fatalf("read with a wrong PIN: want 503, got %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(strings.ToUpper(st.SealError), "PIN") {
		t.Fatalf("seal_error does not name the PIN problem: %s", body)
	}
	log := n.Log()[logStart:]
	for what, pin := range map[string]string{"wrong": wrongPIN, "right": tok.PIN, "SO": tok.SOPIN} {
		if strings.Contains(log, pin) || strings.Contains(body, pin) {
			t.Errorf("the %s PIN appears in the log or in seal-status", what)
		}
	}
	// The log line carries seal_error, quoted by the log handler: match
	// the part before any quote.
	sig, _, _ := strings.Cut(st.SealError, `"`)
	if sig = strings.TrimSpace(sig); len(sig) < 8 {
		sig = "PIN"
	}
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, sig) {
			lines = append(lines, l)
		}
	}
	t.Logf("seal_error with a wrong PIN: %s", st.SealError)
	if len(lines) != 1 {
		t.Errorf("want exactly one log line for the PIN error (matching %q) in %s, got %d:\n%s",
			sig, hsmWrongPINWatch, len(lines), strings.Join(lines, "\n"))
	}

	// Back to the right PIN: it unseals by itself.
	n.Stop()
	setSealStanza(t, n, hsmSeal{tok: tok}.hcl())
	waitActive(t, n, hsmStart(n))
	mustSecretIs(t, root, "pin", canary)
}

// TestHSMSealUnavailable: a missing key or token keeps the node sealed,
// with seal_error naming which, and the node unseals by itself once the
// config names the right ones again.
func TestHSMSealUnavailable(t *testing.T) {
	tok := mustHSMToken(t)
	tok.KeygenAES(t, hsmKeyLabel)
	n := mustStartHSMNode(t, hsmSeal{tok: tok}.hcl())
	init := mustInitRecovery(t, n, 3, 2)
	const canary = "CANARY-hsm-missing-0b6d"
	root := n.Client(init.RootToken)
	mustPutSecret(t, root, true, "missing", canary)

	for _, tc := range []struct {
		name string
		seal hsmSeal
		want string // in seal_error, case-insensitive
	}{
		{"missing key", hsmSeal{tok: tok, keyLabel: "no-such-key"}, "key not found"},
		{"missing token", hsmSeal{tok: tok, tokenLabel: "no-such-token"}, "token not found"},
	} {
		n.Stop()
		setSealStanza(t, n, tc.seal.hcl())
		hsmStart(n)
		var st hsmSealStatus
		var body string
		waitFor(t, 5*time.Second, tc.name+": seal_error in seal-status", func() bool {
			st, body = mustSealStatus(t, n)
			return st.SealError != ""
		})
		if !st.Sealed || !strings.Contains(strings.ToLower(st.SealError), tc.want) {
			t.Errorf("%s: seal-status %s, want sealed and seal_error containing %q", tc.name, body, tc.want)
		}
		if code := mustHealth(t, n); code != http.StatusServiceUnavailable {
			t.Errorf("%s: health %d, want 503", tc.name, code)
		}
		if strings.Contains(n.Log(), tok.PIN) || strings.Contains(body, tok.PIN) {
			t.Errorf("%s: the PIN appears in the log or in seal-status", tc.name)
		}
	}

	n.Stop()
	setSealStanza(t, n, hsmSeal{tok: tok}.hcl())
	waitActive(t, n, hsmStart(n))
	mustSecretIs(t, root, "missing", canary)
}
