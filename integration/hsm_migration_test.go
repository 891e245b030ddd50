package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// mustMigrateUnseal submits keys with migrate=true; the last one must
// complete the migration and unseal the node.
func mustMigrateUnseal(t *testing.T, n *Node, keys []string) {
	t.Helper()
	c := n.Client("")
	for i, k := range keys {
		st, err := c.Sys().UnsealWithOptionsWithContext(t.Context(), &vault.UnsealOpts{Key: k, Migrate: true})
		if i == 0 {
			st, err = retryWhileNotLeader(t, n, c, k, st, err)
		}
		if err != nil {
			t.Fatalf("migrate unseal with key %d: %v\nlog:\n%s", i+1, err, n.Log())
		}
		if last := i == len(keys)-1; last == st.Sealed {
			t.Fatalf("after %d of %d migrate keys: sealed=%v: %+v", i+1, len(keys), st.Sealed, st)
		}
	}
}

// hsmNotLeaderMsg is the server's refusal of a migrate key on a node that
// is not (yet) the Raft leader.
const hsmNotLeaderMsg = "migrate the seal on the active node"

// retryWhileNotLeader resubmits the first migrate key while the server
// refuses it because it has not yet won its own election: a single node
// restarted into a migration elects itself about a second after start,
// and the server answers 400 (not a retryable status) until then.
func retryWhileNotLeader(t *testing.T, n *Node, c *vault.Client, key string, st *vault.SealStatusResponse, err error) (*vault.SealStatusResponse, error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(hsmActiveLimit)
	for err != nil && strings.Contains(err.Error(), hsmNotLeaderMsg) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		st, err = c.Sys().UnsealWithOptionsWithContext(t.Context(), &vault.UnsealOpts{Key: key, Migrate: true})
	}
	if waited := time.Since(start); waited > 100*time.Millisecond {
		t.Logf("the first migrate key was refused as \"not the active node\" for %s after start", waited.Round(time.Millisecond))
	}
	return st, err
}

// mustMigrationPending checks that n is sealed and waiting for a seal
// migration.
func mustMigrationPending(t *testing.T, n *Node, when string) {
	t.Helper()
	st, body := mustSealStatus(t, n)
	if !st.Sealed || !st.Initialized || !st.Migration {
		t.Fatalf("seal-status %s: want sealed, initialized, migration: %s", when, body)
	}
	if code := mustHealth(t, n); code != http.StatusServiceUnavailable {
		t.Fatalf("health %s: %d, want 503", when, code)
	}
}

// TestHSMMigrationRoundTrip moves a node holding data from Shamir to
// PKCS#11 and back with Vault's migrate flow: data intact after each step,
// the old unseal keys refused as such once they became recovery keys, and
// no plaintext in the data directory at the end.
func TestHSMMigrationRoundTrip(t *testing.T) {
	tok := mustHSMToken(t)
	tok.KeygenAES(t, hsmKeyLabel)
	n := mustStartHSMNode(t, "")
	anon := n.Client("")
	init, err := anon.Sys().InitWithContext(t.Context(), &vault.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	keys := init.KeysB64
	mustUnseal(t, anon, keys[:2])
	root := n.Client(init.RootToken)
	const shamirCanary, hsmCanary = "CANARY-mig-shamir-1d8e", "CANARY-mig-hsm-b27f"
	mustPutSecret(t, root, true, "shamir", shamirCanary)

	// Shamir -> PKCS#11.
	n.Stop()
	enabled := hsmSeal{tok: tok}.hcl()
	setSealStanza(t, n, enabled)
	hsmStart(n)
	mustMigrationPending(t, n, "with the HSM stanza added")
	if _, err := anon.Sys().UnsealWithContext(t.Context(), keys[0]); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("unseal without migrate during a migration: want 400, got %v", err)
	}
	mustMigrateUnseal(t, n, []string{keys[0], init.Keys[2]})
	mustSecretIs(t, root, "shamir", shamirCanary)
	if st, body := mustSealStatus(t, n); st.Type != "pkcs11" || !st.RecoverySeal || st.Sealed || st.Migration || st.T != 2 || st.N != 3 {
		t.Fatalf("seal-status after migrating to pkcs11: %s", body)
	}
	mustPutSecret(t, root, false, "hsm", hsmCanary)

	// The old unseal keys are recovery keys now: never unseal keys.
	if err := root.Sys().SealWithContext(t.Context()); err != nil {
		t.Fatalf("seal: %v", err)
	}
	for _, k := range keys {
		if _, err := anon.Sys().UnsealWithContext(t.Context(), k); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("old unseal key after the migration: want 400, got %v", err)
		}
	}
	if code := mustHealth(t, n); code != http.StatusServiceUnavailable {
		t.Fatalf("health after old unseal keys: %d, want 503", code)
	}
	hsmKill(n)
	took := waitActive(t, n, hsmStart(n))
	t.Logf("auto-unseal after migrating to pkcs11: %s", took.Round(time.Millisecond))
	mustSecretIs(t, root, "shamir", shamirCanary)
	mustSecretIs(t, root, "hsm", hsmCanary)

	// PKCS#11 -> Shamir: the recovery keys (the old unseal keys) migrate.
	n.Stop()
	setSealStanza(t, n, hsmSeal{tok: tok, disabled: true}.hcl())
	hsmStart(n)
	mustMigrationPending(t, n, "with the HSM stanza disabled")
	mustMigrateUnseal(t, n, keys[1:3])
	mustSecretIs(t, root, "shamir", shamirCanary)
	mustSecretIs(t, root, "hsm", hsmCanary)
	if st, body := mustSealStatus(t, n); st.Type != "shamir" || st.RecoverySeal || st.Sealed || st.Migration || st.T != 2 || st.N != 3 {
		t.Fatalf("seal-status after migrating to shamir: %s", body)
	}

	// Shamir again, with the stanza still disabled and then without it:
	// sealed at start, and the keys unseal it as Shamir keys.
	for _, step := range []struct {
		name   string
		stanza string
		keys   []string
	}{
		{"stanza still disabled", hsmSeal{tok: tok, disabled: true}.hcl(), []string{keys[0], keys[2]}},
		{"stanza removed", "", []string{init.Keys[1], keys[0]}},
	} {
		n.Stop()
		setSealStanza(t, n, step.stanza)
		hsmStart(n)
		st, body := mustSealStatus(t, n)
		if !st.Sealed || st.Migration || st.Type != "shamir" || st.RecoverySeal {
			t.Fatalf("seal-status at start, %s: %s", step.name, body)
		}
		mustUnseal(t, anon, step.keys)
		mustSecretIs(t, root, "shamir", shamirCanary)
		mustSecretIs(t, root, "hsm", hsmCanary)
	}

	n.Stop()
	mustNoPlaintext(t, n, []string{shamirCanary, hsmCanary, init.RootToken}, keys, tok.PIN, tok.SOPIN)
}
