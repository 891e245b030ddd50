package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

const tokenCreateUsage = `
Usage: coffer token create [options]

  Creates a new token that can be used for authentication. The token is a
  child of the token that creates it unless -orphan is given. It gets the
  policies given with -policy (a subset of the creator's, unless the creator
  is root), plus "default" unless -no-default-policy is given.

      $ coffer token create -policy=app -ttl=1h
      $ coffer token create -policy=app -period=24h -metadata=team=ops
      $ coffer token create -orphan -use-limit=3
      $ coffer token create -role=ci
`

const tokenLookupUsage = `
Usage: coffer token lookup [options] [TOKEN | ACCESSOR]

  Displays information about a token or an accessor. With no argument, looks
  up the token the CLI is using (lookup-self).

      $ coffer token lookup
      $ coffer token lookup s.3jnbMAKl1i4YS3QoKdbHzGXq
      $ coffer token lookup -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da
`

const tokenRenewUsage = `
Usage: coffer token renew [options] [TOKEN]

  Renews a token's lease, extending how long it may be used. With no
  argument, renews the token the CLI is using (renew-self). -increment asks
  for a new TTL; the server may grant less.

      $ coffer token renew
      $ coffer token renew -increment=30m s.3jnbMAKl1i4YS3QoKdbHzGXq
      $ coffer token renew -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da
`

const tokenRevokeUsage = `
Usage: coffer token revoke [options] [TOKEN | ACCESSOR]

  Revokes a token and all its children. -mode=orphan revokes only the token,
  leaving its children as orphans; -mode=path revokes every token created
  under the given auth path prefix. -self revokes the token the CLI is using.

      $ coffer token revoke s.3jnbMAKl1i4YS3QoKdbHzGXq
      $ coffer token revoke -mode=orphan s.3jnbMAKl1i4YS3QoKdbHzGXq
      $ coffer token revoke -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da
      $ coffer token revoke -mode=path auth/userpass/
      $ coffer token revoke -self
`

const tokenCapabilitiesUsage = `
Usage: coffer token capabilities [options] [TOKEN] PATH

  Prints a token's capabilities on a path. With a TOKEN, asks
  sys/capabilities (which needs permission to ask about other tokens);
  without one, asks sys/capabilities-self for the token the CLI is using.

      $ coffer token capabilities secret/data/app/config
      $ coffer token capabilities s.3jnbMAKl1i4YS3QoKdbHzGXq cubbyhole/foo
`

// runTokenCreate implements `coffer token create`.
func runTokenCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("token create", tokenCreateUsage, withFormat|withField, stdin, stdout, stderr)
	var (
		id, displayName, role, tokenType, entityAlias string
		ttl, explicitMaxTTL, period                   durationFlag
		renewable                                     = true
		orphan, noDefaultPolicy                       bool
		useLimit                                      int
		policies                                      stringsFlag
		metadata                                      mapFlag
	)
	c.fs.StringVar(&id, "id", "", "Value for the token (root only); by default the server generates one.")
	c.fs.StringVar(&displayName, "display-name", "", "Name to associate with the token, shown in lookups and audit logs.")
	c.fs.Var(&ttl, "ttl", `Initial TTL of the token, e.g. "1h" or "3600"; renewals may extend it.`)
	c.fs.Var(&explicitMaxTTL, "explicit-max-ttl", "Hard limit on the token's lifetime, renewals included.")
	c.fs.Var(&period, "period", "Make a periodic token: each renewal resets its TTL to this period.")
	c.fs.BoolVar(&renewable, "renewable", true, "Allow the token to be renewed up to its maximum TTL.")
	c.fs.BoolVar(&orphan, "orphan", false, "Create the token with no parent, so revoking the creator leaves it.")
	c.fs.BoolVar(&noDefaultPolicy, "no-default-policy", false, `Do not attach the "default" policy.`)
	c.fs.IntVar(&useLimit, "use-limit", 0, "Number of uses after which the token is revoked; 0 is unlimited.")
	c.fs.IntVar(&useLimit, "num-uses", 0, "Alias for -use-limit.")
	c.fs.StringVar(&role, "role", "", "Create the token against this token role (auth/token/create/ROLE).")
	c.fs.StringVar(&tokenType, "type", "", `Token type: "service" or "batch" (default: the server's).`)
	c.fs.StringVar(&entityAlias, "entity-alias", "", "Entity alias to associate with the token (with -role).")
	c.fs.Var(&policies, "policy", "Policy to attach (repeatable, or comma-separated).")
	c.fs.Var(&metadata, "metadata", "Metadata as key=value (repeatable).")
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	if tokenType == "batch" {
		renewable = false
	}
	req := &api.TokenCreateRequest{
		ID:              id,
		Policies:        policies,
		Metadata:        metadata,
		TTL:             ttl.String(),
		ExplicitMaxTTL:  explicitMaxTTL.String(),
		Period:          period.String(),
		NoParent:        orphan,
		NoDefaultPolicy: noDefaultPolicy,
		DisplayName:     displayName,
		NumUses:         useLimit,
		Renewable:       &renewable,
		Type:            tokenType,
		EntityAlias:     entityAlias,
	}
	tokens := cl.Auth().Token()
	var (
		s   *api.Secret
		err error
	)
	switch {
	case role != "":
		s, err = tokens.CreateWithRoleWithContext(c.ctx(), req, role)
	case orphan:
		s, err = tokens.CreateOrphanWithContext(c.ctx(), req)
	default:
		s, err = tokens.CreateWithContext(c.ctx(), req)
	}
	return c.outputToken(s, err, "creating")
}

