package system

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"coffer/cluster"
	"coffer/cluster/autopilot"
	"coffer/cluster/gossip"
	"coffer/engines"
)

// Gossip is a running gossip member (*gossip.Gossip).
type Gossip interface {
	Join(addrs []string) (int, error)
	Members() []gossip.Member
	Member(nodeID string) (gossip.Member, bool)
	Forget(nodeID string)
	UpdateMeta(timeout time.Duration) error
	Leave(timeout time.Duration) error
	Shutdown() error
}

// GossipStarter starts this node's gossip with the cluster's key; meta
// reports the node's current metadata.
type GossipStarter func(key []byte, meta func() gossip.Meta) (Gossip, error)

// gossipHolder is the running gossip, if any.
type gossipHolder struct {
	mu     sync.Mutex
	g      Gossip
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *System) gossipNow() Gossip {
	s.gossipState.mu.Lock()
	defer s.gossipState.mu.Unlock()
	return s.gossipState.g
}

// startGossip starts gossip with the key kept behind the barrier, joins
// the Raft peers, and keeps the metadata fresh. Failures are logged: gossip
// informs autopilot and ha-status, it does not gate serving.
func (s *System) startGossip() {
	if s.gossipStart == nil {
		return
	}
	blob, err := s.cluster.GetLocal(gossipKeyKey)
	if err != nil || blob == nil {
		s.logger.Info("gossip not started: no gossip key on this node yet")
		return
	}
	key, err := s.barrier.Decrypt(gossipKeyKey, blob)
	if err != nil {
		s.logger.Warn("gossip not started: the gossip key does not open", "error", err)
		return
	}
	defer clear(key)
	g, err := s.gossipStart(key, s.gossipMeta)
	if err != nil {
		s.logger.Warn("gossip not started", "error", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.gossipState.mu.Lock()
	s.gossipState.g, s.gossipState.cancel, s.gossipState.done = g, cancel, done
	s.gossipState.mu.Unlock()
	go func() {
		defer close(done)
		s.tendGossip(ctx, g)
	}()
}

// tendGossip joins peers the member list lacks and refreshes metadata.
func (s *System) tendGossip(ctx context.Context, g Gossip) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if servers, err := s.cluster.Configuration(ctx); err == nil {
			var missing []string
			for _, sv := range servers {
				if sv.ID == s.cluster.NodeID() {
					continue
				}
				if m, ok := g.Member(sv.ID); !ok || m.State != gossip.StateAlive {
					missing = append(missing, sv.Address)
				}
			}
			if len(missing) > 0 {
				_, _ = g.Join(missing)
			}
		}
		_ = g.UpdateMeta(time.Second)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *System) gossipMeta() gossip.Meta {
	return gossip.Meta{
		NodeID:       s.cluster.NodeID(),
		APIAddr:      s.apiAddr,
		ClusterAddr:  s.clusterAddr,
		Version:      s.version,
		Sealed:       s.barrier.Sealed(),
		AppliedIndex: s.cluster.AppliedIndex(),
	}
}

// stopGossip leaves the member list and stops gossip.
func (s *System) stopGossip() {
	s.gossipState.mu.Lock()
	g, cancel, done := s.gossipState.g, s.gossipState.cancel, s.gossipState.done
	s.gossipState.g, s.gossipState.cancel, s.gossipState.done = nil, nil, nil
	s.gossipState.mu.Unlock()
	if g == nil {
		return
	}
	cancel()
	<-done
	if err := g.Leave(time.Second); err != nil {
		s.logger.Debug("gossip leave", "error", err)
	}
	if err := g.Shutdown(); err != nil {
		s.logger.Debug("gossip shutdown", "error", err)
	}
}

// Records behind the barrier for autopilot.
const (
	autopilotConfigKey = "core/raft/autopilot"
	nonVotersKey       = "core/raft/non-voters"
)

// setNonVoter records (or forgets) a server that asked to stay a
// non-voter, so autopilot never promotes it.
func (s *System) setNonVoter(ctx context.Context, id string, on bool) error {
	ids, err := s.nonVoters(ctx)
	if err != nil {
		return err
	}
	has := slices.Contains(ids, id)
	switch {
	case on && !has:
		ids = append(ids, id)
	case !on && has:
		ids = slices.DeleteFunc(ids, func(x string) bool { return x == id })
	default:
		return nil
	}
	raw, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return s.barrier.Put(ctx, nonVotersKey, raw)
}

func (s *System) nonVoters(ctx context.Context) ([]string, error) {
	raw, err := s.barrier.Get(ctx, nonVotersKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("system: decode non-voters: %w", err)
	}
	return ids, nil
}

// autopilotState runs autopilot on the leader and answers its endpoints.
type autopilotState struct {
	s *System

	mu      sync.Mutex
	current *autopilot.Autopilot
	// contact is when the leader last heard from each peer (status RPC).
	contact map[string]peerContact
}

type peerContact struct {
	at     time.Time
	status cluster.Status
}

func newAutopilotState(s *System) *autopilotState {
	return &autopilotState{s: s, contact: map[string]peerContact{}}
}

// loadConfig reads the stored autopilot configuration over the defaults.
func (a *autopilotState) loadConfig(ctx context.Context) (autopilot.Config, error) {
	cfg := autopilot.DefaultConfig()
	raw, err := a.s.barrier.Get(ctx, autopilotConfigKey)
	if err != nil {
		return cfg, err
	}
	if raw == nil {
		return autopilot.ParseConfigUpdate(cfg, map[string]any{})
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return cfg, fmt.Errorf("system: decode autopilot config: %w", err)
	}
	return autopilot.ParseConfigUpdate(cfg, body)
}

// run is the autopilot leader service.
func (a *autopilotState) run(ctx context.Context) {
	cfg, err := a.loadConfig(ctx)
	if err != nil {
		a.s.logger.Warn("autopilot: config", "error", err)
	}
	ap := autopilot.New(cfg, &raftAdapter{s: a.s}, a.health, time.Now, a.s.logger.With("component", "autopilot"))
	a.mu.Lock()
	a.current = ap
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.current = nil
		a.mu.Unlock()
	}()
	ap.Run(ctx)
}

