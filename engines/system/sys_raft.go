package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"coffer/cluster"
	"coffer/engines"
	"coffer/seal"
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
	keyring, err := s.barrier.KeyringRecord(ctx)
	if err != nil {
		return nil, err
	}
	meta := cluster.ArchiveMeta{Keyring: keyring}
	if st := s.status.Load(); st != nil {
		meta.ClusterID = st.info.ID
	}
	return &engines.Response{Stream: func(w io.Writer) error {
		return s.cluster.SaveArchive(ctx, w, meta)
	}}, nil
}

// restoreSnapshot replaces the cluster's state with an archive. Without
// force it must have been made with this cluster's keys (its keyring opens
// with the root key); with force, a snapshot from another cluster is
// restored, and the nodes seal: the data now opens only with that
// cluster's unseal keys.
func (s *System) restoreSnapshot(ctx context.Context, req *engines.Request, force bool) error {
	if !s.cluster.IsLeader() {
		return engines.ErrForward
	}
	if req.Body == nil {
		return engines.BadRequest("the request body must be a snapshot")
	}
	meta, err := cluster.ReadArchiveMeta(req.Body)
	if err != nil {
		return engines.BadRequest("%s", err.Error())
	}
	if !force {
		if err := s.barrier.CheckKeyring(meta.Keyring); err != nil {
			if errors.Is(err, seal.ErrOtherKeys) {
				return engines.BadRequest("the snapshot was made by a cluster with other keys; use snapshot-force, then unseal with that cluster's keys")
			}
			return err
		}
	}
	// Spool the body to disk first so a cut upload never reaches Raft,
	// then let Raft restore it (the FSM verifies its checksum).
	spool, err := os.CreateTemp("", "coffer-restore-*")
	if err != nil {
		return fmt.Errorf("system: restore: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	n, err := io.Copy(spool, io.LimitReader(req.Body, meta.Size+1))
	if err != nil {
		return engines.BadRequest("reading the snapshot: %s", err.Error())
	}
	if n != meta.Size {
		return engines.BadRequest("the snapshot is truncated or has trailing data (%d bytes, header says %d)", n, meta.Size)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("system: restore: %w", err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	if err := s.cluster.RestoreArchive(rctx, meta, spool); err != nil {
		return fmt.Errorf("system: restore: %w", err)
	}
	s.logger.Warn("snapshot restored", "snapshot_index", meta.Index, "forced", force)
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