// runTokenLookup implements `coffer token lookup`.
func runTokenLookup(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("token lookup", tokenLookupUsage, withFormat|withField, stdin, stdout, stderr)
	return c.tokenOp(args, "looking up", func(tokens *api.TokenAuth, arg string, accessor bool) (*api.Secret, error) {
		switch {
		case arg == "":
			return tokens.LookupSelfWithContext(c.ctx())
		case accessor:
			return tokens.LookupAccessorWithContext(c.ctx(), arg)
		}
		return tokens.LookupWithContext(c.ctx(), arg)
	})
}

// runTokenRenew implements `coffer token renew`.
func runTokenRenew(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("token renew", tokenRenewUsage, withFormat|withField, stdin, stdout, stderr)
	var increment durationFlag
	c.fs.Var(&increment, "increment", `Requested new TTL, e.g. "30m" or "1800"; 0 asks for the token's default.`)
	c.fs.Var(&increment, "i", "Alias for -increment.")
	return c.tokenOp(args, "renewing", func(tokens *api.TokenAuth, arg string, accessor bool) (*api.Secret, error) {
		inc := increment.seconds()
		switch {
		case arg == "":
			return tokens.RenewSelfWithContext(c.ctx(), inc)
		case accessor:
			return tokens.RenewAccessorWithContext(c.ctx(), arg, inc)
		}
		return tokens.RenewWithContext(c.ctx(), arg, inc)
	})
}

// accessorHelp is the help of the -accessor flag of the token commands.
const accessorHelp = "Treat the argument as an accessor instead of a token."

