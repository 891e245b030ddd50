package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
)

const secretsEnableUsage = `
Usage: coffer secrets enable [options] TYPE

  Enables a secrets engine. By default it is mounted at a path named after
  its type; -path mounts it elsewhere. "kv-v2" is KV version 2.

      $ coffer secrets enable kv
      $ coffer secrets enable -path=secret -version=2 kv
      $ coffer secrets enable -path=secret kv-v2
`

const secretsDisableUsage = `
Usage: coffer secrets disable [options] PATH

  Disables the secrets engine mounted at PATH. All its data is removed and
  its leases are revoked.

      $ coffer secrets disable secret/
`

const secretsListUsage = `
Usage: coffer secrets list [options]

  Lists the enabled secrets engines.

      $ coffer secrets list
      $ coffer secrets list -detailed
`

// runSecretsEnable implements `coffer secrets enable`.
func runSecretsEnable(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("secrets enable", secretsEnableUsage, 0, stdin, stdout, stderr)
	var (
		mountPath, description, defaultTTL, maxTTL string
		version                                    int
		local, sealWrap                            bool
		options                                    mapFlag
	)
	c.fs.StringVar(&mountPath, "path", "", "Path to mount the engine at (default: the type name).")
	c.fs.StringVar(&description, "description", "", "Human-friendly description of the mount.")
	c.fs.IntVar(&version, "version", 0, "Engine version; for kv, 1 or 2.")
	c.fs.StringVar(&defaultTTL, "default-lease-ttl", "", "Default lease TTL for the mount, e.g. 1h.")
	c.fs.StringVar(&maxTTL, "max-lease-ttl", "", "Maximum lease TTL for the mount, e.g. 24h.")
	c.fs.BoolVar(&local, "local", false, "Mark the mount local-only (not replicated).")
	c.fs.BoolVar(&sealWrap, "seal-wrap", false, "Enable seal wrapping for the mount.")
	c.fs.Var(&options, "options", "Engine option as key=value (repeatable).")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if !c.wantArgs(1, 1) {
		return exitLocal
	}
	engineType := strings.TrimSpace(c.fs.Arg(0))
	if mountPath == "" {
		mountPath = engineType
	}
	mountPath = ensureTrailingSlash(sanitizePath(mountPath))
	input := mountInput(engineType, description, version, options)
	input.Local, input.SealWrap = local, sealWrap
	input.Config = api.MountConfigInput{DefaultLeaseTTL: defaultTTL, MaxLeaseTTL: maxTTL}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	if err := cl.Sys().MountWithContext(c.ctx(), mountPath, input); err != nil {
		c.errf("Error enabling: %s", err)
		return exitRemote
	}
	c.outf("Success! Enabled the %s secrets engine at: %s", engineType, mountPath)
	return exitOK
}

// mountInput builds the sys/mounts request; "kv-v2" is sent as type "kv"
// with option version=2, and -version becomes the version option.
func mountInput(engineType, description string, version int, options mapFlag) *api.MountInput {
	opts := map[string]string{}
	for k, v := range options {
		opts[k] = v
	}
	if engineType == "kv-v2" {
		engineType = "kv"
		opts["version"] = "2"
	}
	if version > 0 {
		opts["version"] = strconv.Itoa(version)
	}
	in := &api.MountInput{Type: engineType, Description: description}
	if len(opts) > 0 {
		in.Options = opts
	}
	return in
}

// runSecretsDisable implements `coffer secrets disable`.
func runSecretsDisable(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("secrets disable", secretsDisableUsage, 0, stdin, stdout, stderr)
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
	if err := cl.Sys().UnmountWithContext(c.ctx(), p); err != nil {
		c.errf("Error disabling secrets engine at %s: %s", p, err)
		return exitRemote
	}
	c.outf("Success! Disabled the secrets engine (if it existed) at: %s", p)
	return exitOK
}

// runSecretsList implements `coffer secrets list`.
func runSecretsList(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("secrets list", secretsListUsage, withFormat, stdin, stdout, stderr)
	var detailed bool
	c.fs.BoolVar(&detailed, "detailed", false, "Print more information about each engine.")
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
	mounts, err := cl.Sys().ListMountsWithContext(c.ctx())
	if err != nil {
		c.errf("Error listing secrets engines: %s", err)
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(mounts)
	}
	if detailed {
		c.outf("%s", formatTable(detailedMountRows(mounts)))
	} else {
		c.outf("%s", formatTable(simpleMountRows(mounts)))
	}
	return exitOK
}

// sortedMountPaths are the keys of mounts in order.
func sortedMountPaths(mounts map[string]*api.MountOutput) []string {
	paths := make([]string, 0, len(mounts))
	for p := range mounts {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// simpleMountRows is Vault's default `secrets list` table.
func simpleMountRows(mounts map[string]*api.MountOutput) [][]string {
	rows := [][]string{{"Path", "Type", "Accessor", "Description"}}
	for _, p := range sortedMountPaths(mounts) {
		m := mounts[p]
		rows = append(rows, []string{p, m.Type, m.Accessor, m.Description})
	}
	return rows
}

// detailedMountRows is Vault's `secrets list -detailed` table (the columns
// Coffer has).
func detailedMountRows(mounts map[string]*api.MountOutput) [][]string {
	rows := [][]string{{"Path", "Plugin", "Accessor", "Default TTL", "Max TTL", "Force No Cache",
		"Replication", "Seal Wrap", "External Entropy Access", "Options", "Description", "UUID", "Version"}}
	ttl := func(secs int) string {
		if secs == 0 {
			return "system"
		}
		return fmt.Sprint(humanDurationInt(secs))
	}
	for _, p := range sortedMountPaths(mounts) {
		m := mounts[p]
		replication := "replicated"
		if m.Local {
			replication = "local"
		}
		rows = append(rows, []string{p, m.Type, m.Accessor, ttl(m.Config.DefaultLeaseTTL), ttl(m.Config.MaxLeaseTTL),
			strconv.FormatBool(m.Config.ForceNoCache), replication, strconv.FormatBool(m.SealWrap),
			strconv.FormatBool(m.ExternalEntropyAccess), fmt.Sprint(m.Options), m.Description, m.UUID, m.PluginVersion})
	}
	return rows
}
