package autopilot

import (
	"slices"
	"time"
)

// serverView is one server during a pass: its configuration entry, its
// health as reported, and what autopilot concluded.
type serverView struct {
	Server
	health       Health // as reported (leader's filled in, see observe)
	isLeader     bool
	healthy      bool          // isHealthy's verdict this pass
	stableSince  time.Time     // when healthy last changed
	sinceContact time.Duration // since last contact, or since first seen if never
}

// tracking is what autopilot remembers about a server between passes.
type tracking struct {
	firstSeen   time.Time
	healthy     bool
	stableSince time.Time
}

// cluster is the leader's side of a pass.
type cluster struct {
	leader    string
	lastIndex uint64
	term      uint64
	now       time.Time
}

func (v *serverView) nodeStatus() string {
	switch {
	case v.health.Alive:
		return NodeAlive
	case v.health.Left:
		return NodeLeft
	default:
		return NodeFailed
	}
}

// isHealthy is the health rule: alive, unsealed, heard from within
// LastContactThreshold, on the leader's term, and at most MaxTrailingLogs
// behind the leader's last index. The leader always counts as alive and
// freshly contacted.
func isHealthy(cfg Config, c cluster, h Health) bool {
	if !h.Alive || h.Sealed {
		return false
	}
	if h.LastContact.IsZero() || c.now.Sub(h.LastContact) > cfg.LastContactThreshold {
		return false
	}
	if h.Term != c.term {
		return false
	}
	if c.lastIndex > h.AppliedIndex && c.lastIndex-h.AppliedIndex > cfg.MaxTrailingLogs {
		return false
	}
	return true
}

// observe builds this pass's view of every configured server (sorted by ID)
// and updates tracked: first sight, and when health last changed. Servers
// no longer configured are forgotten.
func observe(cfg Config, c cluster, servers []Server, health map[string]Health, tracked map[string]*tracking) []*serverView {
	views := make([]*serverView, 0, len(servers))
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		seen[s.ID] = true
		h := health[s.ID]
		isLeader := s.ID == c.leader
		if isLeader {
			h.Alive, h.Left, h.LastContact = true, false, c.now
			if h.Term == 0 {
				h.Term = c.term
			}
			if h.AppliedIndex == 0 {
				h.AppliedIndex = c.lastIndex
			}
		}
		healthy := isHealthy(cfg, c, h)
		t, ok := tracked[s.ID]
		if !ok {
			t = &tracking{firstSeen: c.now, healthy: healthy, stableSince: c.now}
			tracked[s.ID] = t
		} else if t.healthy != healthy {
			t.healthy, t.stableSince = healthy, c.now
		}
		since := c.now.Sub(t.firstSeen)
		switch {
		case isLeader:
			since = 0
		case !h.LastContact.IsZero():
			since = max(0, c.now.Sub(h.LastContact))
		}
		views = append(views, &serverView{
			Server:       s,
			health:       h,
			isLeader:     isLeader,
			healthy:      healthy,
			stableSince:  t.stableSince,
			sinceContact: since,
		})
	}
	for id := range tracked {
		if !seen[id] {
			delete(tracked, id)
		}
	}
	slices.SortFunc(views, func(a, b *serverView) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return views
}

// promotions returns the non-voters that have been healthy for at least
// ServerStabilizationTime, in ID order.
func promotions(cfg Config, now time.Time, views []*serverView) []*serverView {
	var out []*serverView
	for _, v := range views {
		if v.Suffrage != Voter && v.healthy && now.Sub(v.stableSince) >= cfg.ServerStabilizationTime {
			out = append(out, v)
		}
	}
	return out
}

// deadCandidate: cleanup may remove v — never the leader, not alive in
// gossip, and no contact for longer than DeadServerLastContactThreshold.
func deadCandidate(cfg Config, v *serverView) bool {
	return cfg.CleanupDeadServers && !v.isLeader && !v.health.Alive &&
		v.sinceContact > cfg.DeadServerLastContactThreshold
}

// removals returns the servers to remove this pass: every dead non-voter,
// and at most one dead voter (the one silent longest), and that only if
// the voters left are at least MinQuorum and their healthy members still a
// majority of them. blocked lists dead voters kept for quorum's sake.
func removals(cfg Config, views []*serverView) (remove []*serverView, blocked []*serverView) {
	if !cfg.CleanupDeadServers {
		return nil, nil
	}
	voters, healthyVoters := 0, 0
	var deadVoters []*serverView
	for _, v := range views {
		if v.Suffrage == Voter {
			voters++
			if v.healthy {
				healthyVoters++
			}
		}
		if !deadCandidate(cfg, v) {
			continue
		}
		if v.Suffrage == Voter {
			deadVoters = append(deadVoters, v)
		} else {
			remove = append(remove, v)
		}
	}
	// Longest silent first; ties by ID (views are sorted, the sort is stable).
	slices.SortStableFunc(deadVoters, func(a, b *serverView) int {
		switch {
		case a.sinceContact > b.sinceContact:
			return -1
		case a.sinceContact < b.sinceContact:
			return 1
		}
		return 0
	})
	for _, v := range deadVoters {
		left := voters - 1
		leftHealthy := healthyVoters
		if v.healthy {
			leftHealthy--
		}
		if left >= cfg.MinQuorum && leftHealthy >= left/2+1 {
			remove = append(remove, v)
			break
		}
		blocked = append(blocked, v)
	}
	return remove, blocked
}
