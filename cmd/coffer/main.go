// Command coffer is Coffer's single binary: the server and a Vault-compatible CLI.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// runFunc runs one leaf command and returns its exit code.
type runFunc func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

// cliCommand is a node of the command tree: a leaf with run, or a group
// with subcommands.
type cliCommand struct {
	synopsis string
	run      runFunc
	sub      map[string]*cliCommand
}

// commonCommands are listed first in the top-level help, as Vault does.
var commonCommands = []string{"read", "write", "delete", "list", "login", "status", "server"}

// commandTree is every CLI command.
func commandTree() *cliCommand {
	return &cliCommand{sub: map[string]*cliCommand{
		"server": {synopsis: "Start a Coffer server", run: func(args []string, _ io.Reader, _, _ io.Writer) int {
			return runServer(args)
		}},
		"status":  {synopsis: "Print seal and HA status", run: runStatus},
		"version": {synopsis: "Print the Coffer version", run: runVersion},
		"read":    {synopsis: "Read data and retrieve secrets", run: runRead},
		"write":   {synopsis: "Write data, configuration, and secrets", run: runWrite},
		"list":    {synopsis: "List data or secrets", run: runList},
		"delete":  {synopsis: "Delete secrets and configuration", run: runDelete},
		"operator": {synopsis: "Perform operator-specific tasks", sub: map[string]*cliCommand{
			"init":          {synopsis: "Initialize a server", run: runOperatorInit},
			"unseal":        {synopsis: "Unseal a server", run: runOperatorUnseal},
			"seal":          {synopsis: "Seal a server", run: runOperatorSeal},
			"generate-root": {synopsis: "Generates a new root token", run: runOperatorGenerateRoot},
			"rekey":         {synopsis: "Generates new unseal keys", run: runOperatorRekey},
			"raft": {synopsis: "Interact with Coffer's Raft storage", sub: map[string]*cliCommand{
				"join":        {synopsis: "Joins a node to the Raft cluster", run: runOperatorRaftJoin},
				"list-peers":  {synopsis: "Returns the Raft peer set", run: runOperatorRaftListPeers},
				"remove-peer": {synopsis: "Removes a node from the Raft cluster", run: runOperatorRaftRemovePeer},
				"autopilot": {synopsis: "Interact with autopilot", sub: map[string]*cliCommand{
					"state":      {synopsis: "Displays the state of the Raft cluster as seen by autopilot", run: runOperatorRaftAutopilotState},
					"get-config": {synopsis: "Returns the configuration of autopilot", run: runOperatorRaftAutopilotGetConfig},
					"set-config": {synopsis: "Modifies the configuration of autopilot", run: runOperatorRaftAutopilotSetConfig},
				}},
				"snapshot": {synopsis: "Saves, restores and inspects snapshots of the Raft cluster", sub: map[string]*cliCommand{
					"save":    {synopsis: "Saves a snapshot of the current state of the Raft cluster into a file", run: runOperatorRaftSnapshotSave},
					"restore": {synopsis: "Installs a snapshot, returning the cluster to the state recorded in it", run: runOperatorRaftSnapshotRestore},
					"inspect": {synopsis: "Verifies a snapshot file and describes what it holds", run: runOperatorRaftSnapshotInspect},
				}},
			}},
			"step-down": {synopsis: "Forces the active node to resign active duty", run: runOperatorStepDown},
			"members":   {synopsis: "Returns the list of nodes in the cluster", run: runOperatorMembers},
		}},
		"kv": {synopsis: "Interact with Coffer's key-value store", sub: map[string]*cliCommand{
			"put":      {synopsis: "Set or update data in the KV store", run: runKVPut},
			"get":      {synopsis: "Retrieve data from the KV store", run: runKVGet},
			"patch":    {synopsis: "Set or update data in the KV store without overwriting", run: runKVPatch},
			"delete":   {synopsis: "Delete versions in the KV store", run: runKVDelete},
			"undelete": {synopsis: "Undelete versions in the KV store", run: runKVUndelete},
			"destroy":  {synopsis: "Permanently remove one or more versions in the KV store", run: runKVDestroy},
			"list":     {synopsis: "List data or secrets", run: runKVList},
			"metadata": {synopsis: "Interact with Coffer's key-value store metadata", sub: map[string]*cliCommand{
				"get":    {synopsis: "Retrieve key metadata from the KV store", run: runKVMetadataGet},
				"put":    {synopsis: "Set or update key settings in the KV store", run: runKVMetadataPut},
				"delete": {synopsis: "Delete all versions and metadata for a key in the KV store", run: runKVMetadataDelete},
			}},
		}},
		"login": {synopsis: "Authenticate locally", run: runLogin},
		"bench": {synopsis: "Generate load against a server and measure it", run: runBench},
		"lease": {synopsis: "Interact with leases", sub: map[string]*cliCommand{
			"renew":  {synopsis: "Renews the lease of a secret", run: runLeaseRenew},
			"revoke": {synopsis: "Revokes leases and secrets", run: runLeaseRevoke},
			"lookup": {synopsis: "Looks up a lease", run: runLeaseLookup},
		}},
		"token": {synopsis: "Interact with tokens", sub: map[string]*cliCommand{
			"create":       {synopsis: "Create a new token", run: runTokenCreate},
			"lookup":       {synopsis: "Display information about a token", run: runTokenLookup},
			"renew":        {synopsis: "Renew a token lease", run: runTokenRenew},
			"revoke":       {synopsis: "Revoke a token and its children", run: runTokenRevoke},
			"capabilities": {synopsis: "Print capabilities of a token on a path", run: runTokenCapabilities},
		}},
		"policy": {synopsis: "Interact with policies", sub: map[string]*cliCommand{
			"write":  {synopsis: "Uploads a named policy from a file", run: runPolicyWrite},
			"read":   {synopsis: "Prints the contents of a policy", run: runPolicyRead},
			"list":   {synopsis: "Lists the installed policies", run: runPolicyList},
			"delete": {synopsis: "Deletes a policy by name", run: runPolicyDelete},
			"fmt":    {synopsis: "Formats a policy on disk", run: runPolicyFmt},
		}},
		"auth": {synopsis: "Interact with auth methods", sub: map[string]*cliCommand{
			"enable":  {synopsis: "Enables a new auth method", run: runAuthEnable},
			"disable": {synopsis: "Disables an auth method", run: runAuthDisable},
			"list":    {synopsis: "Lists enabled auth methods", run: runAuthList},
		}},
		"audit": {synopsis: "Work with audit logs", sub: map[string]*cliCommand{
			"verify": {synopsis: "Checks the hash chain of audit log files", run: runAuditVerify},
		}},
		"secrets": {synopsis: "Interact with secrets engines", sub: map[string]*cliCommand{
			"enable":  {synopsis: "Enable a secrets engine", run: runSecretsEnable},
			"disable": {synopsis: "Disable a secrets engine", run: runSecretsDisable},
			"list":    {synopsis: "List enabled secrets engines", run: runSecretsList},
		}},
	}}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches args to a command and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := commandTree()
	if len(args) > 0 {
		switch args[0] {
		case "help":
			if len(args) == 1 {
				printGroupHelp(stdout, nil, root)
				return exitOK
			}
			// "coffer help kv put" is "coffer kv put -h".
			return dispatch(nil, root, append(append([]string{}, args[1:]...), "-h"), stdin, stdout, stderr)
		case "-v", "-version", "--version":
			return runVersion(nil, stdin, stdout, stderr)
		}
	}
	return dispatch(nil, root, args, stdin, stdout, stderr)
}

