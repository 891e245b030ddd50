package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/vault/api"
)

const operatorInitUsage = `
Usage: coffer operator init [options]

  Initializes a Coffer server. Initialization creates the root key and splits
  the key that protects it into key shares ("unseal keys"), of which a
  threshold must be supplied to unseal. It runs once per cluster.

  Start initialization with the default options:

      $ coffer operator init

  Initialize with 3 key shares, any 2 of which unseal:

      $ coffer operator init -key-shares=3 -key-threshold=2
`

const operatorUnsealUsage = `
Usage: coffer operator unseal [options] [KEY]

  Provide a portion of the key to unseal Coffer. Coffer starts sealed; it
  unseals once the threshold of key shares has been submitted, one per call.

  With no KEY, the key is read from the terminal without echo, or as one line
  from stdin when stdin is not a terminal:

      $ coffer operator unseal
      Unseal Key (will be hidden):

  Reset unsealing progress:

      $ coffer operator unseal -reset
`

const operatorSealUsage = `
Usage: coffer operator seal [options]

  Seals Coffer. Sealing discards the in-memory root key; further requests are
  refused until it is unsealed again with the threshold of key shares.

      $ coffer operator seal
`

// initOutput is `operator init -format=json`, in Vault's shape.
type initOutput struct {
	UnsealKeysB64     []string `json:"unseal_keys_b64"`
	UnsealKeysHex     []string `json:"unseal_keys_hex"`
	UnsealShares      int      `json:"unseal_shares"`
	UnsealThreshold   int      `json:"unseal_threshold"`
	RecoveryKeysB64   []string `json:"recovery_keys_b64"`
	RecoveryKeysHex   []string `json:"recovery_keys_hex"`
	RecoveryShares    int      `json:"recovery_keys_shares"`
	RecoveryThreshold int      `json:"recovery_keys_threshold"`
	RootToken         string   `json:"root_token"`
}

// runOperatorInit implements `coffer operator init`.
func runOperatorInit(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator init", operatorInitUsage, withFormat, stdin, stdout, stderr)
	req := &api.InitRequest{}
	var status bool
	c.fs.BoolVar(&status, "status", false, "Print the initialization status: exit 0 if initialized, 2 if not, 1 on error.")
	const sharesHelp, thresholdHelp = "Number of key shares to split the generated key into.", "Number of key shares required to reconstruct the key."
	c.fs.IntVar(&req.SecretShares, "key-shares", 5, sharesHelp)
	c.fs.IntVar(&req.SecretShares, "n", 5, "Alias for -key-shares.")
	c.fs.IntVar(&req.SecretThreshold, "key-threshold", 3, thresholdHelp)
	c.fs.IntVar(&req.SecretThreshold, "t", 3, "Alias for -key-threshold.")
	c.fs.IntVar(&req.RecoveryShares, "recovery-shares", 0, "Number of recovery key shares (auto-unseal seals only).")
	c.fs.IntVar(&req.RecoveryThreshold, "recovery-threshold", 0, "Number of recovery key shares required (auto-unseal seals only).")
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	if status {
		return c.initStatus(cl)
	}
	// An auto-sealed node (an HSM) takes recovery shares, not unseal
	// shares: unless the operator set -key-shares, send Vault's recovery
	// defaults instead.
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if st, err := cl.Sys().SealStatusWithContext(c.ctx()); err == nil && st.RecoverySeal {
		if !set["key-shares"] && !set["n"] && !set["key-threshold"] && !set["t"] {
			req.SecretShares, req.SecretThreshold = 0, 0
		}
		if req.RecoveryShares == 0 && req.RecoveryThreshold == 0 {
			req.RecoveryShares, req.RecoveryThreshold = 5, 3
		}
	}
	resp, err := cl.Sys().InitWithContext(c.ctx(), req)
	if err != nil {
		c.errf("Error initializing: %s", err)
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(newInitOutput(req, resp))
	}
	c.printInit(req, resp)
	return exitOK
}

// newInitOutput builds the JSON form of an init response.
func newInitOutput(req *api.InitRequest, resp *api.InitResponse) initOutput {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	out := initOutput{
		UnsealKeysB64:     nonNil(resp.KeysB64),
		UnsealKeysHex:     nonNil(resp.Keys),
		UnsealShares:      len(resp.Keys),
		UnsealThreshold:   req.SecretThreshold,
		RecoveryKeysB64:   nonNil(resp.RecoveryKeysB64),
		RecoveryKeysHex:   nonNil(resp.RecoveryKeys),
		RecoveryShares:    len(resp.RecoveryKeys),
		RecoveryThreshold: req.RecoveryThreshold,
		RootToken:         resp.RootToken,
	}
	if len(resp.Keys) == 0 {
		out.UnsealShares, out.UnsealThreshold = req.SecretShares, req.SecretThreshold
	}
	return out
}

