package main

import (
	"fmt"
	"io"
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
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	engineType := strings.TrimSpace(c.fs.Arg(0))
	mountPath = mountPathFor(mountPath, engineType)
	input := mountInput(engineType, description, version, options)
	input.Local, input.SealWrap = local, sealWrap
	input.Config = api.MountConfigInput{DefaultLeaseTTL: defaultTTL, MaxLeaseTTL: maxTTL}
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
	return newCommand("secrets disable", secretsDisableUsage, 0, stdin, stdout, stderr).disableMount(args, secretsEngines)
}

// runSecretsList implements `coffer secrets list`.
func runSecretsList(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newCommand("secrets list", secretsListUsage, withFormat, stdin, stdout, stderr).listMounts(args, secretsEngines)
}

// secretsEngines are the secrets engines `secrets disable` and `secrets list` manage.
var secretsEngines = mountKind{
	noun:         "secrets engine",
	disable:      (*api.Sys).UnmountWithContext,
	list:         (*api.Sys).ListMountsWithContext,
	listErr:      "Error listing secrets engines",
	detailedHelp: "Print more information about each engine.",
	extraHeader:  "Force No Cache",
	extra:        func(m *api.MountOutput) string { return strconv.FormatBool(m.Config.ForceNoCache) },
	ttl:          func(secs int) string { return fmt.Sprint(humanDurationInt(secs)) },
}
