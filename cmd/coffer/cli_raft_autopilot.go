package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

const operatorRaftAutopilotStateUsage = `
Usage: coffer operator raft autopilot state [options]

  Displays the state of the Raft cluster as seen by autopilot: whether it is
  healthy, how many servers it can lose, the leader, the voters and the
  health of every server.

      $ coffer operator raft autopilot state
`

const operatorRaftAutopilotGetConfigUsage = `
Usage: coffer operator raft autopilot get-config [options]

  Returns the configuration of autopilot, which removes dead servers and
  promotes caught-up non-voters.

      $ coffer operator raft autopilot get-config
`

const operatorRaftAutopilotSetConfigUsage = `
Usage: coffer operator raft autopilot set-config [options]

  Modifies the configuration of autopilot. Only the options given are
  changed; the others keep their current values.

      $ coffer operator raft autopilot set-config \
          -cleanup-dead-servers=true \
          -dead-server-last-contact-threshold=10m \
          -min-quorum=3
`

// runOperatorRaftAutopilotState implements `coffer operator raft autopilot state`.
func runOperatorRaftAutopilotState(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft autopilot state", operatorRaftAutopilotStateUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	state, err := cl.Sys().RaftAutopilotStateWithContext(c.ctx())
	if err != nil {
		c.errf("Error checking autopilot state: %s", err)
		return exitRemote
	}
	if state == nil {
		c.errf("Error checking autopilot state: no autopilot state found")
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(state)
	}
	fmt.Fprint(c.stdout, formatAutopilotState(state))
	return exitOK
}

// formatAutopilotState renders state as Vault's "pretty" format does.
func formatAutopilotState(state *api.AutopilotState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Healthy:                         %t\n", state.Healthy)
	fmt.Fprintf(&b, "Failure Tolerance:               %d\n", state.FailureTolerance)
	fmt.Fprintf(&b, "Leader:                          %s\n", state.Leader)
	b.WriteString("Voters:\n")
	for _, v := range state.Voters {
		fmt.Fprintf(&b, "   %s\n", v)
	}
	if len(state.NonVoters) > 0 {
		b.WriteString("Non Voters:\n")
		for _, v := range state.NonVoters {
			fmt.Fprintf(&b, "   %s\n", v)
		}
	}
	if state.OptimisticFailureTolerance > 0 {
		fmt.Fprintf(&b, "Optimistic Failure Tolerance:    %d\n", state.OptimisticFailureTolerance)
	}
	b.WriteString("Servers:\n")
	ids := make([]string, 0, len(state.Servers))
	for id := range state.Servers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		srv := state.Servers[id]
		if srv == nil {
			continue
		}
		fmt.Fprintf(&b, "   %s\n", srv.ID)
		fmt.Fprintf(&b, "      Name:              %s\n", srv.Name)
		fmt.Fprintf(&b, "      Address:           %s\n", srv.Address)
		fmt.Fprintf(&b, "      Status:            %s\n", srv.Status)
		fmt.Fprintf(&b, "      Node Status:       %s\n", srv.NodeStatus)
		fmt.Fprintf(&b, "      Healthy:           %t\n", srv.Healthy)
		fmt.Fprintf(&b, "      Last Contact:      %s\n", srv.LastContact)
		fmt.Fprintf(&b, "      Last Term:         %d\n", srv.LastTerm)
		fmt.Fprintf(&b, "      Last Index:        %d\n", srv.LastIndex)
		fmt.Fprintf(&b, "      Version:           %s\n", srv.Version)
		if srv.UpgradeVersion != "" {
			fmt.Fprintf(&b, "      Upgrade Version:   %s\n", srv.UpgradeVersion)
		}
		if srv.RedundancyZone != "" {
			fmt.Fprintf(&b, "      Redundancy Zone:   %s\n", srv.RedundancyZone)
		}
		if srv.NodeType != "" {
			fmt.Fprintf(&b, "      Node Type:         %s\n", srv.NodeType)
		}
	}
	return b.String()
}

// runOperatorRaftAutopilotGetConfig implements `coffer operator raft autopilot get-config`.
func runOperatorRaftAutopilotGetConfig(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft autopilot get-config", operatorRaftAutopilotGetConfigUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	conf, err := cl.Sys().RaftAutopilotConfigurationWithContext(c.ctx())
	if err != nil {
		c.errf("Error reading autopilot configuration: %s", err)
		return exitRemote
	}
	if conf == nil {
		c.errf("Error reading autopilot configuration: no autopilot configuration found")
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(conf)
	}
	c.outf("%s", formatTable([][]string{
		{"Key", "Value"},
		{"Cleanup Dead Servers", strconv.FormatBool(conf.CleanupDeadServers)},
		{"Last Contact Threshold", conf.LastContactThreshold.String()},
		{"Dead Server Last Contact Threshold", conf.DeadServerLastContactThreshold.String()},
		{"Server Stabilization Time", conf.ServerStabilizationTime.String()},
		{"Min Quorum", strconv.FormatUint(uint64(conf.MinQuorum), 10)},
		{"Max Trailing Logs", strconv.FormatUint(conf.MaxTrailingLogs, 10)},
		{"Disable Upgrade Migration", strconv.FormatBool(conf.DisableUpgradeMigration)},
	}))
	return exitOK
}

// runOperatorRaftAutopilotSetConfig implements `coffer operator raft autopilot set-config`.
func runOperatorRaftAutopilotSetConfig(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft autopilot set-config", operatorRaftAutopilotSetConfigUsage, withFormat, stdin, stdout, stderr)
	var cleanup optionalBool
	var lastContact, deadLastContact, stabilization time.Duration
	var maxTrailing uint64
	var minQuorum uint
	c.fs.Var(&cleanup, "cleanup-dead-servers", "Remove dead servers from the Raft peer set periodically and when a new server joins.")
	c.fs.DurationVar(&lastContact, "last-contact-threshold", 0, "How long a server may go without contact from the leader before it is unhealthy.")
	c.fs.DurationVar(&deadLastContact, "dead-server-last-contact-threshold", 0, "How long a server may go without contact from the leader before it is dead (with -cleanup-dead-servers).")
	c.fs.Uint64Var(&maxTrailing, "max-trailing-logs", 0, "How many log entries a server may lag behind the leader before it is unhealthy.")
	c.fs.UintVar(&minQuorum, "min-quorum", 0, "Minimum number of servers the cluster keeps before autopilot prunes dead ones; at least 3.")
	c.fs.DurationVar(&stabilization, "server-stabilization-time", 0, "How long a server must be healthy before it is promoted to voter.")
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	data := map[string]any{}
	if cleanup.set {
		data["cleanup_dead_servers"] = cleanup.value
	}
	if maxTrailing > 0 {
		data["max_trailing_logs"] = maxTrailing
	}
	if minQuorum > 0 {
		data["min_quorum"] = minQuorum
	}
	for k, d := range map[string]time.Duration{"last_contact_threshold": lastContact,
		"dead_server_last_contact_threshold": deadLastContact, "server_stabilization_time": stabilization} {
		if d > 0 {
			data[k] = d.String()
		}
	}
	body, err := json.Marshal(data)
	if err != nil {
		c.errf("Error updating autopilot configuration: %s", err)
		return exitLocal
	}
	var resp api.Secret
	if err := sendJSON(c.ctx(), cl, http.MethodPost, "sys/storage/raft/autopilot/configuration", body, &resp); err != nil {
		c.errf("Error updating autopilot configuration: %s", err)
		return exitRemote
	}
	if len(resp.Data) == 0 && len(resp.Warnings) == 0 {
		return exitOK
	}
	return c.outputSecret(&resp)
}