// printInit prints the keys, the root token and Vault's advice, in Vault's layout.
func (c *command) printInit(req *api.InitRequest, resp *api.InitResponse) {
	for i, k := range resp.Keys {
		if len(resp.KeysB64) == len(resp.Keys) {
			k = resp.KeysB64[i]
		}
		c.outf("Unseal Key %d: %s", i+1, k)
	}
	for i, k := range resp.RecoveryKeys {
		if len(resp.RecoveryKeysB64) == len(resp.RecoveryKeys) {
			k = resp.RecoveryKeysB64[i]
		}
		c.outf("Recovery Key %d: %s", i+1, k)
	}
	c.outf("")
	c.outf("Initial Root Token: %s", resp.RootToken)
	c.outf("")
	if len(resp.Keys) > 0 {
		c.outf("%s", wrapAtLength(fmt.Sprintf("Coffer initialized with %d key shares and a key "+
			"threshold of %d. Please securely distribute the key shares printed above. When "+
			"Coffer is re-sealed, restarted, or stopped, you must supply at least %d of these "+
			"keys to unseal it before it can start servicing requests.",
			len(resp.Keys), req.SecretThreshold, req.SecretThreshold), 0))
		c.outf("")
		c.outf("%s", wrapAtLength(fmt.Sprintf("Coffer does not store the generated root key. "+
			"Without at least %d keys to reconstruct the root key, Coffer will remain "+
			"permanently sealed!", req.SecretThreshold), 0))
	} else {
		c.outf("Success! Coffer is initialized")
	}
	if len(resp.RecoveryKeys) > 0 {
		c.outf("")
		c.outf("%s", wrapAtLength(fmt.Sprintf("Recovery key initialized with %d key shares and a "+
			"key threshold of %d. Please securely distribute the key shares printed above.",
			len(resp.RecoveryKeys), req.RecoveryThreshold), 0))
	}
}

// initStatus implements `operator init -status`.
func (c *command) initStatus(cl *api.Client) int {
	inited, err := cl.Sys().InitStatusWithContext(c.ctx())
	if err != nil {
		c.errf("Error checking init status: %s", err)
		return exitLocal // 2 means "not initialized" here
	}
	code := exitOK
	if !inited {
		code = exitRemote
	}
	if c.json() {
		if rc := c.outputJSON(map[string]bool{"initialized": inited}); rc != exitOK {
			return rc
		}
		return code
	}
	if inited {
		c.outf("Coffer is initialized")
	} else {
		c.outf("Coffer is not initialized")
	}
	return code
}

// runOperatorUnseal implements `coffer operator unseal`.
func runOperatorUnseal(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator unseal", operatorUnsealUsage, withFormat, stdin, stdout, stderr)
	var reset, migrate bool
	c.fs.BoolVar(&reset, "reset", false, "Discard previously-supplied unseal keys and start over.")
	c.fs.BoolVar(&migrate, "migrate", false, "Count this key toward the seal migration the server's config names.")
	cl, code := c.connect(args, 0, 1)
	if cl == nil {
		return code
	}
	if reset {
		st, err := cl.Sys().ResetUnsealProcessWithContext(c.ctx())
		if err != nil {
			c.errf("Error resetting unseal process: %s", err)
			return exitRemote
		}
		return c.outputSealStatus(cl, st)
	}
	key := strings.TrimSpace(c.fs.Arg(0))
	if key == "" {
		var err error
		if key, err = c.readHidden(c.stdout, "Unseal Key (will be hidden): "); err != nil {
			c.errf("Error reading unseal key: %s", err)
			return exitLocal
		}
		key = strings.TrimSpace(key)
		if key == "" {
			c.errf("Error reading unseal key: empty key")
			return exitLocal
		}
	}
	st, err := cl.Sys().UnsealWithOptionsWithContext(c.ctx(), &api.UnsealOpts{Key: key, Migrate: migrate})
	if err != nil {
		c.errf("Error unsealing: %s", err)
		return exitRemote
	}
	return c.outputSealStatus(cl, st)
}

// runOperatorSeal implements `coffer operator seal`.
func runOperatorSeal(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator seal", operatorSealUsage, 0, stdin, stdout, stderr)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	if err := cl.Sys().SealWithContext(c.ctx()); err != nil {
		c.errf("Error sealing: %s", err)
		return exitRemote
	}
	c.outf("Success! Coffer is sealed.")
	return exitOK
}
