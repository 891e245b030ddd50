package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/printer"
)

const policyWriteUsage = `
Usage: coffer policy write [options] NAME PATH

  Uploads a policy and names it NAME; an existing policy of that name is
  replaced. PATH is a file of HCL policy rules, or "-" to read them from
  stdin. Policy names are lower-cased.

      $ coffer policy write my-policy /tmp/policy.hcl
      $ cat my-policy.hcl | coffer policy write my-policy -
`

const policyReadUsage = `
Usage: coffer policy read [options] NAME

  Prints the rules of the policy named NAME.

      $ coffer policy read my-policy
`

const policyListUsage = `
Usage: coffer policy list [options]

  Lists the names of the installed policies.

      $ coffer policy list
`

const policyDeleteUsage = `
Usage: coffer policy delete [options] NAME

  Deletes the policy named NAME. Tokens that carry it lose its permissions
  at once. The built-in "root" and "default" policies cannot be deleted.

      $ coffer policy delete my-policy
`

const policyFmtUsage = `
Usage: coffer policy fmt [options] PATH

  Checks a local policy file and rewrites it in place in canonical HCL
  layout. A file that is not a valid policy is left untouched.

      $ coffer policy fmt my-policy.hcl
`

// runPolicyWrite implements `coffer policy write`.
func runPolicyWrite(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("policy write", policyWriteUsage, 0, stdin, stdout, stderr)
	if code, ok := c.parseArgs(args, 2, 2); !ok {
		return code
	}
	name := policyName(c.fs.Arg(0))
	src := strings.TrimSpace(c.fs.Arg(1))
	var (
		rules []byte
		err   error
	)
	if src == "-" {
		if c.stdin == nil {
			c.errf("Error reading policy: %s", errNoStdin)
			return exitLocal
		}
		rules, err = io.ReadAll(c.stdin)
	} else {
		rules, err = os.ReadFile(src)
	}
	if err != nil {
		c.errf("Error reading policy: %s", err)
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	if err := cl.Sys().PutPolicyWithContext(c.ctx(), name, string(rules)); err != nil {
		c.errf("Error uploading policy: %s", err)
		return exitRemote
	}
	c.outf("Success! Uploaded policy: %s", name)
	return exitOK
}

// runPolicyRead implements `coffer policy read`.
func runPolicyRead(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("policy read", policyReadUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	name := policyName(c.fs.Arg(0))
	rules, err := cl.Sys().GetPolicyWithContext(c.ctx(), name)
	if err != nil {
		c.errf("Error reading policy named %s: %s", name, err)
		return exitRemote
	}
	if rules == "" {
		c.errf("No policy named: %s", name)
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(map[string]string{"policy": rules})
	}
	c.outf("%s", strings.TrimSpace(rules))
	return exitOK
}

// runPolicyList implements `coffer policy list`.
func runPolicyList(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("policy list", policyListUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	names, err := cl.Sys().ListPoliciesWithContext(c.ctx())
	if err != nil {
		c.errf("Error listing policies: %s", err)
		return exitRemote
	}
	if c.json() {
		if names == nil {
			names = []string{}
		}
		return c.outputJSON(names)
	}
	for _, n := range names {
		c.outf("%s", n)
	}
	return exitOK
}

// runPolicyDelete implements `coffer policy delete`.
func runPolicyDelete(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("policy delete", policyDeleteUsage, 0, stdin, stdout, stderr)
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	name := policyName(c.fs.Arg(0))
	if err := cl.Sys().DeletePolicyWithContext(c.ctx(), name); err != nil {
		c.errf("Error deleting %s: %s", name, err)
		return exitRemote
	}
	c.outf("Success! Deleted policy: %s", name)
	return exitOK
}

// runPolicyFmt implements `coffer policy fmt`. It needs no server.
func runPolicyFmt(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("policy fmt", policyFmtUsage, 0, stdin, stdout, stderr)
	if code, ok := c.parseArgs(args, 1, 1); !ok {
		return code
	}
	p := strings.TrimSpace(c.fs.Arg(0))
	if rest, ok := strings.CutPrefix(p, "~/"); ok && userHome() != "" {
		p = filepath.Join(userHome(), rest)
	}
	src, err := os.ReadFile(p)
	if err != nil {
		c.errf("Error reading source file: %s", err)
		return exitLocal
	}
	out, err := formatPolicy(src)
	if err != nil {
		c.errf("%s", err)
		return exitLocal
	}
	if err := os.WriteFile(p, out, 0o644); err != nil { // an existing file keeps its mode
		c.errf("Error writing result: %s", err)
		return exitLocal
	}
	c.outf("Success! Formatted policy: %s", p)
	return exitOK
}

// policyName normalises a policy name as Vault does: trimmed, lower-case.
func policyName(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// Errors from checking an ACL policy document.
var (
	errPolicyNoRoot   = errors.New("failed to parse policy: does not contain a root object")
	errPolicyWrapTTLs = errors.New("max_wrapping_ttl cannot be less than min_wrapping_ttl")
)

// policyPathKeys are the keys a `path "..." {}` block may hold.
var policyPathKeys = map[string]bool{
	"comment": true, "policy": true, "capabilities": true,
	"allowed_parameters": true, "denied_parameters": true, "required_parameters": true,
	"min_wrapping_ttl": true, "max_wrapping_ttl": true,
	"mfa_methods": true, "control_group": true, "subscribe_event_types": true,
}

// policyCapabilities are the capability names a path may grant.
var policyCapabilities = map[string]bool{
	"create": true, "read": true, "update": true, "patch": true, "delete": true,
	"list": true, "sudo": true, "deny": true, "subscribe": true, "recover": true,
}

// policyLegacy are the values of the old `policy = "..."` shorthand.
var policyLegacy = map[string]bool{"deny": true, "read": true, "write": true, "sudo": true, "list": true}

// formatPolicy checks src is an ACL policy (HCL syntax, known keys, known
// capabilities, parseable wrapping TTLs) and returns it in canonical HCL
// layout. It checks what the CLI can without the server; the server's
// parser remains the authority on upload.
func formatPolicy(src []byte) ([]byte, error) {
	f, err := hcl.ParseBytes(src)
	if err != nil {
		return nil, fmt.Errorf("failed to parse policy: %w", err)
	}
	list, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, errPolicyNoRoot
	}
	if err := checkHCLKeys(list, map[string]bool{"name": true, "path": true}); err != nil {
		return nil, fmt.Errorf("failed to parse policy: %w", err)
	}
	for _, item := range list.Filter("path").Items {
		if err := checkPolicyPath(item); err != nil {
			return nil, err
		}
	}
	out, err := printer.Format(src)
	if err != nil {
		return nil, fmt.Errorf("error printing result: %w", err)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out, nil
}

// policyPathRules is the part of a path block formatPolicy checks.
type policyPathRules struct {
	Policy         string   `hcl:"policy"`
	Capabilities   []string `hcl:"capabilities"`
	MinWrappingTTL any      `hcl:"min_wrapping_ttl"`
	MaxWrappingTTL any      `hcl:"max_wrapping_ttl"`
}

// checkPolicyPath checks one `path "..." {}` block (its "path" key already
// stripped by Filter).
func checkPolicyPath(item *ast.ObjectItem) error {
	if len(item.Keys) == 0 {
		return errors.New(`failed to parse policy: path block without a path, want path "..." { ... }`)
	}
	key, _ := item.Keys[0].Token.Value().(string)
	obj, ok := item.Val.(*ast.ObjectType)
	if !ok {
		return fmt.Errorf("path %q: want a block", key)
	}
	if err := checkHCLKeys(obj.List, policyPathKeys); err != nil {
		return fmt.Errorf("path %q: %w", key, err)
	}
	var rules policyPathRules
	if err := hcl.DecodeObject(&rules, item.Val); err != nil {
		return fmt.Errorf("path %q: %w", key, err)
	}
	if rules.Policy != "" && !policyLegacy[rules.Policy] {
		return fmt.Errorf("path %q: invalid policy %q", key, rules.Policy)
	}
	for _, cp := range rules.Capabilities {
		if !policyCapabilities[cp] {
			return fmt.Errorf("path %q: invalid capability %q", key, cp)
		}
	}
	minTTL, err := policyDuration(rules.MinWrappingTTL)
	if err != nil {
		return fmt.Errorf("path %q: error parsing min_wrapping_ttl: %w", key, err)
	}
	maxTTL, err := policyDuration(rules.MaxWrappingTTL)
	if err != nil {
		return fmt.Errorf("path %q: error parsing max_wrapping_ttl: %w", key, err)
	}
	if minTTL > 0 && maxTTL > 0 && maxTTL < minTTL {
		return fmt.Errorf("path %q: %w", key, errPolicyWrapTTLs)
	}
	return nil
}

// checkHCLKeys rejects any key of list not in valid.
func checkHCLKeys(list *ast.ObjectList, valid map[string]bool) error {
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			continue
		}
		k, _ := item.Keys[0].Token.Value().(string)
		if !valid[k] {
			return fmt.Errorf("invalid key %q on line %d", k, item.Keys[0].Token.Pos.Line)
		}
	}
	return nil
}

// policyDuration parses a wrapping TTL: a number of seconds or a Go
// duration string; nil is zero.
func policyDuration(v any) (time.Duration, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case int:
		return time.Duration(v) * time.Second, nil
	case int64:
		return time.Duration(v) * time.Second, nil
	case float64:
		return time.Duration(v * float64(time.Second)), nil
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		return time.ParseDuration(v)
	}
	return 0, fmt.Errorf("unsupported value %v", v)
}
