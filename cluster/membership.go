package cluster

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Server is one member of the Raft configuration.
type Server struct {
	ID      string `json:"node_id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
}

// Configuration returns the latest Raft configuration, leader marked.
func (n *Node) Configuration(ctx context.Context) ([]Server, error) {
	if !n.started.Load() {
		return nil, ErrNotStarted
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cluster: read configuration: %w", err)
	}
	_, leaderID := n.raft.LeaderWithID()
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{
			ID:      string(s.ID),
			Address: string(s.Address),
			Voter:   s.Suffrage == raft.Voter,
			Leader:  s.ID == leaderID,
		})
	}
	return out, nil
}

// membershipTimeout bounds one configuration change.
const membershipTimeout = 10 * time.Second

// AddNonvoter adds a server that receives the log but does not vote; the
// autopilot promotes it once it has caught up. Leader only.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	if err := n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout).Error(); err != nil {
		return fmt.Errorf("cluster: add non-voter %s: %w", id, err)
	}
	return nil
}

// AddVoter adds a voter, or promotes a non-voter. Leader only.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout).Error(); err != nil {
		return fmt.Errorf("cluster: add voter %s: %w", id, err)
	}
	return nil
}

// RemoveServer removes a server from the configuration. Leader only.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout).Error(); err != nil {
		return fmt.Errorf("cluster: remove %s: %w", id, err)
	}
	return nil
}

// StepDown hands leadership to another voter. Leader only.
func (n *Node) StepDown(ctx context.Context) error {
	if !n.started.Load() || n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("cluster: step down: %w", err)
	}
	return nil
}

// term is the node's current Raft term.
func (n *Node) term() uint64 {
	t, _ := strconv.ParseUint(n.raft.Stats()["term"], 10, 64)
	return t
}

// LastIndex is the index of the last entry in the node's log.
func (n *Node) LastIndex() uint64 {
	if !n.started.Load() {
		return 0
	}
	return n.raft.LastIndex()
}

// Term is the node's current Raft term (0 before Raft runs).
func (n *Node) Term() uint64 {
	if !n.started.Load() {
		return 0
	}
	return n.term()
}

// LastContact is when this node last heard from the leader (now, on the
// leader itself).
func (n *Node) LastContact() time.Time {
	if !n.started.Load() {
		return time.Time{}
	}
	if n.raft.State() == raft.Leader {
		return time.Now()
	}
	return n.raft.LastContact()
}

// RaftAddr is the address other nodes reach this node's Raft at.
func (n *Node) RaftAddr() string {
	if n.cfg.StreamLayer != nil {
		return n.cfg.StreamLayer.Addr().String()
	}
	return n.cfg.AdvertiseAddr
}

// IsMember reports whether id is in the latest Raft configuration (a
// removed node's certificate stays valid until it expires; its RPCs are
// refused with this check).
func (n *Node) IsMember(id string) bool {
	if !n.started.Load() || id == "" {
		return false
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}
