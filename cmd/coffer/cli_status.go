package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"
)

const statusUsage = `
Usage: coffer status [options]

  Prints the current state of Coffer including whether it is sealed and if HA
  mode is enabled. This command prints regardless of whether Coffer is sealed.

  The exit code reflects the seal status:

      - 0 - unsealed
      - 1 - error
      - 2 - sealed

      $ coffer status
`

// sealStatusOutput is what `status` and `operator unseal` print: the seal
// status plus the HA fields of sys/leader, in Vault's JSON shape.
type sealStatusOutput struct {
	api.SealStatusResponse
	HAEnabled            bool      `json:"ha_enabled"`
	IsSelf               bool      `json:"is_self,omitempty"`
	ActiveTime           time.Time `json:"active_time,omitzero"`
	LeaderAddress        string    `json:"leader_address,omitempty"`
	LeaderClusterAddress string    `json:"leader_cluster_address,omitempty"`
	RaftCommittedIndex   uint64    `json:"raft_committed_index,omitempty"`
	RaftAppliedIndex     uint64    `json:"raft_applied_index,omitempty"`
}

// runStatus implements `coffer status`.
func runStatus(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("status", statusUsage, withFormat, stdin, stdout, stderr)
	if code, ok := c.parseArgs(args, 0, 0); !ok {
		return code
	}
	// Vault's status reserves 2 for "sealed": every error is 1.
	cl, _ := c.client()
	if cl == nil {
		return exitLocal
	}
	st, err := cl.Sys().SealStatusWithContext(c.ctx())
	if err != nil {
		c.errf("Error checking seal status: %s", err)
		return exitLocal
	}
	if code := c.outputSealStatus(cl, st); code != exitOK {
		return code
	}
	if st.Sealed {
		return exitRemote
	}
	return exitOK
}

// outputSealStatus adds the HA fields from sys/leader to st and prints it.
// A sealed node cannot answer sys/leader, so then the call is made once,
// without retries, and a failure just means "HA enabled, mode unknown" — a
// Coffer node always runs Raft.
func (c *command) outputSealStatus(cl *api.Client, st *api.SealStatusResponse) int {
	out := sealStatusOutput{SealStatusResponse: *st}
	if st.Sealed {
		cl.SetMaxRetries(0)
	}
	leader, err := cl.Sys().LeaderWithContext(c.ctx())
	switch {
	case err != nil && st.Sealed:
		out.HAEnabled = true
	case err != nil:
		c.errf("Error checking leader status: %s", err)
		return exitLocal
	default:
		out.HAEnabled = leader.HAEnabled
		out.IsSelf = leader.IsSelf
		out.ActiveTime = leader.ActiveTime
		out.LeaderAddress = leader.LeaderAddress
		out.LeaderClusterAddress = leader.LeaderClusterAddress
		out.RaftCommittedIndex = leader.RaftCommittedIndex
		out.RaftAppliedIndex = leader.RaftAppliedIndex
	}
	if c.json() {
		return c.outputJSON(out)
	}
	c.outf("%s", formatTable(sealStatusRows(out)))
	return exitOK
}

// sealStatusRows is the Key/Value table `coffer status` prints, row for row
// as Vault's.
func sealStatusRows(s sealStatusOutput) [][]string {
	prefix := ""
	if s.RecoverySeal {
		prefix = "Recovery "
	}
	rows := [][]string{
		{"Key", "Value"},
		{prefix + "Seal Type", s.Type},
		{"Initialized", strconv.FormatBool(s.Initialized)},
		{"Sealed", strconv.FormatBool(s.Sealed)},
		{"Total " + prefix + "Shares", strconv.Itoa(s.N)},
		{"Threshold", strconv.Itoa(s.T)},
	}
	add := func(k, v string) { rows = append(rows, []string{k, v}) }
	if s.Sealed {
		add("Unseal Progress", fmt.Sprintf("%d/%d", s.Progress, s.T))
		add("Unseal Nonce", s.Nonce)
	}
	if s.Migration {
		add("Seal Migration in Progress", "true")
	}
	add("Version", s.Version)
	add("Build Date", s.BuildDate)
	add("Storage Type", s.StorageType)
	if s.ClusterName != "" && s.ClusterID != "" {
		add("Cluster Name", s.ClusterName)
		add("Cluster ID", s.ClusterID)
	}
	add("HA Enabled", strconv.FormatBool(s.HAEnabled))
	if s.HAEnabled && !s.Sealed {
		add("HA Cluster", s.LeaderClusterAddress)
		if s.IsSelf {
			add("HA Mode", "active")
			if !s.ActiveTime.IsZero() {
				add("Active Since", s.ActiveTime.Format(time.RFC3339Nano))
			}
		} else {
			add("HA Mode", "standby")
			addr := s.LeaderAddress
			if addr == "" {
				addr = "<none>"
			}
			add("Active Node Address", addr)
		}
	}
	if s.RaftCommittedIndex > 0 {
		add("Raft Committed Index", strconv.FormatUint(s.RaftCommittedIndex, 10))
	}
	if s.RaftAppliedIndex > 0 {
		add("Raft Applied Index", strconv.FormatUint(s.RaftAppliedIndex, 10))
	}
	if len(s.Warnings) > 0 {
		add("Warnings", fmt.Sprint(s.Warnings))
	}
	return rows
}
