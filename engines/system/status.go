package system

import (
	"context"
	"time"

	"coffer/engines"
)

// SealStatus is the body of GET sys/seal-status (Vault's field names).
type SealStatus struct {
	Type         string `json:"type"`
	Initialized  bool   `json:"initialized"`
	Sealed       bool   `json:"sealed"`
	T            int    `json:"t"`
	N            int    `json:"n"`
	Progress     int    `json:"progress"`
	Nonce        string `json:"nonce"`
	Version      string `json:"version"`
	BuildDate    string `json:"build_date"`
	Migration    bool   `json:"migration"`
	ClusterName  string `json:"cluster_name,omitempty"`
	ClusterID    string `json:"cluster_id,omitempty"`
	RecoverySeal bool   `json:"recovery_seal"`
	StorageType  string `json:"storage_type"`
	// SealError says why an auto seal cannot unseal the node (wrong PIN,
	// missing token or key); Coffer's addition, empty otherwise.
	SealError string `json:"seal_error,omitempty"`
}

// SealStatus reports the seal state and unseal progress.
func (s *System) SealStatus(ctx context.Context) (*SealStatus, error) {
	st := &SealStatus{Type: "shamir", Sealed: true, Version: s.version, StorageType: "raft"}
	if s.auto.cfg != nil && !s.auto.cfg.Disabled {
		st.Type, st.RecoverySeal = s.auto.cfg.Type, true
	}
	st.SealError = s.sealError()
	cfg, err := s.barrier.SealConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return st, nil
	}
	st.Initialized = true
	st.Type, st.RecoverySeal = cfg.Type, cfg.Auto()
	st.N, st.T = cfg.SharesNeeded()
	if mig, err := s.migration(ctx); err == nil && mig != migrationNone {
		st.Migration = true
	}
	st.Sealed = s.barrier.Sealed()
	st.Progress, st.Nonce = s.barrier.UnsealProgress()
	if as := s.status.Load(); as != nil && !st.Sealed {
		st.ClusterName, st.ClusterID = as.info.Name, as.info.ID
	}
	return st, nil
}

// Health is the body of GET sys/health (Vault's field names).
type Health struct {
	Initialized                bool   `json:"initialized"`
	Sealed                     bool   `json:"sealed"`
	Standby                    bool   `json:"standby"`
	PerformanceStandby         bool   `json:"performance_standby"`
	ReplicationPerformanceMode string `json:"replication_performance_mode"`
	ReplicationDRMode          string `json:"replication_dr_mode"`
	ServerTimeUTC              int64  `json:"server_time_utc"`
	Version                    string `json:"version"`
	ClusterName                string `json:"cluster_name,omitempty"`
	ClusterID                  string `json:"cluster_id,omitempty"`
}

// Health reports what sys/health needs to choose its status code.
func (s *System) Health(ctx context.Context) (*Health, error) {
	h := &Health{
		ReplicationPerformanceMode: "disabled",
		ReplicationDRMode:          "disabled",
		ServerTimeUTC:              time.Now().Unix(),
		Version:                    s.version,
		Sealed:                     true,
	}
	init, err := s.barrier.Initialized(ctx)
	if err != nil {
		return nil, err
	}
	h.Initialized = init
	if !init {
		return h, nil
	}
	// A node that is unsealed but still loading is not ready to serve:
	// health reports it sealed until it is.
	h.Sealed = s.barrier.Sealed() || !s.active.Load()
	if !h.Sealed {
		h.Standby = !s.cluster.IsLeader()
		if as := s.status.Load(); as != nil {
			h.ClusterName, h.ClusterID = as.info.Name, as.info.ID
		}
	}
	return h, nil
}

// Leader is the body of GET sys/leader.
type Leader struct {
	HAEnabled            bool   `json:"ha_enabled"`
	IsSelf               bool   `json:"is_self"`
	ActiveTime           string `json:"active_time"`
	LeaderAddress        string `json:"leader_address"`
	LeaderClusterAddress string `json:"leader_cluster_address"`
	PerformanceStandby   bool   `json:"performance_standby"`
	RaftCommittedIndex   uint64 `json:"raft_committed_index"`
	RaftAppliedIndex     uint64 `json:"raft_applied_index"`
}

// Leader reports who leads the cluster.
func (s *System) Leader(ctx context.Context) (*Leader, error) {
	if !s.active.Load() {
		return nil, engines.ErrSealed
	}
	l := &Leader{HAEnabled: true, ActiveTime: "0001-01-01T00:00:00Z"}
	l.RaftAppliedIndex = s.cluster.AppliedIndex()
	l.RaftCommittedIndex = l.RaftAppliedIndex
	addr, id := s.cluster.Leader()
	if addr != "" {
		l.LeaderClusterAddress = "https://" + addr
	}
	if s.cluster.IsLeader() {
		l.IsSelf = true
		l.LeaderAddress = s.apiAddr
		if as := s.status.Load(); as != nil {
			l.ActiveTime = as.activeSince.Format(time.RFC3339Nano)
		}
		return l, nil
	}
	l.LeaderAddress = s.leaderAPIAddr(ctx, addr, id)
	return l, nil
}

// leaderAPIAddr finds the leader's API address: from gossip, else by
// asking the leader over the node-to-node transport.
func (s *System) leaderAPIAddr(ctx context.Context, addr, id string) string {
	if id == "" {
		return ""
	}
	if g := s.gossipNow(); g != nil {
		if m, ok := g.Member(id); ok && m.Meta.APIAddr != "" {
			return m.Meta.APIAddr
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := s.cluster.PeerStatus(ctx, addr)
	if err != nil {
		return ""
	}
	return st.APIAddr
}
