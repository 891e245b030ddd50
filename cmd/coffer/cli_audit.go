package main

import (
	"errors"
	"io"

	"coffer/audit"
)

const auditVerifyUsage = `
Usage: coffer audit verify [options] FILE...

  Checks the hash chain of audit log files written by Coffer's file or
  socket audit devices. Give the files of one device oldest first (after
  rotation: the rotated files, then the current one). Every line must name
  the hash of the line before it, so an edited, inserted or deleted line,
  or a file cut short in the middle, is reported with the first bad line.
  Lines cut from the very end of the last file cannot be detected without
  checkpoints.

  With -key (the file named by the device's checkpoint_key_file option),
  every segment must be signed and every checkpoint must verify, so a log
  rewritten by someone without the key is detected too.

  Exits 0 and prints "OK: N lines in K segments" when the chain holds;
  exits 2 and prints "FAIL: FILE:LINE: reason" otherwise.

      $ coffer audit verify /var/log/coffer/audit.log.1 /var/log/coffer/audit.log
`

// runAuditVerify is "coffer audit verify [-key=FILE] FILE...".
func runAuditVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("audit verify", auditVerifyUsage, 0, stdin, stdout, stderr)
	keyFile := c.fs.String("key", "", "File holding the checkpoint key (hex), to check signed checkpoints.")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if !c.wantArgs(1, -1) {
		return exitLocal
	}
	var key []byte
	if *keyFile != "" {
		k, err := audit.ReadCheckpointKey(*keyFile)
		if err != nil {
			c.errf("Error reading the checkpoint key: %s", err)
			return exitLocal
		}
		key = k
		defer clear(key)
	}
	st, bad, err := audit.VerifyWithStats(c.fs.Args(), key)
	switch {
	case errors.Is(err, audit.ErrNoCheckpoints):
		c.outf("FAIL: %s", err)
		return exitRemote
	case err != nil:
		c.errf("Error: %s", err)
		return exitLocal
	case bad != nil:
		c.outf("FAIL: %s", bad)
		return exitRemote
	}
	c.outf("OK: %d lines in %d segments", st.Lines, st.Segments)
	if key != nil {
		c.outf("Checkpoints: %d verified; %d lines after the last one are not yet covered by a checkpoint", st.Checkpoints, st.Unsigned)
	}
	if st.Chains > 1 {
		c.outf("Note: the chain starts afresh %d times (a device started without history, or the files are out of order)", st.Chains-1)
	}
	return exitOK
}
