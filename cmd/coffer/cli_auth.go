package main

import (
	"io"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
)

const authEnableUsage = `
Usage: coffer auth enable [options] TYPE

  Enables an auth method. By default it is enabled at a path named after its
  type; -path enables it elsewhere. Coffer has the "userpass" and "approle"
  methods; "token" is always enabled.

      $ coffer auth enable userpass
      $ coffer auth enable -path=machines -description="CI runners" approle
`

const authDisableUsage = `
Usage: coffer auth disable [options] PATH

  Disables the auth method enabled at PATH. Every token issued through it is
  revoked and its configuration (users, roles) is removed.

      $ coffer auth disable userpass/
`

const authListUsage = `
Usage: coffer auth list [options]

  Lists the enabled auth methods.

      $ coffer auth list
      $ coffer auth list -detailed
`

// runAuthEnable implements `coffer auth enable`.
func runAuthEnable(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("auth enable", authEnableUsage, 0, stdin, stdout, stderr)
	var (
		mountPath, description, defaultTTL, maxTTL, tokenType string
		local, sealWrap                                       bool
		options                                               mapFlag
	)
	c.fs.StringVar(&mountPath, "path", "", "Path to enable the method at (default: the type name).")
	c.fs.StringVar(&description, "description", "", "Human-friendly description of the method.")
	c.fs.StringVar(&defaultTTL, "default-lease-ttl", "", "Default TTL of tokens issued by the method, e.g. 1h.")
	c.fs.StringVar(&maxTTL, "max-lease-ttl", "", "Maximum TTL of tokens issued by the method, e.g. 24h.")
	c.fs.StringVar(&tokenType, "token-type", "", `Type of token the method issues: "service" or "batch".`)
	c.fs.BoolVar(&local, "local", false, "Mark the method local-only (not replicated).")
	c.fs.BoolVar(&sealWrap, "seal-wrap", false, "Enable seal wrapping for the method.")
	c.fs.Var(&options, "options", "Method option as key=value (repeatable).")
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	authType := strings.TrimSpace(c.fs.Arg(0))
	mountPath = mountPathFor(mountPath, authType)
	input := &api.EnableAuthOptions{
		Type:        authType,
		Description: description,
		Local:       local,
		SealWrap:    sealWrap,
		Config:      api.AuthConfigInput{DefaultLeaseTTL: defaultTTL, MaxLeaseTTL: maxTTL, TokenType: tokenType},
	}
	if len(options) > 0 {
		input.Options = options
	}
	if err := cl.Sys().EnableAuthWithOptionsWithContext(c.ctx(), mountPath, input); err != nil {
		c.errf("Error enabling %s auth: %s", authType, err)
		return exitRemote
	}
	c.outf("Success! Enabled %s auth method at: %s", authType, mountPath)
	return exitOK
}

// runAuthDisable implements `coffer auth disable`.
func runAuthDisable(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newCommand("auth disable", authDisableUsage, 0, stdin, stdout, stderr).disableMount(args, authMethods)
}

// runAuthList implements `coffer auth list`.
func runAuthList(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newCommand("auth list", authListUsage, withFormat, stdin, stdout, stderr).listMounts(args, authMethods)
}

// authMethods are the auth methods `auth disable` and `auth list` manage.
var authMethods = mountKind{
	noun:         "auth method",
	disable:      (*api.Sys).DisableAuthWithContext,
	list:         (*api.Sys).ListAuthWithContext,
	listErr:      "Error listing enabled authentications",
	detailedHelp: "Print more information about each auth method.",
	extraHeader:  "Token Type",
	extra:        func(m *api.MountOutput) string { return m.Config.TokenType },
	ttl:          strconv.Itoa,
}
