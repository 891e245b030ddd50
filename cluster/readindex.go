package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// barrierKey marks a context whose request already passed ReadBarrier.
type barrierKey struct{}

func barrierPassed(ctx context.Context) bool {
	v, _ := ctx.Value(barrierKey{}).(bool)
	return v
}

// ReadBarrier waits until this node may serve a linearizable read and
// returns a context under which Get and List read the local FSM at once, so
// a request pays for one barrier however many keys it reads.
//
// On the leader it confirms leadership (one VerifyLeader round shared by
// concurrent readers). On a standby it asks the leader for a read index
// (the leader confirms its leadership and answers its applied index, which
// covers every acknowledged write) and waits until the local FSM has
// applied that index: ReadIndex, one RPC shared by concurrent readers.
func (n *Node) ReadBarrier(ctx context.Context) (context.Context, error) {
	if barrierPassed(ctx) {
		return ctx, nil
	}
	if !n.started.Load() {
		return ctx, ErrNotStarted
	}
	if n.IsLeader() {
		if err := n.reads.wait(ctx, n); err != nil {
			return ctx, err
		}
		return context.WithValue(ctx, barrierKey{}, true), nil
	}
	idx, err := n.index.get(ctx)
	if err != nil {
		if errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) {
			return ctx, err
		}
		return ctx, fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	if err := n.fsm.WaitApplied(ctx, idx); err != nil {
		return ctx, fmt.Errorf("%w: catching up to the leader: %w", ErrNoLeader, err)
	}
	return context.WithValue(ctx, barrierKey{}, true), nil
}

// WithoutBarrier marks ctx so Get and List read this node's copy at once,
// possibly stale. Only for requests that must work without a leader (a
// node being sealed by its operators).
func WithoutBarrier(ctx context.Context) context.Context {
	return context.WithValue(ctx, barrierKey{}, true)
}

// readIndex batches a standby's read-index requests: a caller joins the
// next round, and a round starts only after all its callers arrived, so the
// index it brings back is at least the leader's applied index at each
// caller's start.
type readIndex struct {
	n *Node

	mu      sync.Mutex
	next    []chan indexResult
	running bool
}

type indexResult struct {
	idx uint64
	err error
}

func newReadIndex(n *Node) *readIndex { return &readIndex{n: n} }

func (r *readIndex) get(ctx context.Context) (uint64, error) {
	ch := make(chan indexResult, 1)
	r.mu.Lock()
	r.next = append(r.next, ch)
	if !r.running {
		r.running = true
		go r.rounds()
	}
	r.mu.Unlock()
	select {
	case res := <-ch:
		return res.idx, res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("cluster: read index: %w", ctx.Err())
	}
}

func (r *readIndex) rounds() {
	for {
		r.mu.Lock()
		waiting := r.next
		r.next = nil
		if len(waiting) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		idx, err := r.n.askReadIndex(ctx)
		cancel()
		for _, ch := range waiting {
			ch <- indexResult{idx, err}
		}
	}
}

// askReadIndex asks the leader, over the node-to-node transport, for its
// confirmed applied index.
func (n *Node) askReadIndex(ctx context.Context) (uint64, error) {
	addr, _ := n.Leader()
	if addr == "" {
		return 0, ErrNoLeader
	}
	if n.cfg.RPCClient == nil {
		return 0, fmt.Errorf("%w: no node-to-node client", ErrNotLeader)
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	if err := n.rpc(ctx, addr, rpcReadIndex, &out); err != nil {
		return 0, fmt.Errorf("cluster: read index from leader: %w", err)
	}
	return out.Index, nil
}

// The node-to-node RPC paths Node.RPCHandler serves.
const (
	// RPCPrefix is the path prefix of every cluster RPC.
	RPCPrefix    = "/cluster/v1/"
	rpcReadIndex = RPCPrefix + "read-index"
	rpcStatus    = RPCPrefix + "status"
)

// rpc POSTs to a peer's cluster RPC path and decodes its JSON answer.
func (n *Node) rpc(ctx context.Context, addr, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := n.cfg.RPCClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusMisdirectedRequest {
			return ErrNotLeader
		}
		return fmt.Errorf("peer answered %d", resp.StatusCode)
	}
	return json.Unmarshal(body, out)
}

// Status is what a node reports about itself to the leader's autopilot.
type Status struct {
	NodeID       string `json:"node_id"`
	APIAddr      string `json:"api_addr"`
	AppliedIndex uint64 `json:"applied_index"`
	LastIndex    uint64 `json:"last_index"`
	Term         uint64 `json:"term"`
}

// RPCHandler serves the node-to-node RPCs (read index, status) under
// RPCPrefix. The transport authenticates the caller (mutual TLS) before a
// request gets here.
func (n *Node) RPCHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(rpcReadIndex, func(w http.ResponseWriter, r *http.Request) {
		if !n.IsLeader() {
			http.Error(w, "not the leader", http.StatusMisdirectedRequest)
			return
		}
		if err := n.reads.wait(r.Context(), n); err != nil {
			code := http.StatusServiceUnavailable
			if errors.Is(err, ErrNotLeader) {
				code = http.StatusMisdirectedRequest
			}
			http.Error(w, "read barrier failed", code)
			return
		}
		writeJSON(w, map[string]uint64{"index": n.fsm.AppliedIndex()})
	})
	mux.HandleFunc(rpcStatus, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Status())
	})
	return mux
}

// Status reports this node's Raft progress.
func (n *Node) Status() Status {
	st := Status{NodeID: n.cfg.NodeID, APIAddr: n.cfg.APIAddr, AppliedIndex: n.fsm.AppliedIndex()}
	if n.started.Load() {
		st.LastIndex = n.raft.LastIndex()
		st.Term = n.term()
	}
	return st
}

// PeerStatus asks the node at addr for its Status.
func (n *Node) PeerStatus(ctx context.Context, addr string) (Status, error) {
	var st Status
	if n.cfg.RPCClient == nil {
		return st, errors.New("cluster: no node-to-node client")
	}
	err := n.rpc(ctx, addr, rpcStatus, &st)
	return st, err
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