// dispatch walks the command tree along args and runs the leaf it reaches.
func dispatch(path []string, node *cliCommand, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if node.run != nil {
		return node.run(args, stdin, stdout, stderr)
	}
	if len(args) == 0 {
		printGroupHelp(stderr, path, node)
		return exitLocal
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printGroupHelp(stdout, path, node)
		return exitOK
	}
	next, ok := node.sub[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "Unknown command: %s\n\n", strings.Join(append(path, args[0]), " "))
		printGroupHelp(stderr, path, node)
		return exitLocal
	}
	return dispatch(append(path, args[0]), next, args[1:], stdin, stdout, stderr)
}

// printGroupHelp lists a group's subcommands with their synopses.
func printGroupHelp(w io.Writer, path []string, node *cliCommand) {
	name := strings.Join(append([]string{"coffer"}, path...), " ")
	names := make([]string, 0, len(node.sub))
	for n := range node.sub {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(path) > 0 {
		fmt.Fprintf(w, "Usage: %s <subcommand> [options] [args]\n\n", name)
		fmt.Fprintf(w, "  %s.\n\nSubcommands:\n", node.synopsis)
		fmt.Fprint(w, formatSynopses(names, node))
		return
	}
	fmt.Fprintf(w, "Usage: coffer <command> [args]\n\nCommon commands:\n")
	common := make(map[string]bool, len(commonCommands))
	for _, n := range commonCommands {
		common[n] = true
	}
	fmt.Fprint(w, formatSynopses(commonCommands, node))
	var other []string
	for _, n := range names {
		if !common[n] {
			other = append(other, n)
		}
	}
	fmt.Fprintf(w, "\nOther commands:\n")
	fmt.Fprint(w, formatSynopses(other, node))
	fmt.Fprintf(w, "\nRun \"coffer <command> -h\" for a command's options.\n")
}

// formatSynopses renders "    name    synopsis" lines, names aligned.
func formatSynopses(names []string, node *cliCommand) string {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "    %-*s    %s\n", width, n, node.sub[n].synopsis)
	}
	return b.String()
}

// runVersion prints the Coffer version.
func runVersion(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("version", "Usage: coffer version\n\n  Prints the version of this Coffer binary.", 0, stdin, stdout, stderr)
	if code, ok := c.parseArgs(args, 0, 0); !ok {
		return code
	}
	c.outf("Coffer v%s", strings.TrimPrefix(version, "v"))
	return exitOK
}
