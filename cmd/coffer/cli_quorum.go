package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
)

const operatorGenerateRootUsage = `
Usage: coffer operator generate-root [options] [KEY]

  Generates a new root token by combining a quorum of key shares: unseal
  keys with the Shamir seal, recovery keys with an auto seal. One operator
  starts the attempt; the server returns a one-time password (OTP) that
  the final token is encoded with.

  Start a root token generation:

      $ coffer operator generate-root -init

  Provide a key share (the nonce is looked up when not given; with no KEY
  the key is read from the terminal without echo, or from stdin):

      $ coffer operator generate-root

  Decode the encoded token with the OTP:

      $ coffer operator generate-root -decode=ENCODED -otp=OTP

  Show the status, or cancel:

      $ coffer operator generate-root -status
      $ coffer operator generate-root -cancel
`

const operatorRekeyUsage = `
Usage: coffer operator rekey [options] [KEY]

  Generates a new set of unseal key shares (Shamir seal) or, with
  -target=recovery, recovery key shares (auto seal). A quorum of the
  current shares is required. The data and the root key do not change;
  the old shares stop working.

  Start a rekey to 5 shares with a threshold of 3:

      $ coffer operator rekey -init -key-shares=5 -key-threshold=3

  Provide a current key share (the nonce is looked up when not given):

      $ coffer operator rekey

  Show the status, or cancel:

      $ coffer operator rekey -status
      $ coffer operator rekey -cancel
`

// runOperatorGenerateRoot implements `coffer operator generate-root`.
func runOperatorGenerateRoot(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator generate-root", operatorGenerateRootUsage, withFormat, stdin, stdout, stderr)
	var init, cancel, status bool
	var decode, otp, nonce, pgpKey string
	c.fs.BoolVar(&init, "init", false, "Start a root token generation; prints the OTP.")
	c.fs.BoolVar(&cancel, "cancel", false, "Cancel the root token generation in progress and discard the keys submitted.")
	c.fs.BoolVar(&status, "status", false, "Print the status of the root token generation.")
	c.fs.StringVar(&decode, "decode", "", "Decode this encoded root token (requires -otp).")
	c.fs.StringVar(&otp, "otp", "", "The OTP returned by -init, for -decode.")
	c.fs.StringVar(&nonce, "nonce", "", "Nonce of the attempt, from -init (looked up when not given).")
	c.fs.StringVar(&pgpKey, "pgp-key", "", "Not supported: Coffer does not PGP-encrypt root tokens.")
	if code, ok := c.parseArgs(args, 0, 1); !ok {
		return code
	}
	modes := 0
	for _, on := range []bool{init, cancel, status, decode != ""} {
		if on {
			modes++
		}
	}
	switch {
	case modes > 1:
		return c.usageError("Only one of -init, -cancel, -status or -decode may be given")
	case pgpKey != "":
		return c.usageError("-pgp-key is not supported: the server generates an OTP; decode the token with -decode and -otp")
	case decode != "":
		if otp == "" {
			return c.usageError("-decode requires -otp")
		}
		return c.decodeRootToken(decode, otp)
	case modes == 1 && c.fs.NArg() > 0:
		return c.usageError("Too many arguments (expected 0, got %d)", c.fs.NArg())
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	sys := cl.Sys()
	switch {
	case init:
		st, err := sys.GenerateRootInitWithContext(c.ctx(), "", "")
		if err != nil {
			c.errf("Error initializing root generation: %s", err)
			return exitRemote
		}
		return c.outputGenerateRoot(st, true)
	case cancel:
		if err := sys.GenerateRootCancelWithContext(c.ctx()); err != nil {
			c.errf("Error canceling root token generation: %s", err)
			return exitRemote
		}
		c.outf("Success! Root token generation canceled (if it was started)")
		return exitOK
	case status:
		st, err := sys.GenerateRootStatusWithContext(c.ctx())
		if err != nil {
			c.errf("Error getting root generation status: %s", err)
			return exitRemote
		}
		return c.outputGenerateRoot(st, false)
	}
	if nonce == "" {
		st, err := sys.GenerateRootStatusWithContext(c.ctx())
		if err != nil {
			c.errf("Error getting root generation status: %s", err)
			return exitRemote
		}
		if !st.Started {
			c.errf("No root generation is in progress: start one with -init")
			return exitRemote
		}
		nonce = st.Nonce
	}
	key, code := c.shareArg()
	if key == "" {
		return code
	}
	st, err := sys.GenerateRootUpdateWithContext(c.ctx(), key, nonce)
	if err != nil {
		c.errf("Error posting unseal key: %s", err)
		return exitRemote
	}
	return c.outputGenerateRoot(st, false)
}

// shareArg is the key share: the argument, else read hidden from the
// terminal or stdin. An empty key means stop with code.
func (c *command) shareArg() (string, int) {
	key := strings.TrimSpace(c.fs.Arg(0))
	if key != "" {
		return key, exitOK
	}
	key, err := c.readHidden(c.stdout, "Unseal Key (will be hidden): ")
	if err != nil {
		c.errf("Error reading unseal key: %s", err)
		return "", exitLocal
	}
	if key = strings.TrimSpace(key); key == "" {
		c.errf("Error reading unseal key: empty key")
		return "", exitLocal
	}
	return key, exitOK
}

// decodeRootToken prints the token encoded as Vault encodes it: base64
// (unpadded, padding tolerated) of the token XOR the OTP.
func (c *command) decodeRootToken(encoded, otp string) int {
	token, err := decodeEncodedToken(encoded, otp)
	if err != nil {
		c.errf("Error decoding root token: %s", err)
		return exitLocal
	}
	if c.json() {
		return c.outputJSON(map[string]string{"token": token})
	}
	c.outf("%s", token)
	return exitOK
}

func decodeEncodedToken(encoded, otp string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(encoded), "="))
	if err != nil {
		return "", errors.New("the encoded token is not valid base64")
	}
	if len(raw) != len(otp) {
		return "", fmt.Errorf("the encoded token is %d bytes but the OTP is %d characters: is this the right OTP?", len(raw), len(otp))
	}
	for i := range raw {
		raw[i] ^= otp[i]
	}
	return string(raw), nil
}

