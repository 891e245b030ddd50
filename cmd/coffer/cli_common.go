package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
	"golang.org/x/term"
)

// Exit codes follow Vault's CLI: 0 success, 1 a local problem (bad flags,
// wrong argument count, unreadable input), 2 a remote problem (the server
// refused or failed the request, or there is no value at the path).
const (
	exitOK     = 0
	exitLocal  = 1
	exitRemote = 2
)

const defaultAddress = "http://127.0.0.1:8200"

// cmdIO holds the streams one CLI command runs with, so tests can drive a
// command without a terminal or os.Exit.
type cmdIO struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// outf writes one line to stdout.
func (c *cmdIO) outf(format string, a ...any) {
	fmt.Fprintf(c.stdout, format+"\n", a...)
}

// errf writes one line to stderr.
func (c *cmdIO) errf(format string, a ...any) {
	fmt.Fprintf(c.stderr, format+"\n", a...)
}

// flagGroups selects which shared output flags a command accepts.
type flagGroups uint8

const (
	withFormat flagGroups = 1 << iota // -format
	withField                         // -field
)

// commonFlags are the flags every client command shares (Vault's "HTTP
// Options" and "Output Options").
type commonFlags struct {
	address    string
	caCert     string
	skipVerify bool
	format     string
	field      string
}

// command is one CLI invocation: its streams, its flag set and the shared flags.
type command struct {
	*cmdIO
	fs    *flag.FlagSet
	flags commonFlags
	usage string
}

// newCommand builds a command whose flag set prints usage (the text plus the
// flag defaults) to stderr.
func newCommand(name, usage string, groups flagGroups, stdin io.Reader, stdout, stderr io.Writer) *command {
	c := &command{cmdIO: &cmdIO{stdin: stdin, stdout: stdout, stderr: stderr}, usage: strings.TrimSpace(usage)}
	c.fs = flag.NewFlagSet(name, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	c.fs.Usage = c.printUsage
	c.fs.StringVar(&c.flags.address, "address", "", "Address of the Coffer server (default $COFFER_ADDR, $VAULT_ADDR or "+defaultAddress+").")
	c.fs.StringVar(&c.flags.caCert, "ca-cert", "", "Path to a PEM CA certificate to verify the server's TLS certificate (default $VAULT_CACERT).")
	c.fs.BoolVar(&c.flags.skipVerify, "tls-skip-verify", false, "Do not verify the server's TLS certificate. Not recommended.")
	if groups&withFormat != 0 {
		def := os.Getenv("VAULT_FORMAT")
		if def == "" {
			def = "table"
		}
		c.fs.StringVar(&c.flags.format, "format", def, `Output format: "table" or "json".`)
	} else {
		c.flags.format = "table"
	}
	if groups&withField != 0 {
		c.fs.StringVar(&c.flags.field, "field", "", "Print only the named field, raw, with no trailing newline when piped.")
	}
	return c
}

// printUsage writes the command's usage text and its flags to stderr.
func (c *command) printUsage() {
	fmt.Fprintf(c.stderr, "%s\n\nOptions:\n\n", c.usage)
	c.fs.PrintDefaults()
}

// parse parses args; ok is false when the command should stop and return
// code (0 after -h, 1 after a flag error).
func (c *command) parse(args []string) (code int, ok bool) {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitLocal, false
	}
	switch c.flags.format {
	case "table", "json":
	default:
		c.errf("Invalid output format: %s", c.flags.format)
		return exitLocal, false
	}
	return 0, true
}

// usageError prints msg and the usage text to stderr and returns exit code 1.
func (c *command) usageError(format string, a ...any) int {
	c.errf(format, a...)
	c.errf("")
	c.printUsage()
	return exitLocal
}

// wantArgs checks the positional argument count is within [min, max]
// (max < 0: unbounded), printing Vault's wording when it is not.
func (c *command) wantArgs(min, max int) bool {
	n := c.fs.NArg()
	expected := strconv.Itoa(min)
	if max != min {
		if max < 0 {
			expected = ">=" + expected
		} else {
			expected = fmt.Sprintf("%d-%d", min, max)
		}
	}
	switch {
	case n < min:
		c.usageError("Not enough arguments (expected %s, got %d)", expected, n)
		return false
	case max >= 0 && n > max:
		c.usageError("Too many arguments (expected %s, got %d)", expected, n)
		return false
	}
	return true
}

