package gossip

import (
	"fmt"
	"log"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config describes one node's gossip endpoint.
type Config struct {
	// NodeID is the memberlist node name; it must equal the Raft server ID.
	NodeID string
	// Transport carries gossip (transport/peer's mutual TLS in a server).
	// Nil means memberlist's own UDP+TCP transport on BindAddr:BindPort.
	Transport memberlist.Transport
	// BindAddr and BindPort are used only when Transport is nil; port 0
	// picks a free port.
	BindAddr string
	BindPort int
	// SecretKey is the 32-byte AES-256 gossip encryption key; required.
	// Start copies it, so the caller may zero its slice once Start returns.
	SecretKey []byte
	// Meta returns this node's current metadata. It is read by Start and by
	// every UpdateMeta; memberlist is served the encoding of the last read.
	Meta func() Meta
	// Logger receives operational logs; memberlist's own log lines go to it
	// at debug level. Nil discards.
	Logger *slog.Logger
	// Fast selects short probe and gossip intervals (100–200ms) for tests;
	// otherwise memberlist.DefaultLANConfig is used.
	Fast bool
}

// Gossip is one node's membership in the gossip pool. Its methods are safe
// for concurrent use.
type Gossip struct {
	cfg    Config
	logger *slog.Logger
	ml     *memberlist.Memberlist
	roster *roster

	// life is held for reading by calls into memberlist and for writing by
	// Shutdown, so none of them runs into a shut-down memberlist (its Leave
	// panics then).
	life     sync.RWMutex
	shutdown bool

	updateMu sync.Mutex // serialises UpdateMeta

	mu   sync.Mutex
	wire []byte // encoded Meta last accepted, served to memberlist by NodeMeta
}

// Start validates cfg, creates the memberlist and returns the running
// Gossip. The new node knows only itself until Join.
func Start(cfg Config) (*Gossip, error) {
	if cfg.NodeID == "" {
		return nil, fmt.Errorf("%w: node id is required", ErrInvalidConfig)
	}
	if len(cfg.SecretKey) != 32 {
		return nil, fmt.Errorf("%w: secret key must be 32 bytes", ErrInvalidConfig)
	}
	if cfg.Meta == nil {
		return nil, fmt.Errorf("%w: meta function is required", ErrInvalidConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	wire, err := encodeMeta(cfg.Meta())
	if err != nil {
		return nil, fmt.Errorf("gossip: start: %w", err)
	}

	g := &Gossip{
		cfg:    cfg,
		logger: logger,
		roster: newRoster(logger, time.Now),
		wire:   wire,
	}
	g.cfg.SecretKey = nil // memberlist holds the only copy (below)

	mc := memberlistConfig(cfg.Fast)
	mc.Name = cfg.NodeID
	mc.Transport = cfg.Transport
	if cfg.Transport == nil {
		mc.BindAddr = cfg.BindAddr
		mc.BindPort = cfg.BindPort
		mc.AdvertisePort = cfg.BindPort
	}
	// memberlist keeps the key for as long as its goroutines run and offers
	// no way to know when they have stopped, so it gets a private copy that
	// is never handed out.
	mc.SecretKey = append([]byte(nil), cfg.SecretKey...)
	mc.Delegate = &delegate{g: g}
	mc.Events = g.roster
	mc.Logger = log.New(&slogWriter{logger: logger}, "", 0)

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start: %w", err)
	}
	g.ml = ml
	return g, nil
}

// memberlistConfig is memberlist's LAN profile, or a fast local profile for
// tests.
func memberlistConfig(fast bool) *memberlist.Config {
	if !fast {
		return memberlist.DefaultLANConfig()
	}
	c := memberlist.DefaultLocalConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 100 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.SuspicionMult = 3
	c.TCPTimeout = 500 * time.Millisecond
	return c
}

// Join contacts the given gossip addresses (host:port) and merges their
// view of the pool. It returns how many it reached, and an error only if
// it reached none (a peer with a different key counts as unreachable).
func (g *Gossip) Join(addrs []string) (int, error) {
	g.life.RLock()
	defer g.life.RUnlock()
	if g.shutdown {
		return 0, ErrShutdown
	}
	n, err := g.ml.Join(addrs)
	if err != nil && n == 0 {
		return 0, fmt.Errorf("gossip: join: %w", err)
	}
	return n, nil
}

// Members lists every node this node has heard of, itself included and
// sorted by NodeID. Nodes that died or left stay, with that state, until
// Forget.
func (g *Gossip) Members() []Member { return g.roster.list() }

// Member returns one node by ID.
func (g *Gossip) Member(nodeID string) (Member, bool) { return g.roster.get(nodeID) }

// Forget drops a node (typically one removed from Raft) from the list. If
// it is still running and gossiping, it reappears.
func (g *Gossip) Forget(nodeID string) { g.roster.forget(nodeID) }

// UpdateMeta re-reads Config.Meta and broadcasts it, waiting up to timeout
// for the broadcast to go out. A Meta that does not fit is rejected and the
// previous one stays in effect.
func (g *Gossip) UpdateMeta(timeout time.Duration) error {
	g.life.RLock()
	defer g.life.RUnlock()
	if g.shutdown {
		return ErrShutdown
	}
	g.updateMu.Lock()
	defer g.updateMu.Unlock()
	b, err := encodeMeta(g.cfg.Meta())
	if err != nil {
		return fmt.Errorf("gossip: update meta: %w", err)
	}
	g.mu.Lock()
	g.wire = b
	g.mu.Unlock()
	// Never hold g.mu here: UpdateNode calls back into the delegate and the
	// roster.
	if err := g.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("gossip: update meta: %w", err)
	}
	return nil
}

// Leave tells the pool this node is leaving, waiting up to timeout in all
// (zero: no limit), so the others mark it "left" rather than "dead": first
// a leave notice to every peer it sees alive (see leave.go), then
// memberlist's leave broadcast. A peer the notice misses sees "dead". Call
// Shutdown afterwards.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.life.RLock()
	defer g.life.RUnlock()
	if g.shutdown {
		return ErrShutdown
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	g.roster.markLeaving(g.cfg.NodeID)
	g.announceLeave(deadline)

	rest := time.Duration(0)
	if timeout > 0 {
		rest = max(time.Until(deadline), time.Millisecond)
	}
	if err := g.ml.Leave(rest); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Shutdown stops gossiping without telling anyone: the others will detect
// this node as dead (call Leave first to be seen as left). It waits for a
// Join, UpdateMeta or Leave in progress, and is safe to call more than
// once; those calls fail with ErrShutdown afterwards. Members and Member
// keep answering from the last known state.
func (g *Gossip) Shutdown() error {
	g.life.Lock()
	defer g.life.Unlock()
	if g.shutdown {
		return nil
	}
	g.shutdown = true
	if err := g.ml.Shutdown(); err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}

func (g *Gossip) encodedMeta() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.wire
}

// delegate serves this node's metadata to memberlist and receives leave
// notices. Coffer gossips no other messages or state.
type delegate struct{ g *Gossip }

var _ memberlist.Delegate = (*delegate)(nil)

// NodeMeta returns the metadata last accepted by Start or UpdateMeta; both
// checked that it fits in limit, so memberlist never sees it too large.
func (d *delegate) NodeMeta(limit int) []byte {
	b := d.g.encodedMeta()
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg receives user messages; the only kind is a leave notice.
func (d *delegate) NotifyMsg(b []byte) {
	id, err := decodeLeave(b)
	if err != nil {
		d.g.logger.Debug("gossip: ignoring user message", "err", err)
		return
	}
	d.g.roster.markLeaving(id)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}
