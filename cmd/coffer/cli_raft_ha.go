package main

import (
	"io"
	"strconv"
	"time"
)

const operatorStepDownUsage = `
Usage: coffer operator step-down [options]

  Forces the Coffer node at the given address to step down from active duty
  (Raft leadership). Another node is elected; the same node may be elected
  again if no other can be.

      $ coffer operator step-down
`

const operatorMembersUsage = `
Usage: coffer operator members [options]

  Provides the details of all the nodes in the cluster, as the active node
  last heard from them.

      $ coffer operator members
`

// runOperatorStepDown implements `coffer operator step-down`.
func runOperatorStepDown(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator step-down", operatorStepDownUsage, 0, stdin, stdout, stderr)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	if err := cl.Sys().StepDownWithContext(c.ctx()); err != nil {
		c.errf("Error stepping down: %s", err)
		return exitRemote
	}
	c.outf("Success! Stepped down: %s", cl.Address())
	return exitOK
}

// runOperatorMembers implements `coffer operator members`.
func runOperatorMembers(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator members", operatorMembersUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	resp, err := cl.Sys().HAStatusWithContext(c.ctx())
	if err != nil {
		c.errf("Error reading the cluster members: %s", err)
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(resp)
	}
	rows := [][]string{{"Host Name", "API Address", "Cluster Address", "Active Node", "Version", "Upgrade Version", "Redundancy Zone", "Last Echo"}}
	for _, n := range resp.Nodes {
		echo := ""
		if n.LastEcho != nil {
			echo = n.LastEcho.Format(time.RFC3339)
		}
		rows = append(rows, []string{n.Hostname, n.APIAddress, n.ClusterAddress, strconv.FormatBool(n.ActiveNode),
			n.Version, n.UpgradeVersion, n.RedundancyZone, echo})
	}
	c.outf("%s", formatTable(rows))
	return exitOK
}