// parseArgs is parse followed by wantArgs(min, max): ok is false when the
// command should stop and return code.
func (c *command) parseArgs(args []string, min, max int) (code int, ok bool) {
	if code, ok := c.parse(args); !ok {
		return code, false
	}
	if !c.wantArgs(min, max) {
		return exitLocal, false
	}
	return exitOK, true
}

// client builds an API client from the environment and the shared flags.
// On failure it prints the error and returns the exit code to use.
func (c *command) client() (*api.Client, int) {
	cl, err := newAPIClient(c.flags, os.Getenv, userHome())
	if err != nil {
		c.errf("Error initializing client: %s", err)
		return nil, exitRemote
	}
	return cl, exitOK
}

// connect is the start of most commands: parseArgs(args, min, max), then
// client. A nil client means the command should stop and return code.
func (c *command) connect(args []string, min, max int) (*api.Client, int) {
	if code, ok := c.parseArgs(args, min, max); !ok {
		return nil, code
	}
	return c.client()
}

// dataArgs parses the positional arguments after the first as K=V data
// (parseKVArgs); ok is false, the error printed, when they do not parse.
func (c *command) dataArgs() (data map[string]any, ok bool) {
	data, err := parseKVArgs(c.stdin, c.fs.Args()[1:])
	if err != nil {
		c.errf("Failed to parse K=V data: %s", err)
		return nil, false
	}
	return data, true
}

// ctx is the context a command's requests run under; the client applies its
// own per-request timeout (VAULT_CLIENT_TIMEOUT, 60s by default).
func (c *command) ctx() context.Context {
	return context.Background()
}

// json reports whether the command prints JSON.
func (c *command) json() bool { return c.flags.format == "json" }

// newAPIClient configures the stock Vault client. api.DefaultConfig reads
// VAULT_CACERT, VAULT_SKIP_VERIFY, VAULT_CLIENT_TIMEOUT, VAULT_MAX_RETRIES and
// the rest of Vault's client environment itself; address and token follow
// resolveAddress and resolveToken.
func newAPIClient(f commonFlags, getenv func(string) string, home string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("read client environment: %w", cfg.Error)
	}
	cfg.Address = resolveAddress(getenv, f.address)
	if f.caCert != "" || f.skipVerify {
		skip := f.skipVerify
		if v, err := strconv.ParseBool(getenv("VAULT_SKIP_VERIFY")); err == nil && v {
			skip = true
		}
		caCert := f.caCert
		if caCert == "" {
			caCert = getenv("VAULT_CACERT")
		}
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: caCert, CAPath: getenv("VAULT_CAPATH"), Insecure: skip}); err != nil {
			return nil, fmt.Errorf("configure tls: %w", err)
		}
	}
	cl, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if tok := resolveToken(getenv, home); tok != "" {
		cl.SetToken(tok)
	} else {
		cl.ClearToken()
	}
	return cl, nil
}

// resolveAddress picks the server address: the -address flag, then
// COFFER_ADDR, then VAULT_ADDR, then http://127.0.0.1:8200.
func resolveAddress(getenv func(string) string, flagAddr string) string {
	for _, v := range []string{flagAddr, getenv("COFFER_ADDR"), getenv("VAULT_ADDR")} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return defaultAddress
}

// resolveToken picks the client token: COFFER_TOKEN, then VAULT_TOKEN, then
// the token stored by the token helper (~/.vault-token, as Vault's default)
// if there is one. An unreadable token file counts as no token.
func resolveToken(getenv func(string) string, home string) string {
	for _, v := range []string{getenv("COFFER_TOKEN"), getenv("VAULT_TOKEN")} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	tok, err := newTokenFile(home).Get()
	if err != nil {
		return ""
	}
	return tok
}

// userHome is the current user's home directory, or "" if unknown.
func userHome() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h
}

// sanitizePath trims spaces and leading and trailing slashes, as Vault does.
func sanitizePath(p string) string {
	return strings.Trim(strings.TrimSpace(p), "/")
}

// ensureTrailingSlash returns p ending in exactly one "/" (or "" for "").
func ensureTrailingSlash(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return ""
	}
	return strings.TrimRight(p, "/") + "/"
}

// readHidden reads a secret: with prompt written to promptTo and no echo
// when stdin is a terminal, otherwise as one line of stdin.
func (c *command) readHidden(promptTo io.Writer, prompt string) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(promptTo, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(promptTo)
		if err != nil {
			return "", err
		}
		s := strings.TrimSpace(string(b))
		clear(b)
		return s, nil
	}
	if c.stdin == nil {
		return "", errNoStdin
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
