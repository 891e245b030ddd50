package peer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

var gossipKey = bytes.Repeat([]byte{7}, 32)

func mustMemberlist(tb testing.TB, name string, tr *Transport) *memberlist.Memberlist {
	tb.Helper()
	conf := memberlist.DefaultLocalConfig()
	conf.Name = name
	conf.Transport = tr.GossipTransport()
	conf.SecretKey = gossipKey
	conf.ProbeInterval = 50 * time.Millisecond
	conf.ProbeTimeout = 25 * time.Millisecond
	conf.GossipInterval = 10 * time.Millisecond
	conf.PushPullInterval = 200 * time.Millisecond
	conf.SuspicionMult = 2
	conf.TCPTimeout = 2 * time.Second
	conf.GossipToTheDeadTime = time.Second
	conf.LogOutput = io.Discard
	if testing.Verbose() && os.Getenv("PEER_GOSSIP_LOG") != "" {
		conf.LogOutput = os.Stderr
	}
	m, err := memberlist.Create(conf)
	if err != nil {
		tb.Fatalf("memberlist.Create %s: %v", name, err)
	}
	tb.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// aliveNames returns the members m considers alive (suspect counts).
func aliveNames(m *memberlist.Memberlist) map[string]bool {
	out := map[string]bool{}
	for _, n := range m.Members() {
		if n.State == memberlist.StateAlive || n.State == memberlist.StateSuspect {
			out[n.Name] = true
		}
	}
	return out
}

func waitMembers(tb testing.TB, ms []*memberlist.Memberlist, want ...string) {
	tb.Helper()
	defer func() {
		if tb.Failed() {
			for _, m := range ms {
				for _, n := range m.Members() {
					tb.Logf("%s sees %s %s %v", m.LocalNode().Name, n.Name, n.Address(), n.State)
				}
			}
		}
	}()
	waitFor(tb, 10*time.Second, fmt.Sprintf("members %v", want), func() bool {
		for _, m := range ms {
			alive := aliveNames(m)
			if len(alive) != len(want) {
				return false
			}
			for _, w := range want {
				if !alive[w] {
					return false
				}
			}
		}
		return true
	})
}

func TestMemberlistOverTransport(t *testing.T) {
	ca := mustCA(t)
	names := []string{"node0", "node1", "node2"}
	trs := make([]*Transport, len(names))
	ms := make([]*memberlist.Memberlist, len(names))
	for i, name := range names {
		trs[i] = mustTransport(t, mustIdentity(t, ca, name))
		ms[i] = mustMemberlist(t, name, trs[i])
	}
	for i := 1; i < len(ms); i++ {
		if _, err := ms[i].Join([]string{trs[0].Addr().String()}); err != nil {
			t.Fatalf("%s join: %v", names[i], err)
		}
	}
	waitMembers(t, ms, names...)
	if got := ms[0].LocalNode().Address(); got != trs[0].Addr().String() {
		t.Errorf("memberlist advertises %s, transport %s", got, trs[0].Addr())
	}

	t.Run("failure detected", func(t *testing.T) {
		// Shut node2's gossip down without leaving: the others must
		// detect the failure by probing.
		if err := ms[2].Shutdown(); err != nil {
			t.Fatal(err)
		}
		waitMembers(t, ms[:2], names[:2]...)

		// Only the gossip part stopped: raft still works to node2.
		d, a := mustRaftConn(t, trs[0], trs[2])
		mustExchange(t, d, a)
	})

	t.Run("rejoin on a fresh gossip transport", func(st *testing.T) {
		ms[2] = mustMemberlist(t, names[2], trs[2]) // lives past the subtest
		t := st
		if _, err := ms[2].Join([]string{trs[1].Addr().String()}); err != nil {
			t.Fatalf("rejoin: %v", err)
		}
		waitMembers(t, ms, names...)
	})

	t.Run("graceful leave", func(t *testing.T) {
		if err := ms[1].Leave(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := ms[1].Shutdown(); err != nil {
			t.Fatal(err)
		}
		rest := []*memberlist.Memberlist{ms[0], ms[2]}
		waitMembers(t, rest, names[0], names[2])
		for _, m := range rest {
			for _, n := range m.Members() {
				if n.Name == names[1] && n.State != memberlist.StateLeft {
					t.Errorf("%s sees %s as %v, want left", m.LocalNode().Name, n.Name, n.State)
				}
			}
		}
	})
}

func TestMemberlistSealedNodeLooksDead(t *testing.T) {
	ca := mustCA(t)
	names := []string{"node0", "node1"}
	ids := make([]*Identity, len(names))
	trs := make([]*Transport, len(names))
	ms := make([]*memberlist.Memberlist, len(names))
	for i, name := range names {
		ids[i] = mustIdentity(t, ca, name)
		trs[i] = mustTransport(t, ids[i])
		ms[i] = mustMemberlist(t, name, trs[i])
	}
	if _, err := ms[1].Join([]string{trs[0].Addr().String()}); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, ms, names...)
	trs[1].ClearIdentity()
	waitMembers(t, ms[:1], names[0])
	trs[1].SetIdentity(ids[1])
	waitMembers(t, ms, names...)
}

func TestGossipPacketsAndStreams(t *testing.T) {
	p := mustPair(t)
	ga, gb := p.a.GossipTransport(), p.b.GossipTransport()
	if p.a.GossipTransport() != ga {
		t.Fatal("GossipTransport not stable")
	}
	ip, port, err := ga.FinalAdvertiseAddr("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := (&net.TCPAddr{IP: ip, Port: port}).String(); got != p.a.Addr().String() {
		t.Fatalf("FinalAdvertiseAddr = %s, want %s", got, p.a.Addr())
	}

	// Packets arrive in order on one pooled connection, From is the
	// sender's advertise address.
	for i := range 5 {
		msg := fmt.Appendf(nil, "packet %d", i)
		if _, err := ga.WriteToAddress(msg, memberlist.Address{Addr: p.b.Addr().String(), Name: "node-b"}); err != nil {
			t.Fatal(err)
		}
		select {
		case pkt := <-gb.PacketCh():
			if !bytes.Equal(pkt.Buf, msg) || pkt.From.String() != p.a.Addr().String() || pkt.Timestamp.IsZero() {
				t.Fatalf("packet = %q from %v at %v", pkt.Buf, pkt.From, pkt.Timestamp)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d not delivered", i)
		}
	}
	if _, err := ga.WriteTo(make([]byte, maxFrameLen+1), p.b.Addr().String()); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized packet error = %v", err)
	}

	// Streams.
	c, err := ga.DialTimeout(p.b.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s net.Conn
	select {
	case s = <-gb.StreamCh():
		defer s.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("stream not delivered")
	}
	mustExchange(t, c, s)
	if ConnNodeID(s) != "node-a" {
		t.Errorf("stream from %q", ConnNodeID(s))
	}

	// Shutdown stops gossip only and cuts its connections.
	if err := gb.Shutdown(); err != nil {
		t.Fatal(err)
	}
	mustHangUp(t, c)
	if _, err := gb.DialTimeout(p.a.Addr().String(), time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("dial after Shutdown = %v", err)
	}
	if p.b.GossipTransport() == gb {
		t.Error("GossipTransport returned the shut-down transport")
	}
	d, a := mustRaftConn(t, p.a, p.b)
	mustExchange(t, d, a)
}

func TestGossipRejectsBadPreamble(t *testing.T) {
	p := mustPair(t)
	_ = p.b.GossipTransport()
	tests := []struct {
		name     string
		preamble []byte
	}{
		{"unknown marker", []byte{'X'}},
		{"empty hello", []byte{markerPacket, 0, 0}},
		{"hello not an address", append([]byte{markerPacket, 0, 5}, "hello"...)},
		{"oversized frame", append(encodeHello(unmapped(p.a.advertise)), 0xff, 0xff, 0xff, 0xff)},
		{"empty frame", append(encodeHello(unmapped(p.a.advertise)), 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := p.a.dialTimeout(p.b.Addr().String(), ProtoGossip, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tt.preamble); err != nil {
				t.Fatal(err)
			}
			mustHangUp(t, c)
		})
	}
}