func (a *autopilotState) running() *autopilot.Autopilot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current
}

// health reports each server's health for autopilot: gossip liveness and
// seal state, and the progress each peer reports over the status RPC.
func (a *autopilotState) health() map[string]autopilot.Health {
	s := a.s
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	servers, err := s.cluster.Configuration(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string]autopilot.Health, len(servers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	g := s.gossipNow()
	for _, sv := range servers {
		if sv.ID == s.cluster.NodeID() {
			self := autopilot.Health{Alive: true, LastContact: time.Now(), AppliedIndex: s.cluster.AppliedIndex(), Term: s.cluster.Term(), Version: s.version}
			mu.Lock() // peers' goroutines may already be writing out
			out[sv.ID] = self
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(sv cluster.Server) {
			defer wg.Done()
			h := autopilot.Health{}
			if g != nil {
				if m, ok := g.Member(sv.ID); ok {
					h.Alive = m.State == gossip.StateAlive
					h.Left = m.State == gossip.StateLeft
					h.Sealed = m.Meta.Sealed
					h.Version = m.Meta.Version
				}
			}
			st, err := s.cluster.PeerStatus(ctx, sv.Address)
			a.mu.Lock()
			if err == nil {
				a.contact[sv.ID] = peerContact{at: time.Now(), status: st}
				if g == nil {
					h.Alive = true
				}
			}
			c := a.contact[sv.ID]
			a.mu.Unlock()
			h.LastContact, h.AppliedIndex, h.Term = c.at, c.status.AppliedIndex, c.status.Term
			mu.Lock()
			out[sv.ID] = h
			mu.Unlock()
		}(sv)
	}
	wg.Wait()
	return out
}

func (a *autopilotState) stateResponse() (*engines.Response, error) {
	ap := a.running()
	if ap == nil {
		return nil, &engines.Error{Code: engines.CodeUnavailable, Message: "autopilot is not running on this node yet"}
	}
	return jsonResponse(ap.State())
}

func (a *autopilotState) configResponse() (*engines.Response, error) {
	cfg, err := a.loadConfig(context.Background())
	if ap := a.running(); ap != nil {
		cfg, err = ap.Config(), nil
	}
	if err != nil {
		return nil, err
	}
	return jsonResponse(cfg.JSON())
}

func (a *autopilotState) updateConfig(ctx context.Context, body map[string]any) error {
	base, err := a.loadConfig(ctx)
	if err != nil {
		return err
	}
	cfg, err := autopilot.ParseConfigUpdate(base, body)
	if err != nil {
		return engines.BadRequest("%s", err.Error())
	}
	raw, err := json.Marshal(cfg.JSON())
	if err != nil {
		return err
	}
	if err := a.s.barrier.Put(ctx, autopilotConfigKey, raw); err != nil {
		return err
	}
	if ap := a.running(); ap != nil {
		ap.SetConfig(cfg)
	}
	return nil
}

// jsonResponse turns a struct into a response's data through JSON.
func jsonResponse(v any) (*engines.Response, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		return nil, err
	}
	return &engines.Response{Data: data}, nil
}

// raftAdapter is autopilot's view of the Raft node.
type raftAdapter struct{ s *System }

func (r *raftAdapter) Configuration(ctx context.Context) ([]autopilot.Server, error) {
	servers, err := r.s.cluster.Configuration(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]autopilot.Server, 0, len(servers))
	for _, sv := range servers {
		suf := autopilot.Nonvoter
		if sv.Voter {
			suf = autopilot.Voter
		}
		out = append(out, autopilot.Server{ID: sv.ID, Address: sv.Address, Suffrage: suf})
	}
	return out, nil
}

func (r *raftAdapter) LeaderID() string  { _, id := r.s.cluster.Leader(); return id }
func (r *raftAdapter) LastIndex() uint64 { return r.s.cluster.LastIndex() }
func (r *raftAdapter) Term() uint64      { return r.s.cluster.Term() }

func (r *raftAdapter) Promote(ctx context.Context, id, addr string) error {
	ids, err := r.s.nonVoters(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(ids, id) {
		return nil // asked to stay a non-voter
	}
	r.s.logger.Info("autopilot: promoting to voter", "server_id", id)
	return r.s.cluster.AddVoter(ctx, id, addr)
}

func (r *raftAdapter) Remove(ctx context.Context, id string) error {
	r.s.logger.Warn("autopilot: removing dead server", "server_id", id)
	if err := r.s.cluster.RemoveServer(ctx, id); err != nil {
		return err
	}
	if g := r.s.gossipNow(); g != nil {
		g.Forget(id)
	}
	return nil
}
