package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/hashicorp/vault/api"
)

// mountKind is one kind of mount as the CLI manages it: secrets engines
// (`secrets ...`) or auth methods (`auth ...`). Their disable commands
// differ only in wording, and their list tables only in one -detailed
// column and in how TTLs are shown.
type mountKind struct {
	noun         string                                                               // "secrets engine", "auth method"
	disable      func(*api.Sys, context.Context, string) error                        // unmounts a path
	list         func(*api.Sys, context.Context) (map[string]*api.MountOutput, error) // fetches the mounts
	listErr      string                                                               // what failed, when listing does
	detailedHelp string                                                               // help for -detailed
	extraHeader  string                                                               // the -detailed column after "Max TTL"
	extra        func(*api.MountOutput) string                                        // its value for one mount
	ttl          func(secs int) string                                                // a TTL other than "system"
}

// mountPathFor is where an enable command mounts typ: at pathFlag if
// given, else at the type's name; sanitized, with a trailing slash.
func mountPathFor(pathFlag, typ string) string {
	if pathFlag == "" {
		pathFlag = typ
	}
	return ensureTrailingSlash(sanitizePath(pathFlag))
}

// disableMount runs a disable command: it unmounts the PATH argument.
func (c *command) disableMount(args []string, k mountKind) int {
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	p := ensureTrailingSlash(sanitizePath(c.fs.Arg(0)))
	if err := k.disable(cl.Sys(), c.ctx(), p); err != nil {
		c.errf("Error disabling %s at %s: %s", k.noun, p, err)
		return exitRemote
	}
	c.outf("Success! Disabled the %s (if it existed) at: %s", k.noun, p)
	return exitOK
}

// listMounts runs a list command: it fetches the mounts and prints them as
// JSON or as Vault's table, with more columns under -detailed.
func (c *command) listMounts(args []string, k mountKind) int {
	var detailed bool
	c.fs.BoolVar(&detailed, "detailed", false, k.detailedHelp)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	mounts, err := k.list(cl.Sys(), c.ctx())
	if err != nil {
		c.errf("%s: %s", k.listErr, err)
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(mounts)
	}
	if detailed {
		c.outf("%s", formatTable(k.detailedRows(mounts)))
	} else {
		c.outf("%s", formatTable(simpleMountRows(mounts)))
	}
	return exitOK
}

// simpleMountRows is Vault's default `secrets list` and `auth list` table.
func simpleMountRows(mounts map[string]*api.MountOutput) [][]string {
	rows := [][]string{{"Path", "Type", "Accessor", "Description"}}
	for _, p := range slices.Sorted(maps.Keys(mounts)) {
		m := mounts[p]
		rows = append(rows, []string{p, m.Type, m.Accessor, m.Description})
	}
	return rows
}

// detailedRows is Vault's -detailed table (the columns Coffer has).
func (k mountKind) detailedRows(mounts map[string]*api.MountOutput) [][]string {
	rows := [][]string{{"Path", "Plugin", "Accessor", "Default TTL", "Max TTL", k.extraHeader,
		"Replication", "Seal Wrap", "External Entropy Access", "Options", "Description", "UUID", "Version"}}
	ttl := func(secs int) string {
		if secs == 0 {
			return "system"
		}
		return k.ttl(secs)
	}
	for _, p := range slices.Sorted(maps.Keys(mounts)) {
		m := mounts[p]
		replication := "replicated"
		if m.Local {
			replication = "local"
		}
		rows = append(rows, []string{p, m.Type, m.Accessor, ttl(m.Config.DefaultLeaseTTL), ttl(m.Config.MaxLeaseTTL),
			k.extra(m), replication, strconv.FormatBool(m.SealWrap), strconv.FormatBool(m.ExternalEntropyAccess),
			fmt.Sprint(m.Options), m.Description, m.UUID, m.PluginVersion})
	}
	return rows
}
