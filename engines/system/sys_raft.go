package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"coffer/cluster"
	"coffer/engines"
)

// raftPath serves the authenticated sys/storage/raft/* endpoints.
func (s *System) raftPath(ctx context.Context, req *engines.Request, path string) (*engines.Response, error) {
	switch path {
	case "configuration":
		return only(req, func(*engines.Request) (*engines.Response, error) { return s.raftConfiguration(ctx) }, engines.ReadOperation)
	case "remove-peer":
		return only(req, func(r *engines.Request) (*engines.Response, error) { return s.removePeer(ctx, r) }, engines.UpdateOperation, engines.CreateOperation)
	case "autopilot/state":
		return only(req, func(*engines.Request) (*engines.Response, error) { return s.autopilot.stateResponse() }, engines.ReadOperation)
	case "autopilot/configuration":
		switch req.Operation {
		case engines.ReadOperation:
			return s.autopilot.configResponse()
		case engines.UpdateOperation, engines.CreateOperation:
			return nil, s.autopilot.updateConfig(ctx, req.Data)
		}
		return nil, engines.ErrUnsupportedOperation
	case "snapshot":
		switch req.Operation {
		case engines.ReadOperation:
			return s.saveSnapshot(ctx)
		case engines.UpdateOperation, engines.CreateOperation:
			return nil, s.restoreSnapshot(ctx, req, false)
		}
		return nil, engines.ErrUnsupportedOperation
	case "snapshot-force":
		return only(req, func(r *engines.Request) (*engines.Response, error) { return nil, s.restoreSnapshot(ctx, r, true) }, engines.UpdateOperation, engines.CreateOperation)
	}
	return nil, engines.ErrUnsupportedPath
}

func (s *System) raftConfiguration(ctx context.Context) (*engines.Response, error) {
	servers, err := s.cluster.Configuration(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(servers))
	for _, sv := range servers {
		out = append(out, map[string]any{
			"node_id":          sv.ID,
			"address":          sv.Address,
			"leader":           sv.Leader,
			"voter":            sv.Voter,
			"protocol_version": "3",
		})
	}
	return &engines.Response{Data: map[string]any{"config": map[string]any{
		"servers": out,
		"index":   s.cluster.AppliedIndex(),
	}}}, nil
}

func (s *System) removePeer(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	id, _ := req.Data["server_id"].(string)
	if id == "" {
		return nil, engines.BadRequest("server_id is required")
	}
	if id == s.cluster.NodeID() {
		return nil, engines.BadRequest("the active node cannot remove itself; step down first")
	}
	servers, err := s.cluster.Configuration(ctx)
	if err != nil {
		return nil, err
	}
	found := false
	for _, sv := range servers {
		found = found || sv.ID == id
	}
	if !found {
		return nil, engines.BadRequest("no server %q in the configuration", id)
	}
	if err := s.cluster.RemoveServer(ctx, id); err != nil {
		return nil, err
	}
	if g := s.gossipNow(); g != nil {
		g.Forget(id)
	}
	_ = s.setNonVoter(ctx, id, false)
	s.logger.Info("removed raft peer", "server_id", id)
	return nil, nil
}

// saveSnapshot streams a snapshot archive of the cluster's state.
func (s *System) saveSnapshot(ctx context.Context) (*engines.Response, error) {
	if !s.cluster.IsLeader() {
		return nil, engines.ErrForward
	}
	meta := cluster.ArchiveMeta{}
	if st := s.status.Load(); st != nil {
		meta.ClusterID = st.info.ID
	}
	seal := func(b []byte) ([]byte, error) { return s.barrier.Encrypt(cluster.ArchiveSumsAAD, b) }
	return &engines.Response{StreamType: "application/gzip", Stream: func(w io.Writer) error {
		return s.cluster.SaveArchive(ctx, w, meta, seal)
	}}, nil
}

// restoreSnapshot replaces the cluster's state with an archive. Without
// force it must have been made with this cluster's keys (its sealed sums
// open with the barrier and match); with force, a snapshot from another
// cluster is restored, and the nodes seal: the data now opens only with
// that cluster's unseal keys.
func (s *System) restoreSnapshot(ctx context.Context, req *engines.Request, force bool) error {
	if !s.cluster.IsLeader() {
		return engines.ErrForward
	}
	if req.Body == nil {
		return engines.BadRequest("the request body must be a snapshot")
	}
	// Spool and check the whole archive first, so a cut or altered upload
	// never reaches Raft.
	spool, err := os.CreateTemp("", "coffer-restore-*")
	if err != nil {
		return fmt.Errorf("system: restore: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	if _, err := io.Copy(spool, req.Body); err != nil {
		return engines.BadRequest("reading the snapshot: %s", err.Error())
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("system: restore: %w", err)
	}
	info, err := cluster.ReadArchive(spool, nil)
	if err != nil {
		return engines.BadRequest("%s", err.Error())
	}
	if !force {
		if err := info.CheckSealed(func(b []byte) ([]byte, error) { return s.barrier.Decrypt(cluster.ArchiveSumsAAD, b) }); err != nil {
			return engines.BadRequest("the snapshot was made by a cluster with other keys; use snapshot-force, then unseal with that cluster's keys")
		}
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("system: restore: %w", err)
	}
	state, done, err := cluster.StateReader(spool)
	if err != nil {
		return engines.BadRequest("%s", err.Error())
	}
	defer done()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	if err := s.cluster.RestoreArchive(rctx, &info.Meta, state); err != nil {
		return fmt.Errorf("system: restore: %w", err)
	}
	s.logger.Warn("snapshot restored", "snapshot_index", info.Meta.Index, "forced", force)
	return nil
}

// stepDown hands leadership to another voter.
func (s *System) stepDown(ctx context.Context) (*engines.Response, error) {
	if !s.cluster.IsLeader() {
		return nil, engines.ErrForward
	}
	if err := s.cluster.StepDown(ctx); err != nil {
		return nil, &engines.Error{Code: engines.CodeInternal, Message: "step-down failed: " + err.Error()}
	}
	return nil, nil
}

// haStatus answers sys/ha-status: the nodes as gossip and Raft know them.
func (s *System) haStatus(ctx context.Context) (*engines.Response, error) {
	servers, err := s.cluster.Configuration(ctx)
	if err != nil {
		return nil, err
	}
	_, leaderID := s.cluster.Leader()
	nodes := make([]any, 0, len(servers))
	g := s.gossipNow()
	for _, sv := range servers {
		n := map[string]any{
			"hostname":        sv.ID,
			"cluster_address": "https://" + sv.Address,
			"active_node":     sv.ID == leaderID,
			"version":         "",
			"api_address":     "",
		}
		if sv.ID == s.cluster.NodeID() {
			n["api_address"], n["version"] = s.apiAddr, s.version
		}
		if g != nil {
			if m, ok := g.Member(sv.ID); ok {
				n["api_address"], n["version"] = m.Meta.APIAddr, m.Meta.Version
				n["last_echo"] = m.LastAlive.UTC().Format(time.RFC3339Nano)
				n["node_status"] = m.State
			}
		}
		nodes = append(nodes, n)
	}
	// Vault answers ha-status unwrapped: {"nodes": [...]}.
	return &engines.Response{StreamType: "application/json", Stream: func(w io.Writer) error {
		return json.NewEncoder(w).Encode(map[string]any{"nodes": nodes})
	}}, nil
}