// outputGenerateRoot prints a generate-root status as Vault does.
func (c *command) outputGenerateRoot(st *api.GenerateRootStatusResponse, withOTP bool) int {
	if c.json() {
		return c.outputJSON(st)
	}
	if withOTP && st.OTP != "" {
		c.outf("%s", wrapAtLength("A One-Time-Password has been generated for you and is shown in the OTP "+
			"field. You will need this value to decode the resulting root token, so keep it safe.", 0))
	}
	rows := [][]string{
		{"Key", "Value"},
		{"Nonce", st.Nonce},
		{"Started", strconv.FormatBool(st.Started)},
		{"Progress", fmt.Sprintf("%d/%d", st.Progress, st.Required)},
		{"Complete", strconv.FormatBool(st.Complete)},
	}
	if st.EncodedToken != "" {
		rows = append(rows, []string{"Encoded Token", st.EncodedToken})
	}
	if withOTP && st.OTP != "" {
		rows = append(rows, []string{"OTP", st.OTP})
	}
	if !st.Complete {
		rows = append(rows, []string{"OTP Length", strconv.Itoa(st.OTPLength)})
	}
	c.outf("%s", formatTable(rows))
	return exitOK
}

// runOperatorRekey implements `coffer operator rekey`.
func runOperatorRekey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator rekey", operatorRekeyUsage, withFormat, stdin, stdout, stderr)
	var init, cancel, status, backup, verify bool
	var target, nonce, pgpKeys string
	req := &api.RekeyInitRequest{}
	c.fs.BoolVar(&init, "init", false, "Start a rekey (with -key-shares and -key-threshold).")
	c.fs.BoolVar(&cancel, "cancel", false, "Cancel the rekey in progress and discard the keys submitted.")
	c.fs.BoolVar(&status, "status", false, "Print the status of the rekey.")
	c.fs.IntVar(&req.SecretShares, "key-shares", 5, "Number of new key shares.")
	c.fs.IntVar(&req.SecretThreshold, "key-threshold", 3, "Number of new key shares required to reconstruct the key.")
	c.fs.StringVar(&target, "target", "barrier", `Which key to rekey: "barrier" (the unseal key) or "recovery" (the recovery key of an auto seal).`)
	c.fs.StringVar(&nonce, "nonce", "", "Nonce of the rekey, from -init (looked up when not given).")
	c.fs.StringVar(&pgpKeys, "pgp-keys", "", "Not supported.")
	c.fs.BoolVar(&backup, "backup", false, "Not supported.")
	c.fs.BoolVar(&verify, "verify", false, "Not supported.")
	if code, ok := c.parseArgs(args, 0, 1); !ok {
		return code
	}
	recovery := false
	switch target {
	case "barrier":
	case "recovery":
		recovery = true
	default:
		return c.usageError(`Unknown -target %q: use "barrier" or "recovery"`, target)
	}
	modes := 0
	for _, on := range []bool{init, cancel, status} {
		if on {
			modes++
		}
	}
	switch {
	case modes > 1:
		return c.usageError("Only one of -init, -cancel or -status may be given")
	case pgpKeys != "" || backup || verify:
		return c.usageError("-pgp-keys, -backup and -verify are not supported")
	case modes == 1 && c.fs.NArg() > 0:
		return c.usageError("Too many arguments (expected 0, got %d)", c.fs.NArg())
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	sys := cl.Sys()
	statusFn, updateFn := sys.RekeyStatusWithContext, sys.RekeyUpdateWithContext
	if recovery {
		statusFn, updateFn = sys.RekeyRecoveryKeyStatusWithContext, sys.RekeyRecoveryKeyUpdateWithContext
	}
	switch {
	case init:
		initFn := sys.RekeyInitWithContext
		if recovery {
			initFn = sys.RekeyRecoveryKeyInitWithContext
		}
		st, err := initFn(c.ctx(), req)
		if err != nil {
			c.errf("Error initializing rekey: %s", err)
			return exitRemote
		}
		return c.outputRekeyStatus(st)
	case cancel:
		cancelFn := sys.RekeyCancelWithContextWithNonce
		if recovery {
			cancelFn = sys.RekeyRecoveryKeyCancelWithContextWithNonce
		}
		if err := cancelFn(c.ctx(), nonce); err != nil {
			c.errf("Error canceling rekey: %s", err)
			return exitRemote
		}
		c.outf("Success! Canceled rekeying (if it was started)")
		return exitOK
	case status:
		st, err := statusFn(c.ctx())
		if err != nil {
			c.errf("Error reading rekey status: %s", err)
			return exitRemote
		}
		return c.outputRekeyStatus(st)
	}
	// The status gives the nonce when none is given, and the new
	// threshold for the final message.
	before, err := statusFn(c.ctx())
	if err != nil {
		c.errf("Error reading rekey status: %s", err)
		return exitRemote
	}
	if nonce == "" {
		if !before.Started {
			c.errf("No rekey is in progress: start one with -init")
			return exitRemote
		}
		nonce = before.Nonce
	}
	key, code := c.shareArg()
	if key == "" {
		return code
	}
	up, err := updateFn(c.ctx(), key, nonce)
	if err != nil {
		c.errf("Error posting unseal key: %s", err)
		return exitRemote
	}
	if !up.Complete {
		st, err := statusFn(c.ctx())
		if err != nil {
			c.errf("Error reading rekey status: %s", err)
			return exitRemote
		}
		return c.outputRekeyStatus(st)
	}
	return c.outputRekeyKeys(up, before.T, recovery)
}

