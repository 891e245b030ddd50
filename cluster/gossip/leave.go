package gossip

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// memberlist tells a node that left and one that died apart only inside
// its own locked state: both arrive as NotifyLeave, with Node.State unset.
// So before memberlist's leave message, Leave sends every alive peer a
// leave notice over memberlist's reliable (TCP, encrypted) user-message
// channel, and the roster reports a member it has a notice from as "left".

// leaveMsgType is the first byte of a leave notice; the rest is the
// leaving node's ID.
const leaveMsgType byte = 'L'

// encodeLeave returns the notice that nodeID is leaving.
func encodeLeave(nodeID string) []byte {
	return append([]byte{leaveMsgType}, nodeID...)
}

// decodeLeave parses a user message; only leave notices are defined.
func decodeLeave(b []byte) (string, error) {
	if len(b) < 2 || b[0] != leaveMsgType {
		return "", fmt.Errorf("gossip: unknown user message")
	}
	if len(b) > 1+memberlist.MetaMaxSize {
		return "", fmt.Errorf("gossip: leave notice too long")
	}
	return string(b[1:]), nil
}

// announceLeave sends the leave notice to every peer this node sees alive,
// in parallel, returning when all were sent or at deadline (zero: no limit).
// A send still running then finishes on its own within memberlist's
// TCPTimeout.
func (g *Gossip) announceLeave(deadline time.Time) {
	msg := encodeLeave(g.cfg.NodeID)
	var wg sync.WaitGroup
	for _, m := range g.roster.list() {
		if m.NodeID == g.cfg.NodeID || m.State != StateAlive {
			continue
		}
		node, err := peerNode(m)
		if err != nil {
			g.logger.Debug("gossip: cannot address peer for leave notice", "node", m.NodeID, "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.ml.SendReliable(node, msg); err != nil {
				g.logger.Debug("gossip: leave notice not delivered", "node", node.Name, "err", err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-done:
	case <-timeout:
	}
}

// peerNode builds the memberlist address of a member from the roster's own
// copy, never from memberlist's shared Node values.
func peerNode(m Member) (*memberlist.Node, error) {
	host, port, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return nil, fmt.Errorf("gossip: peer address: %w", err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("gossip: peer port: %w", err)
	}
	return &memberlist.Node{Name: m.NodeID, Addr: net.ParseIP(host), Port: uint16(p)}, nil
}
