package gossip

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// The states a Member can be in, as seen by this node.
const (
	StateAlive   = "alive"
	StateSuspect = "suspect"
	StateDead    = "dead"
	StateLeft    = "left"
)

// Member is one node as this node sees it.
type Member struct {
	NodeID string
	Addr   string // ip:port of its gossip endpoint
	State  string // StateAlive, StateSuspect, StateDead or StateLeft
	Meta   Meta
	// StateSince is when it entered State, as seen by this node.
	StateSince time.Time
	// LastAlive is the last time this node saw it alive: the current time
	// while it is alive, otherwise the moment it stopped being alive.
	LastAlive time.Time
}

// roster tracks every member memberlist has told us about, including the
// ones that died or left, until Forget. It is memberlist's EventDelegate.
//
// memberlist calls the Notify methods with its node lock held, so roster
// must never call back into memberlist while handling them; it only takes
// its own mutex.
type roster struct {
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	members map[string]*Member
	leaving map[string]bool // nodes that sent a leave notice (see leave.go)
}

var _ memberlist.EventDelegate = (*roster)(nil)

func newRoster(logger *slog.Logger, now func() time.Time) *roster {
	return &roster{
		logger:  logger,
		now:     now,
		members: make(map[string]*Member),
		leaving: make(map[string]bool),
	}
}

// NotifyJoin records a node that joined (or came back).
func (r *roster) NotifyJoin(n *memberlist.Node) {
	r.mu.Lock()
	delete(r.leaving, n.Name)
	r.mu.Unlock()
	r.observe(n, StateAlive)
}

// NotifyUpdate records a node's new metadata.
func (r *roster) NotifyUpdate(n *memberlist.Node) { r.observe(n, StateAlive) }

// NotifyLeave records a node memberlist declared dead or that left. The
// two look the same here (memberlist does not fill in Node.State), so a
// node counts as left if it sent a leave notice.
func (r *roster) NotifyLeave(n *memberlist.Node) { r.observe(n, StateDead) }

// markLeaving records a leave notice from id. The notice travels apart
// from memberlist's leave message and may arrive after it, so a member
// already marked dead becomes left.
func (r *roster) markLeaving(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leaving[id] = true
	if m, ok := r.members[id]; ok && m.State == StateDead {
		m.State = StateLeft
		r.logger.Debug("gossip: member state", "node", id, "state", StateLeft)
	}
}

func (r *roster) observe(n *memberlist.Node, state string) {
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		r.logger.Debug("gossip: ignoring undecodable node metadata", "node", n.Name, "err", err)
	}
	now := r.now()

	r.mu.Lock()
	defer r.mu.Unlock()
	if state == StateDead && r.leaving[n.Name] {
		state = StateLeft
	}
	m, ok := r.members[n.Name]
	if !ok {
		m = &Member{NodeID: n.Name, StateSince: now}
		r.members[n.Name] = m
	} else if m.State != state {
		if m.State == StateAlive || m.State == StateSuspect {
			m.LastAlive = now
		}
		m.StateSince = now
	}
	if !ok || m.State != state {
		r.logger.Debug("gossip: member state", "node", n.Name, "state", state)
	}
	m.State = state
	m.Addr = n.Address()
	if err == nil && len(n.Meta) > 0 {
		m.Meta = meta
	}
	if state == StateAlive {
		m.LastAlive = now
	}
}

func (r *roster) snapshot(m *Member, now time.Time) Member {
	out := *m
	if out.State == StateAlive {
		out.LastAlive = now
	}
	return out
}

func (r *roster) list() []Member {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, r.snapshot(m, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

func (r *roster) get(id string) (Member, bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[id]
	if !ok {
		return Member{}, false
	}
	return r.snapshot(m, now), true
}

func (r *roster) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.members, id)
	delete(r.leaving, id)
}