// outputRekeyStatus prints a rekey status as Vault does.
func (c *command) outputRekeyStatus(st *api.RekeyStatusResponse) int {
	if c.json() {
		return c.outputJSON(st)
	}
	c.outf("%s", formatTable([][]string{
		{"Key", "Value"},
		{"Nonce", st.Nonce},
		{"Started", strconv.FormatBool(st.Started)},
		{"Rekey Progress", fmt.Sprintf("%d/%d", st.Progress, st.Required)},
		{"New Shares", strconv.Itoa(st.N)},
		{"New Threshold", strconv.Itoa(st.T)},
		{"Verification Required", strconv.FormatBool(st.VerificationRequired)},
	}))
	return exitOK
}

// outputRekeyKeys prints the new shares, once, as Vault does.
func (c *command) outputRekeyKeys(up *api.RekeyUpdateResponse, threshold int, recovery bool) int {
	if c.json() {
		return c.outputJSON(up)
	}
	for i, k := range up.Keys {
		if len(up.KeysB64) == len(up.Keys) {
			k = up.KeysB64[i]
		}
		c.outf("Key %d: %s", i+1, k)
	}
	c.outf("")
	c.outf("Operation nonce: %s", up.Nonce)
	c.outf("")
	what, use := "unseal keys", "unseal it"
	if recovery {
		what, use = "recovery keys", "authorize quorum operations"
	}
	c.outf("%s", wrapAtLength(fmt.Sprintf("Coffer %s rekeyed with %d key shares and a key threshold "+
		"of %d. Please securely distribute the key shares printed above. The previous shares no "+
		"longer work: you must supply at least %d of these keys to %s.", what, len(up.Keys), threshold, threshold, use), 0))
	return exitOK
}
