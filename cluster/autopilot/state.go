package autopilot

import (
	"encoding/json"
	"slices"
	"time"
)

// State is the cluster as autopilot last saw it. Its JSON is the "data" of
// Vault's GET sys/storage/raft/autopilot/state, which vault/api decodes
// into api.AutopilotState.
type State struct {
	// Healthy: every server in the configuration is healthy.
	Healthy bool `json:"healthy"`
	// FailureTolerance is how many voters can fail without losing quorum:
	// healthy voters - (voters/2 + 1), at least 0.
	FailureTolerance int `json:"failure_tolerance"`
	// OptimisticFailureTolerance equals FailureTolerance (as in Vault CE,
	// which has no redundancy zones).
	OptimisticFailureTolerance int                     `json:"optimistic_failure_tolerance"`
	Servers                    map[string]*ServerState `json:"servers"`
	Leader                     string                  `json:"leader"`
	Voters                     []string                `json:"voters"`     // sorted
	NonVoters                  []string                `json:"non_voters"` // sorted
}

// The values of ServerState.NodeStatus, .Status and .NodeType.
const (
	NodeAlive  = "alive"
	NodeLeft   = "left"
	NodeFailed = "failed"

	StatusLeader   = "leader"
	StatusVoter    = "voter"
	StatusNonVoter = "non-voter"

	// NodeTypeVoter is every server's node type: each one is meant to
	// vote once caught up (Vault CE reports the same).
	NodeTypeVoter = "voter"
)

// ServerState is one server in State.
type ServerState struct {
	ID      string
	Name    string // the server ID, as in Vault
	Address string // Raft address
	// NodeStatus is NodeAlive, NodeLeft or NodeFailed (gossip's view).
	NodeStatus string
	// LastContact is how long ago the leader last heard from it; zero for
	// the leader; since autopilot first saw it if never.
	LastContact time.Duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	// StableSince is when Healthy last changed (or autopilot first saw it).
	StableSince time.Time
	Status      string // StatusLeader, StatusVoter or StatusNonVoter
	Version     string
	NodeType    string
}

// serverStateJSON is ServerState on the wire: durations and times as
// strings, like Vault.
type serverStateJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	NodeStatus  string `json:"node_status"`
	LastContact string `json:"last_contact"`
	LastTerm    uint64 `json:"last_term"`
	LastIndex   uint64 `json:"last_index"`
	Healthy     bool   `json:"healthy"`
	StableSince string `json:"stable_since"`
	Status      string `json:"status"`
	Version     string `json:"version"`
	NodeType    string `json:"node_type"`
}

// MarshalJSON writes LastContact as a Go duration string ("1.2s") and
// StableSince as RFC 3339 with nanoseconds, as Vault does.
func (s ServerState) MarshalJSON() ([]byte, error) {
	return json.Marshal(serverStateJSON{
		ID:          s.ID,
		Name:        s.Name,
		Address:     s.Address,
		NodeStatus:  s.NodeStatus,
		LastContact: s.LastContact.String(),
		LastTerm:    s.LastTerm,
		LastIndex:   s.LastIndex,
		Healthy:     s.Healthy,
		StableSince: s.StableSince.Format(time.RFC3339Nano),
		Status:      s.Status,
		Version:     s.Version,
		NodeType:    s.NodeType,
	})
}

// clone returns a deep copy, so callers of Autopilot.State cannot change
// the published one.
func (s *State) clone() *State {
	if s == nil {
		return nil
	}
	out := *s
	out.Servers = make(map[string]*ServerState, len(s.Servers))
	for id, srv := range s.Servers {
		c := *srv
		out.Servers[id] = &c
	}
	out.Voters = slices.Clone(s.Voters)
	out.NonVoters = slices.Clone(s.NonVoters)
	return &out
}

// buildState summarises one pass's view of the servers.
func buildState(leader string, views []*serverView) *State {
	st := &State{
		Leader:    leader,
		Servers:   make(map[string]*ServerState, len(views)),
		Voters:    []string{},
		NonVoters: []string{},
		Healthy:   true,
	}
	healthyVoters := 0
	for _, v := range views {
		status := StatusNonVoter
		switch {
		case v.ID == leader:
			status = StatusLeader
		case v.Suffrage == Voter:
			status = StatusVoter
		}
		if v.Suffrage == Voter {
			st.Voters = append(st.Voters, v.ID)
			if v.healthy {
				healthyVoters++
			}
		} else {
			st.NonVoters = append(st.NonVoters, v.ID)
		}
		if !v.healthy {
			st.Healthy = false
		}
		st.Servers[v.ID] = &ServerState{
			ID:          v.ID,
			Name:        v.ID,
			Address:     v.Address,
			NodeStatus:  v.nodeStatus(),
			LastContact: v.sinceContact,
			LastTerm:    v.health.Term,
			LastIndex:   v.health.AppliedIndex,
			Healthy:     v.healthy,
			StableSince: v.stableSince,
			Status:      status,
			Version:     v.health.Version,
			NodeType:    NodeTypeVoter,
		}
	}
	slices.Sort(st.Voters)
	slices.Sort(st.NonVoters)
	st.FailureTolerance = failureTolerance(len(st.Voters), healthyVoters)
	st.OptimisticFailureTolerance = st.FailureTolerance
	return st
}

// failureTolerance is how many more voters may fail before quorum is lost.
func failureTolerance(voters, healthyVoters int) int {
	return max(0, healthyVoters-(voters/2+1))
}
