package main

import (
	"fmt"
	"io"
	"sort"
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
	if code, ok := c.parse(args); !ok {
		return code
	}
	if !c.wantArgs(1, 1) {
		return exitLocal
	}
	authType := strings.TrimSpace(c.fs.Arg(0))
	if mountPath == "" {
		mountPath = authType
	}
	mountPath = ensureTrailingSlash(sanitizePath(mountPath))
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
	cl, code := c.client()
	if cl == nil {
		return code
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
	c := newCommand("auth disable", authDisableUsage, 0, stdin, stdout, stderr)
	if code, ok := c.parse(args); !ok {
		return code
	}
	if !c.wantArgs(1, 1) {
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	p := ensureTrailingSlash(sanitizePath(c.fs.Arg(0)))
	if err := cl.Sys().DisableAuthWithContext(c.ctx(), p); err != nil {
		c.errf("Error disabling auth method at %s: %s", p, err)
		return exitRemote
	}
	c.outf("Success! Disabled the auth method (if it existed) at: %s", p)
	return exitOK
}

// runAuthList implements `coffer auth list`.
func runAuthList(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("auth list", authListUsage, withFormat, stdin, stdout, stderr)
	var detailed bool
	c.fs.BoolVar(&detailed, "detailed", false, "Print more information about each auth method.")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if !c.wantArgs(0, 0) {
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	auths, err := cl.Sys().ListAuthWithContext(c.ctx())
	if err != nil {
		c.errf("Error listing enabled authentications: %s", err)
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(auths)
	}
	if detailed {
		c.outf("%s", formatTable(detailedAuthRows(auths)))
	} else {
		c.outf("%s", formatTable(simpleAuthRows(auths)))
	}
	return exitOK
}

// sortedAuthPaths are the keys of auths in order.
func sortedAuthPaths(auths map[string]*api.AuthMount) []string {
	paths := make([]string, 0, len(auths))
	for p := range auths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// simpleAuthRows is Vault's default `auth list` table.
func simpleAuthRows(auths map[string]*api.AuthMount) [][]string {
	rows := [][]string{{"Path", "Type", "Accessor", "Description"}}
	for _, p := range sortedAuthPaths(auths) {
		m := auths[p]
		rows = append(rows, []string{p, m.Type, m.Accessor, m.Description})
	}
	return rows
}

// detailedAuthRows is Vault's `auth list -detailed` table (the columns
// Coffer has).
func detailedAuthRows(auths map[string]*api.AuthMount) [][]string {
	rows := [][]string{{"Path", "Plugin", "Accessor", "Default TTL", "Max TTL", "Token Type",
		"Replication", "Seal Wrap", "External Entropy Access", "Options", "Description", "UUID", "Version"}}
	ttl := func(secs int) string {
		if secs == 0 {
			return "system"
		}
		return strconv.Itoa(secs)
	}
	for _, p := range sortedAuthPaths(auths) {
		m := auths[p]
		replication := "replicated"
		if m.Local {
			replication = "local"
		}
		rows = append(rows, []string{p, m.Type, m.Accessor, ttl(m.Config.DefaultLeaseTTL), ttl(m.Config.MaxLeaseTTL),
			m.Config.TokenType, replication, strconv.FormatBool(m.SealWrap), strconv.FormatBool(m.ExternalEntropyAccess),
			fmt.Sprint(m.Options), m.Description, m.UUID, m.PluginVersion})
	}
	return rows
}