// tokenOp runs `token lookup` or `token renew`: it takes at most one
// argument (exactly one with -accessor), calls op with the token API and
// the trimmed argument ("" for the CLI's own token), and prints the
// response; verb ("renewing") words the errors.
func (c *command) tokenOp(args []string, verb string, op func(tokens *api.TokenAuth, arg string, accessor bool) (*api.Secret, error)) int {
	var accessor bool
	c.fs.BoolVar(&accessor, "accessor", false, accessorHelp)
	if code, ok := c.parse(args); !ok {
		return code
	}
	switch n := c.fs.NArg(); {
	case accessor && n != 1:
		return c.usageError("%s with -accessor (expected 1, got %d)", tooFewOrMany(n, 1), n)
	case !c.wantArgs(0, 1):
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	s, err := op(cl.Auth().Token(), strings.TrimSpace(c.fs.Arg(0)), accessor)
	return c.outputToken(s, err, verb)
}

// outputToken prints the response to a token request, or why there is
// none; verb ("creating") words the errors.
func (c *command) outputToken(s *api.Secret, err error, verb string) int {
	if err != nil {
		c.errf("Error %s token: %s", verb, err)
		return exitRemote
	}
	if s == nil {
		c.errf("Error %s token: empty response", verb)
		return exitRemote
	}
	return c.outputResponse(s)
}

// runTokenRevoke implements `coffer token revoke`.
func runTokenRevoke(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("token revoke", tokenRevokeUsage, 0, stdin, stdout, stderr)
	var (
		self, accessor bool
		mode           string
	)
	c.fs.BoolVar(&self, "self", false, "Revoke the token the CLI is using.")
	c.fs.BoolVar(&accessor, "accessor", false, accessorHelp)
	c.fs.StringVar(&mode, "mode", "", `"orphan" revokes only the token, "path" every token under an auth path prefix; empty revokes the token and its children.`)
	if code, ok := c.parse(args); !ok {
		return code
	}
	n := c.fs.NArg()
	switch {
	case mode != "" && mode != "orphan" && mode != "path":
		return c.usageError("Invalid mode: %s", mode)
	case self && n > 0:
		return c.usageError("Too many arguments with -self (expected 0, got %d)", n)
	case !self && n > 1:
		return c.usageError("Too many arguments (expected 1 or -self, got %d)", n)
	case !self && n < 1:
		return c.usageError("Not enough arguments (expected 1 or -self, got %d)", n)
	case self && accessor:
		return c.usageError("Cannot use -self with -accessor")
	case self && mode != "":
		return c.usageError("Cannot use -self with -mode")
	case accessor && mode != "":
		return c.usageError("Cannot use -accessor with -mode=%s", mode)
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	arg := strings.TrimSpace(c.fs.Arg(0))
	tokens := cl.Auth().Token()
	var err error
	switch {
	case self:
		err = tokens.RevokeSelfWithContext(c.ctx(), "")
	case accessor:
		err = tokens.RevokeAccessorWithContext(c.ctx(), arg)
	case mode == "orphan":
		err = tokens.RevokeOrphanWithContext(c.ctx(), arg)
	case mode == "path":
		err = cl.Sys().RevokePrefixWithContext(c.ctx(), strings.TrimLeft(arg, "/"))
	default:
		err = tokens.RevokeTreeWithContext(c.ctx(), arg)
	}
	if err != nil {
		c.errf("Error revoking token: %s", err)
		return exitRemote
	}
	c.outf("Success! Revoked token (if it existed)")
	return exitOK
}

// runTokenCapabilities implements `coffer token capabilities`.
func runTokenCapabilities(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("token capabilities", tokenCapabilitiesUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 1, 2)
	if cl == nil {
		return code
	}
	token, p := "", strings.TrimSpace(c.fs.Arg(0))
	if c.fs.NArg() == 2 {
		token, p = strings.TrimSpace(c.fs.Arg(0)), strings.TrimSpace(c.fs.Arg(1))
	}
	caps, err := c.capabilities(cl, token, p)
	if err != nil {
		c.errf("Error listing capabilities: %s", err)
		return exitRemote
	}
	if caps == nil {
		c.errf("No capabilities found")
		return exitLocal
	}
	if c.json() {
		return c.outputJSON(caps)
	}
	sort.Strings(caps)
	c.outf("%s", strings.Join(caps, ", "))
	return exitOK
}

// capabilities asks sys/capabilities-self (token "") or sys/capabilities for
// a token's capabilities on p. The server answers with the capabilities
// under the path's own key and, for one path, under "capabilities" too.
func (c *command) capabilities(cl *api.Client, token, p string) ([]string, error) {
	endpoint, body := "sys/capabilities-self", map[string]any{"paths": []string{p}}
	if token != "" {
		endpoint = "sys/capabilities"
		body["token"] = token
	}
	s, err := cl.Logical().WriteWithContext(c.ctx(), endpoint, body)
	if err != nil {
		return nil, err
	}
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("data from server response is empty")
	}
	for _, key := range []string{p, sanitizePath(p), "capabilities"} {
		list, ok := s.Data[key].([]any)
		if !ok {
			continue
		}
		caps := make([]string, 0, len(list))
		for _, v := range list {
			caps = append(caps, fmt.Sprint(v))
		}
		return caps, nil
	}
	return nil, nil
}

// tooFewOrMany is Vault's wording for a wrong argument count.
func tooFewOrMany(got, want int) string {
	if got < want {
		return "Not enough arguments"
	}
	return "Too many arguments"
}

// durationFlag is a duration given as Go syntax ("1h30m") or as a number of
// seconds ("5400"), as Vault's duration flags accept.
type durationFlag time.Duration

func (d *durationFlag) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

func (d *durationFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*d = durationFlag(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = durationFlag(v)
	return nil
}

// seconds is the duration in whole seconds, as the API's increments are.
func (d durationFlag) seconds() int {
	return int(time.Duration(d) / time.Second)
}

// stringsFlag collects a repeatable flag whose values may also be
// comma-separated (-policy=a -policy=b,c).
type stringsFlag []string

func (s *stringsFlag) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

func (s *stringsFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}
