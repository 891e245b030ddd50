package integration

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// mustCLIJSON runs `coffer operator CMD -format=json ARGS...` and decodes
// its output.
func mustCLIJSON(t *testing.T, n *Node, stdin string, out any, args ...string) {
	t.Helper()
	full := append(append(append([]string{}, args[:2]...), "-format=json"), args[2:]...)
	stdout, stderr, code := cli(t, n, "", stdin, full...)
	if code != 0 {
		t.Fatalf("coffer %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("coffer %s: %v in %q", strings.Join(args, " "), err, stdout)
	}
}

// flipY returns key (base64) with its first byte changed: same x
// coordinate, wrong share.
func flipY(t *testing.T, key string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	return base64.StdEncoding.EncodeToString(b)
}

// mustGenerateRoot runs a whole generate-root through the CLI with keys
// (one from stdin, the others as arguments) and returns the decoded token.
func mustGenerateRoot(t *testing.T, n *Node, keys []string) string {
	t.Helper()
	var st vault.GenerateRootStatusResponse
	mustCLIJSON(t, n, "", &st, "operator", "generate-root", "-init")
	if !st.Started || st.Nonce == "" || len(st.OTP) != st.OTPLength || st.Required != len(keys) {
		t.Fatalf("generate-root -init: %+v", st)
	}
	otp := st.OTP
	for i, k := range keys {
		if i == 0 {
			mustCLIJSON(t, n, k+"\n", &st, "operator", "generate-root")
		} else {
			mustCLIJSON(t, n, "", &st, "operator", "generate-root", "-nonce="+st.Nonce, k)
		}
		if st.Complete != (i == len(keys)-1) {
			t.Fatalf("generate-root after key %d of %d: %+v", i+1, len(keys), st)
		}
	}
	if st.EncodedToken == "" || st.EncodedToken != st.EncodedRootToken {
		t.Fatalf("generate-root complete: %+v", st)
	}
	out := mustCLI(t, n, "", "operator", "generate-root", "-decode="+st.EncodedToken, "-otp="+otp)
	return strings.TrimSpace(out)
}

// mustRootWorks checks token is a root token: it reads sys/mounts and
// looks itself up with the root policy.
func mustRootWorks(t *testing.T, n *Node, token string) {
	t.Helper()
	c := n.Client(token)
	if _, err := c.Sys().ListMountsWithContext(t.Context()); err != nil {
		t.Fatalf("sys/mounts with the generated token: %v", err)
	}
	self, err := c.Auth().Token().LookupSelfWithContext(t.Context())
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	if pols, _ := self.TokenPolicies(); len(pols) != 1 || pols[0] != "root" {
		t.Fatalf("generated token policies %v", pols)
	}
}

// TestQuorumShamir: on a Shamir node, generate-root with 3 of 5 unseal
// keys yields a working root token (wrong keys only reset the progress);
// rekey to 3 shares / threshold 2 makes the old keys useless and the new
// ones unseal, the data intact.
func TestQuorumShamir(t *testing.T) {
	n := mustStartNode(t)
	keys, rootToken := mustInitUnseal(t, n)
	anon := n.Client("")
	root := n.Client(rootToken)
	sys := anon.Sys()
	mustPutSecret(t, root, true, "app/db", "quorum-canary")

	// Nothing in progress: updates are refused, the status says so.
	if _, err := sys.GenerateRootUpdateWithContext(t.Context(), keys[0], "nonce"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("update with no attempt: want 400, got %v", err)
	}
	if st, err := sys.GenerateRootStatusWithContext(t.Context()); err != nil || st.Started || st.Required != 3 || st.OTPLength == 0 {
		t.Fatalf("status before: %+v %v", st, err)
	}
	// Client-chosen OTPs and PGP keys are refused.
	if _, err := sys.GenerateRootInitWithContext(t.Context(), "", "a-pgp-key"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("init with pgp_key: want 400, got %v", err)
	}

	// A bad share set: refused at the threshold, progress reset, the
	// attempt still open; a wrong nonce is refused before counting.
	st, err := sys.GenerateRootInitWithContext(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.GenerateRootInitWithContext(t.Context(), "", ""); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("second init: want 400, got %v", err)
	}
	if _, err := sys.GenerateRootUpdateWithContext(t.Context(), keys[0], "wrong-nonce"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("wrong nonce: want 400, got %v", err)
	}
	for i, k := range []string{keys[0], keys[1]} {
		if got, err := sys.GenerateRootUpdateWithContext(t.Context(), k, st.Nonce); err != nil || got.Progress != i+1 || got.Complete {
			t.Fatalf("update %d: %+v %v", i, got, err)
		}
	}
	if _, err := sys.GenerateRootUpdateWithContext(t.Context(), flipY(t, keys[2]), st.Nonce); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("bad share set: want 400, got %v", err)
	}
	if got, err := sys.GenerateRootStatusWithContext(t.Context()); err != nil || !got.Started || got.Progress != 0 || got.Nonce != st.Nonce {
		t.Fatalf("status after a bad share set: %+v %v", got, err)
	}
	if _, _, code := cli(t, n, "", "", "operator", "generate-root", "-cancel"); code != 0 {
		t.Fatalf("cancel: exit %d", code)
	}
	if got, err := sys.GenerateRootStatusWithContext(t.Context()); err != nil || got.Started {
		t.Fatalf("status after cancel: %+v %v", got, err)
	}

	token := mustGenerateRoot(t, n, []string{keys[4], keys[0], keys[2]})
	if token == rootToken || !strings.HasPrefix(token, "hvs.") {
		t.Fatalf("generated token looks wrong (length %d)", len(token))
	}
	mustRootWorks(t, n, token)

	// sys/rekey-recovery-key is for auto seals.
	if _, err := sys.RekeyRecoveryKeyInitWithContext(t.Context(), &vault.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("recovery rekey on Shamir: want 400, got %v", err)
	}
	// Rekey to 3 shares, threshold 2, through the CLI.
	var rs vault.RekeyStatusResponse
	mustCLIJSON(t, n, "", &rs, "operator", "rekey", "-init", "-key-shares=3", "-key-threshold=2")
	if !rs.Started || rs.N != 3 || rs.T != 2 || rs.Required != 3 {
		t.Fatalf("rekey -init: %+v", rs)
	}
	mustCLIJSON(t, n, "", &rs, "operator", "rekey", keys[1])
	mustCLIJSON(t, n, keys[3]+"\n", &rs, "operator", "rekey")
	if rs.Progress != 2 {
		t.Fatalf("rekey progress: %+v", rs)
	}
	var up vault.RekeyUpdateResponse
	mustCLIJSON(t, n, "", &up, "operator", "rekey", keys[4])
	if !up.Complete || len(up.KeysB64) != 3 || len(up.Keys) != 3 {
		t.Fatalf("rekey complete: complete %v, %d keys", up.Complete, len(up.KeysB64))
	}
	if st, err := sys.SealStatusWithContext(t.Context()); err != nil || st.N != 3 || st.T != 2 {
		t.Fatalf("seal status after rekey: %+v %v", st, err)
	}

	// Old keys no longer unseal; the new ones do.
	if err := root.Sys().SealWithContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.UnsealWithContext(t.Context(), keys[0]); err != nil {
		t.Fatalf("first old key: %v", err)
	}
	if _, err := sys.UnsealWithContext(t.Context(), keys[1]); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("old keys after rekey: want 400, got %v", err)
	}
	if st, err := sys.SealStatusWithContext(t.Context()); err != nil || !st.Sealed {
		t.Fatalf("old keys unsealed: %+v %v", st, err)
	}
	mustUnseal(t, anon, up.KeysB64[1:])
	mustSecretIs(t, root, "app/db", "quorum-canary")
	// And generate-root now takes 2 of the new keys.
	mustRootWorks(t, n, mustGenerateRoot(t, n, []string{up.Keys[0], up.KeysB64[2]}))
}

