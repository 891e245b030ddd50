package main

import (
	"io"
	"strings"
	"time"
)

const leaseRenewUsage = `
Usage: coffer lease renew [options] LEASE_ID

  Renews the lease of a secret, extending the time it can be used before
  it is revoked. The increment is a request: the lease's max TTL caps it.

      $ coffer lease renew -increment=1h database/creds/readonly/2f6a614c...
`

const leaseRevokeUsage = `
Usage: coffer lease revoke [options] ID

  Revokes the secret behind a lease at once. With -prefix, ID is a prefix
  and every lease under it is revoked; with -force as well, leases whose
  backend refuses the revocation are dropped anyway (dangerous).

      $ coffer lease revoke database/creds/readonly/2f6a614c...
      $ coffer lease revoke -prefix database/creds/readonly
`

const leaseLookupUsage = `
Usage: coffer lease lookup LEASE_ID

  Shows a lease's issue and expiry times and its remaining TTL.

      $ coffer lease lookup database/creds/readonly/2f6a614c...
`

func runLeaseRenew(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("lease renew", leaseRenewUsage, withFormat, stdin, stdout, stderr)
	increment := c.fs.Duration("increment", 0, "The requested extension (e.g. 1h); 0 keeps the current TTL.")
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	s, err := cl.Sys().RenewWithContext(c.ctx(), strings.TrimSpace(c.fs.Arg(0)), int(increment.Round(time.Second)/time.Second))
	if err != nil {
		c.errf("Error renewing %s: %s", c.fs.Arg(0), err)
		return exitRemote
	}
	return c.outputSecret(s)
}

func runLeaseRevoke(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("lease revoke", leaseRevokeUsage, 0, stdin, stdout, stderr)
	prefix := c.fs.Bool("prefix", false, "Treat the ID as a prefix and revoke every lease under it.")
	force := c.fs.Bool("force", false, "With -prefix: drop the leases even if their backend refuses the revocation.")
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	id := strings.TrimSpace(c.fs.Arg(0))
	if *force && !*prefix {
		c.errf("-force requires -prefix")
		return exitLocal
	}
	var err error
	switch {
	case *force:
		err = cl.Sys().RevokeForceWithContext(c.ctx(), id)
	case *prefix:
		err = cl.Sys().RevokePrefixWithContext(c.ctx(), id)
	default:
		err = cl.Sys().RevokeWithContext(c.ctx(), id)
	}
	if err != nil {
		c.errf("Error revoking %s: %s", id, err)
		return exitRemote
	}
	c.outf("All revocation operations queued successfully!")
	return exitOK
}

func runLeaseLookup(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("lease lookup", leaseLookupUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	s, err := cl.Sys().LookupWithContext(c.ctx(), strings.TrimSpace(c.fs.Arg(0)))
	if err != nil {
		c.errf("Error looking up %s: %s", c.fs.Arg(0), err)
		return exitRemote
	}
	return c.outputSecret(s)
}