// TestQuorumHSM: on an HSM node, generate-root takes recovery keys,
// sys/rekey refuses, and rekey -target=recovery replaces the recovery
// keys (the old ones stop working for quorum operations).
func TestQuorumHSM(t *testing.T) {
	tok := mustHSMToken(t)
	tok.KeygenAES(t, hsmKeyLabel)
	n := mustStartHSMNode(t, hsmSeal{tok: tok}.hcl())
	init := mustInitRecovery(t, n, 3, 2)
	sys := n.Client("").Sys()

	mustRootWorks(t, n, mustGenerateRoot(t, n, []string{init.RecoveryKeysB64[2], init.RecoveryKeys[0]}))

	if _, err := sys.RekeyInitWithContext(t.Context(), &vault.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("sys/rekey with an auto seal: want 400, got %v", err)
	}
	var rs vault.RekeyStatusResponse
	mustCLIJSON(t, n, "", &rs, "operator", "rekey", "-target=recovery", "-init", "-key-shares=5", "-key-threshold=3")
	if !rs.Started || rs.N != 5 || rs.T != 3 || rs.Required != 2 {
		t.Fatalf("recovery rekey -init: %+v", rs)
	}
	mustCLIJSON(t, n, "", &rs, "operator", "rekey", "-target=recovery", init.RecoveryKeysB64[0])
	var up vault.RekeyUpdateResponse
	mustCLIJSON(t, n, "", &up, "operator", "rekey", "-target=recovery", init.RecoveryKeysB64[1])
	if !up.Complete || len(up.KeysB64) != 5 {
		t.Fatalf("recovery rekey complete: complete %v, %d keys", up.Complete, len(up.KeysB64))
	}
	if st, err := sys.SealStatusWithContext(t.Context()); err != nil || st.N != 5 || st.T != 3 || !st.RecoverySeal {
		t.Fatalf("seal status after recovery rekey: %+v %v", st, err)
	}

	// The three old recovery keys (the new threshold is 3) are refused...
	st, err := sys.GenerateRootInitWithContext(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range init.RecoveryKeysB64 {
		_, err := sys.GenerateRootUpdateWithContext(t.Context(), k, st.Nonce)
		if last := i == 2; (statusOf(err) == http.StatusBadRequest) != last || (!last && err != nil) {
			t.Fatalf("old recovery key %d: %v", i+1, err)
		}
	}
	if err := sys.GenerateRootCancelWithContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	// ... and the new ones work.
	mustRootWorks(t, n, mustGenerateRoot(t, n, up.KeysB64[2:]))

	// The HSM still unseals the node after a restart.
	n.Stop()
	waitActive(t, n, hsmStart(n))
	mustRootWorks(t, n, init.RootToken)
}

// TestQuorumStandbyForwards: in a cluster, the quorum endpoints called on
// standbys are served by the active node (the attempt is one, whichever
// node operators talk to), and a rekey done through a standby is seen by
// every node.
func TestQuorumStandbyForwards(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.WaitLeader()
	standbys := c.Standbys(leader)
	a, b := c.anon(standbys[0]).Sys(), c.anon(standbys[1]).Sys()

	st, err := a.GenerateRootInitWithContext(t.Context(), "", "")
	if err != nil {
		t.Fatalf("init on a standby: %v", err)
	}
	if got, err := c.anon(leader).Sys().GenerateRootStatusWithContext(t.Context()); err != nil || !got.Started || got.Nonce != st.Nonce {
		t.Fatalf("status on the leader: %+v %v", got, err)
	}
	if _, err := b.GenerateRootUpdateWithContext(t.Context(), c.Keys[0], st.Nonce); err != nil {
		t.Fatalf("update on the other standby: %v", err)
	}
	done, err := a.GenerateRootUpdateWithContext(t.Context(), c.Keys[2], st.Nonce)
	if err != nil || !done.Complete {
		t.Fatalf("last update: %+v %v", done, err)
	}
	raw, err := base64.RawStdEncoding.DecodeString(done.EncodedToken)
	if err != nil || len(raw) != len(st.OTP) {
		t.Fatalf("encoded token: %v (%d bytes, OTP %d)", err, len(raw), len(st.OTP))
	}
	for i := range raw {
		raw[i] ^= st.OTP[i]
	}
	cl, err := newVaultClient(c.Nodes[standbys[1]].Addr, string(raw), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Sys().ListMountsWithContext(t.Context()); err != nil {
		t.Fatalf("generated token on a standby: %v", err)
	}

	rs, err := b.RekeyInitWithContext(t.Context(), &vault.RekeyInitRequest{SecretShares: 4, SecretThreshold: 3})
	if err != nil || !rs.Started {
		t.Fatalf("rekey init on a standby: %+v %v", rs, err)
	}
	if _, err := a.RekeyUpdateWithContext(t.Context(), c.Keys[1], rs.Nonce); err != nil {
		t.Fatal(err)
	}
	up, err := b.RekeyUpdateWithContext(t.Context(), c.Keys[2], rs.Nonce)
	if err != nil || !up.Complete || len(up.KeysB64) != 4 {
		t.Fatalf("rekey on standbys: %+v %v", up, err)
	}
	for i := range c.Nodes {
		c.waitFor(clusterWait, "the new seal config on every node", func() bool {
			st, err := c.anon(i).Sys().SealStatusWithContext(t.Context())
			return err == nil && st.N == 4 && st.T == 3
		})
	}
}
