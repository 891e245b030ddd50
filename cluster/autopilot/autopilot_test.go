package autopilot

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testTerm      = 7
	testLastIndex = 10_000
)

// fakeRaft is an in-memory Raft configuration that records changes.
type fakeRaft struct {
	mu         sync.Mutex
	servers    []Server
	leader     string
	configErr  error
	promoteErr error
	removeErr  error
	promoted   []string
	removed    []string
}

func (f *fakeRaft) Configuration(context.Context) ([]Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.configErr != nil {
		return nil, f.configErr
	}
	return slices.Clone(f.servers), nil
}

func (f *fakeRaft) LeaderID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeRaft) LastIndex() uint64 { return testLastIndex }
func (f *fakeRaft) Term() uint64      { return testTerm }

func (f *fakeRaft) Promote(_ context.Context, id, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.promoteErr != nil {
		return f.promoteErr
	}
	for i, s := range f.servers {
		if s.ID == id {
			if s.Address != addr {
				return errors.New("fake: wrong address")
			}
			f.servers[i].Suffrage = Voter
			f.promoted = append(f.promoted, id)
			return nil
		}
	}
	return errors.New("fake: unknown server")
}

func (f *fakeRaft) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removeErr != nil {
		return f.removeErr
	}
	for i, s := range f.servers {
		if s.ID == id {
			f.servers = slices.Delete(f.servers, i, i+1)
			f.removed = append(f.removed, id)
			return nil
		}
	}
	return errors.New("fake: unknown server")
}

func countVoters(f *fakeRaft) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.servers {
		if s.Suffrage == Voter {
			n++
		}
	}
	return n
}

// changes returns and clears what was promoted and removed.
func (f *fakeRaft) changes() (promoted, removed []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	promoted, removed = f.promoted, f.removed
	f.promoted, f.removed = nil, nil
	slices.Sort(promoted)
	slices.Sort(removed)
	return promoted, removed
}

// spec describes a server's health relative to the fake clock.
type spec struct {
	dead, left, sealed bool
	stale              bool          // last contact fixed at t0+contactAt
	contactAt          time.Duration // used when stale
	never              bool          // never contacted
	lag                uint64        // entries behind the leader
	oldTerm            bool
	version            string
}

func (s spec) health(now time.Time) Health {
	h := Health{
		Alive:        !s.dead && !s.left,
		Left:         s.left,
		Sealed:       s.sealed,
		LastContact:  now,
		AppliedIndex: testLastIndex - s.lag,
		Term:         testTerm,
		Version:      s.version,
	}
	switch {
	case s.never:
		h.LastContact = time.Time{}
	case s.stale:
		h.LastContact = t0.Add(s.contactAt)
	}
	if s.oldTerm {
		h.Term--
	}
	return h
}

// env is an Autopilot over a fakeRaft, a fake clock and mutable specs.
type env struct {
	raft *fakeRaft
	ap   *Autopilot

	mu    sync.Mutex
	now   time.Time
	specs map[string]spec
}

func (e *env) setTime(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = t0.Add(d)
}

func (e *env) set(id string, s spec) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.specs[id] = s
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) healthMap() map[string]Health {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]Health, len(e.specs))
	for id, s := range e.specs {
		out[id] = s.health(e.now)
	}
	return out
}

// mustEnv builds an env whose leader is "a". Servers without a spec are
// absent from the health map.
func mustEnv(tb testing.TB, cfg Config, servers []Server, specs map[string]spec) *env {
	tb.Helper()
	e := &env{
		raft:  &fakeRaft{servers: slices.Clone(servers), leader: "a"},
		now:   t0,
		specs: make(map[string]spec, len(specs)),
	}
	for id, s := range specs {
		e.specs[id] = s
	}
	e.ap = New(cfg, e.raft, e.healthMap, e.clock, nil)
	return e
}

func voters(ids ...string) []Server {
	out := make([]Server, len(ids))
	for i, id := range ids {
		out[i] = Server{ID: id, Address: id + ":8201", Suffrage: Voter}
	}
	return out
}

func nonvoters(ids ...string) []Server {
	out := voters(ids...)
	for i := range out {
		out[i].Suffrage = Nonvoter
	}
	return out
}

func healthy(ids ...string) map[string]spec {
	out := make(map[string]spec, len(ids))
	for _, id := range ids {
		out[id] = spec{}
	}
	return out
}

func with(m map[string]spec, id string, s spec) map[string]spec {
	m[id] = s
	return m
}

type step struct {
	at           time.Duration
	set          map[string]spec
	wantPromoted []string
	wantRemoved  []string
	wantErr      error
}

func testConfig() Config {
	return Config{
		CleanupDeadServers:             true,
		DeadServerLastContactThreshold: time.Minute,
		LastContactThreshold:           10 * time.Second,
		MaxTrailingLogs:                1000,
		MinQuorum:                      3,
		ServerStabilizationTime:        10 * time.Second,
	}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	noCleanup := testConfig()
	noCleanup.CleanupDeadServers = false
	quorum5 := testConfig()
	quorum5.MinQuorum = 5
	slowStable := testConfig()
	slowStable.ServerStabilizationTime = 2 * time.Minute
	dead := spec{dead: true, stale: true}

	tests := []struct {
		name    string
		cfg     Config
		servers []Server
		specs   map[string]spec
		leader  *string
		steps   []step
	}{
		{
			name:    "promotion waits for stabilization",
			cfg:     testConfig(),
			servers: append(voters("a", "b", "c"), nonvoters("d")...),
			specs:   healthy("a", "b", "c", "d"),
			steps: []step{
				{at: 0},
				{at: 9 * time.Second},
				{at: 10 * time.Second, wantPromoted: []string{"d"}},
				{at: 11 * time.Second},
			},
		},
		{
			name:    "unhealthy spell restarts stabilization",
			cfg:     testConfig(),
			servers: append(voters("a", "b", "c"), nonvoters("d")...),
			specs:   healthy("a", "b", "c", "d"),
			steps: []step{
				{at: 0},
				{at: 5 * time.Second, set: map[string]spec{"d": {sealed: true}}},
				{at: 6 * time.Second, set: map[string]spec{"d": {}}},
				{at: 15 * time.Second},
				{at: 16 * time.Second, wantPromoted: []string{"d"}},
			},
		},
		{
			name:    "lagging non-voter is not promoted until caught up",
			cfg:     testConfig(),
			servers: append(voters("a", "b", "c"), nonvoters("d")...),
			specs:   with(healthy("a", "b", "c"), "d", spec{lag: 1001}),
			steps: []step{
				{at: 0},
				{at: time.Hour},
				{at: time.Hour, set: map[string]spec{"d": {lag: 1000}}},
				{at: time.Hour + 9*time.Second},
				{at: time.Hour + 10*time.Second, wantPromoted: []string{"d"}},
			},
		},
		{
			name:    "sealed non-voter is not promoted",
			cfg:     testConfig(),
			servers: append(voters("a"), nonvoters("d")...),
			specs:   with(healthy("a"), "d", spec{sealed: true}),
			steps:   []step{{at: 0}, {at: time.Hour}},
		},
		{
			name:    "non-voter on an old term is not promoted",
			cfg:     testConfig(),
			servers: append(voters("a"), nonvoters("d")...),
			specs:   with(healthy("a"), "d", spec{oldTerm: true}),
			steps:   []step{{at: 0}, {at: time.Hour}},
		},
		{
			name:    "non-voter out of contact is not promoted",
			cfg:     testConfig(),
			servers: append(voters("a"), nonvoters("d")...),
			specs:   with(healthy("a"), "d", spec{stale: true}),
			steps:   []step{{at: 0}, {at: 11 * time.Second}, {at: time.Hour}},
		},
		{
			name:    "several stable non-voters are promoted together",
			cfg:     testConfig(),
			servers: append(voters("a"), nonvoters("b", "c")...),
			specs:   healthy("a", "b", "c"),
			steps:   []step{{at: 0}, {at: 10 * time.Second, wantPromoted: []string{"b", "c"}}},
		},
		{
			name:    "dead voter removed after the threshold",
			cfg:     testConfig(),
			servers: voters("a", "b", "c", "d", "e"),
			specs:   with(healthy("a", "b", "c", "d"), "e", dead),
			steps: []step{
				{at: 0},
				{at: 60 * time.Second},
				{at: 61 * time.Second, wantRemoved: []string{"e"}},
				{at: 2 * time.Minute},
			},
		},
		{
			name:    "alive voter out of contact is never removed",
			cfg:     testConfig(),
			servers: voters("a", "b", "c", "d", "e"),
			specs:   with(healthy("a", "b", "c", "d"), "e", spec{stale: true}),
			steps:   []step{{at: time.Hour}},
		},
		{
			name:    "cleanup disabled removes nothing",
			cfg:     noCleanup,
			servers: append(voters("a", "b", "c", "d", "e"), nonvoters("x")...),
			specs:   with(with(healthy("a", "b", "c", "d"), "e", dead), "x", dead),
			steps:   []step{{at: time.Hour}},
		},
		{
			name:    "never below MinQuorum",
			cfg:     testConfig(),
			servers: voters("a", "b", "c"),
			specs:   with(healthy("a", "b"), "c", dead),
			steps:   []step{{at: 0}, {at: time.Hour}},
		},
		{
			name:    "never below a larger MinQuorum",
			cfg:     quorum5,
			servers: voters("a", "b", "c", "d", "e"),
			specs:   with(healthy("a", "b", "c", "d"), "e", dead),
			steps:   []step{{at: time.Hour}},
		},
		{
			name:    "remaining healthy voters must stay a majority",
			cfg:     testConfig(),
			servers: voters("a", "b", "c", "d", "e"),
			specs:   with(with(with(healthy("a", "b"), "c", spec{sealed: true}), "d", dead), "e", dead),
			steps: []step{
				{at: time.Hour},
				// c recovers: removing one leaves 4 with 3 healthy.
				{at: time.Hour, set: map[string]spec{"c": {}}, wantRemoved: []string{"d"}},
				// 4 voters, 3 healthy: removing e leaves 3, all healthy.
				{at: time.Hour, wantRemoved: []string{"e"}},
			},
		},
		{
			name:    "one voter removal per pass, longest silent first",
			cfg:     testConfig(),
			servers: voters("a", "b", "c", "d", "e"),
			specs: with(with(healthy("a", "b", "c"),
				"d", spec{dead: true, stale: true, contactAt: 10 * time.Second}),
				"e", spec{dead: true, stale: true}),
			steps: []step{
				{at: 2 * time.Minute, wantRemoved: []string{"e"}},
				{at: 2 * time.Minute, wantRemoved: []string{"d"}},
				{at: 3 * time.Minute},
			},
		},
		{
			name:    "leader is never removed",
			cfg:     testConfig(),
			servers: voters("a", "b", "c", "d"),
			specs:   with(healthy("b", "c", "d"), "a", spec{dead: true, never: true}),
			steps:   []step{{at: 0}, {at: time.Hour}},
		},
		{
			name:    "dead non-voters go without quorum checks",
			cfg:     testConfig(),
			servers: append(voters("a", "b", "c"), nonvoters("x", "y")...),
			specs:   with(with(healthy("a", "b", "c"), "x", dead), "y", spec{left: true, stale: true}),
			steps:   []step{{at: 30 * time.Second}, {at: 2 * time.Minute, wantRemoved: []string{"x", "y"}}},
		},
		{
			name:    "never contacted counts from first seen",
			cfg:     testConfig(),
			servers: append(voters("a", "b", "c"), nonvoters("x")...),
			specs:   healthy("a", "b", "c"), // x unknown to gossip
			steps: []step{
				{at: 10 * time.Minute},
				{at: 10*time.Minute + 60*time.Second},
				{at: 10*time.Minute + 61*time.Second, wantRemoved: []string{"x"}},
			},
		},
		{
			name:    "promotion makes room for a removal in the same pass",
			cfg:     slowStable,
			servers: append(voters("a", "b", "c"), nonvoters("d")...),
			specs:   with(healthy("a", "b", "d"), "c", dead),
			steps: []step{
				{at: 0},
				{at: 61 * time.Second},
				{at: 2 * time.Minute, wantPromoted: []string{"d"}, wantRemoved: []string{"c"}},
			},
		},
		{
			name:    "no leader, no changes",
			cfg:     testConfig(),
			servers: append(voters("a", "b", "c", "d"), nonvoters("x")...),
			specs:   with(with(healthy("a", "b", "c"), "d", dead), "x", spec{}),
			leader:  new(string),
			steps:   []step{{at: 0, wantErr: ErrNoLeader}, {at: time.Hour, wantErr: ErrNoLeader}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, tt.cfg, tt.servers, tt.specs)
			if tt.leader != nil {
				e.raft.leader = *tt.leader
			}
			for i, st := range tt.steps {
				votersBefore := countVoters(e.raft)
				e.setTime(st.at)
				for id, s := range st.set {
					e.set(id, s)
				}
				err := e.ap.Reconcile(context.Background())
				if !errors.Is(err, st.wantErr) || (err != nil && st.wantErr == nil) {
					t.Fatalf("step %d (%v): err = %v, want %v", i, st.at, err, st.wantErr)
				}
				promoted, removed := e.raft.changes()
				if !slices.Equal(promoted, st.wantPromoted) {
					t.Errorf("step %d (%v): promoted %v, want %v", i, st.at, promoted, st.wantPromoted)
				}
				if !slices.Equal(removed, st.wantRemoved) {
					t.Errorf("step %d (%v): removed %v, want %v", i, st.at, removed, st.wantRemoved)
				}
				// Invariants after every pass.
				s := e.ap.State()
				if s == nil {
					t.Fatalf("step %d: no state", i)
				}
				if _, ok := s.Servers["a"]; !ok {
					t.Fatalf("step %d: leader missing from state", i)
				}
				if len(s.Voters)+len(s.NonVoters) != len(s.Servers) {
					t.Fatalf("step %d: voters %v + non-voters %v != servers %d", i, s.Voters, s.NonVoters, len(s.Servers))
				}
				if n := len(s.Voters); n < votersBefore && n < tt.cfg.MinQuorum {
					t.Fatalf("step %d: removal left %d voters, below MinQuorum", i, n)
				}
			}
		})
	}
}

func TestReconcileReportsRaftErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name   string
		breakf func(*fakeRaft)
	}{
		{"configuration", func(f *fakeRaft) { f.configErr = boom }},
		{"promote", func(f *fakeRaft) { f.promoteErr = boom }},
		{"remove", func(f *fakeRaft) { f.removeErr = boom }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustEnv(t, testConfig(), append(voters("a", "b", "c", "d"), nonvoters("x", "y")...),
				with(with(healthy("a", "b", "c", "x"), "d", spec{dead: true, stale: true}), "y", spec{dead: true, stale: true}))
			if err := e.ap.Reconcile(context.Background()); err != nil {
				t.Fatalf("first pass: %v", err)
			}
			tt.breakf(e.raft)
			e.setTime(time.Hour)
			if err := e.ap.Reconcile(context.Background()); !errors.Is(err, boom) {
				t.Fatalf("err = %v, want boom", err)
			}
		})
	}
}

func TestStateSummarisesCluster(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, testConfig(), append(voters("a", "b", "c"), nonvoters("d", "e")...), map[string]spec{
		"a": {version: "1.0.0"},
		"b": {version: "1.0.0", stale: true, contactAt: 55 * time.Second},
		"c": {version: "1.0.0", dead: true, stale: true},
		"d": {version: "1.1.0", left: true, stale: true, contactAt: 50 * time.Second},
		"e": {version: "1.1.0", lag: 3},
	})
	e.setTime(time.Minute)
	if err := e.ap.Reconcile(context.Background()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	s := e.ap.State()
	if s.Leader != "a" || s.Healthy || s.FailureTolerance != 0 || s.OptimisticFailureTolerance != 0 {
		t.Fatalf("state = %+v", s)
	}
	if !slices.Equal(s.Voters, []string{"a", "b", "c"}) || !slices.Equal(s.NonVoters, []string{"d", "e"}) {
		t.Fatalf("voters %v non-voters %v", s.Voters, s.NonVoters)
	}
	want := map[string]ServerState{
		"a": {NodeStatus: NodeAlive, Status: StatusLeader, Healthy: true, LastContact: 0, LastIndex: testLastIndex},
		"b": {NodeStatus: NodeAlive, Status: StatusVoter, Healthy: true, LastContact: 5 * time.Second, LastIndex: testLastIndex},
		"c": {NodeStatus: NodeFailed, Status: StatusVoter, Healthy: false, LastContact: time.Minute, LastIndex: testLastIndex},
		"d": {NodeStatus: NodeLeft, Status: StatusNonVoter, Healthy: false, LastContact: 10 * time.Second, LastIndex: testLastIndex},
		"e": {NodeStatus: NodeAlive, Status: StatusNonVoter, Healthy: true, LastContact: 0, LastIndex: testLastIndex - 3},
	}
	for id, w := range want {
		got := s.Servers[id]
		if got == nil {
			t.Fatalf("no server %s", id)
		}
		if got.ID != id || got.Name != id || got.Address != id+":8201" || got.NodeType != NodeTypeVoter ||
			got.LastTerm != testTerm || !got.StableSince.Equal(t0.Add(time.Minute)) {
			t.Errorf("%s: %+v", id, got)
		}
		if got.NodeStatus != w.NodeStatus || got.Status != w.Status || got.Healthy != w.Healthy ||
			got.LastContact != w.LastContact || got.LastIndex != w.LastIndex {
			t.Errorf("%s: got %+v, want %+v", id, got, w)
		}
	}

	// State returns a copy.
	s.Servers["a"].Healthy = false
	s.Voters[0] = "zzz"
	if again := e.ap.State(); !again.Servers["a"].Healthy || again.Voters[0] != "a" {
		t.Fatal("State shares memory with the published state")
	}
}

func TestFailureTolerance(t *testing.T) {
	t.Parallel()
	tests := []struct{ voters, healthy, want int }{
		{1, 1, 0},
		{2, 2, 0},
		{3, 3, 1},
		{3, 2, 0},
		{3, 1, 0},
		{4, 4, 1},
		{5, 5, 2},
		{5, 4, 1},
		{5, 3, 0},
		{0, 0, 0},
	}
	for _, tt := range tests {
		if got := failureTolerance(tt.voters, tt.healthy); got != tt.want {
			t.Errorf("failureTolerance(%d, %d) = %d, want %d", tt.voters, tt.healthy, got, tt.want)
		}
	}
}

func TestRunReconcilesUntilCancelled(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Interval = time.Millisecond
	cfg.ServerStabilizationTime = time.Millisecond
	e := mustEnv(t, cfg, append(voters("a"), nonvoters("b")...), healthy("a", "b"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.ap.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 1; ; i++ {
		// The fake clock only moves when the test moves it.
		e.setTime(time.Duration(i) * time.Second)
		if s := e.ap.State(); s != nil && slices.Equal(s.Voters, []string{"a", "b"}) {
			break
		}
		select {
		case <-deadline:
			t.Fatal("b never promoted")
		case <-tick.C:
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got := New(Config{}, &fakeRaft{}, nil, nil, nil).Config()
	want := Config{
		DeadServerLastContactThreshold: 24 * time.Hour,
		LastContactThreshold:           10 * time.Second,
		MaxTrailingLogs:                1000,
		MinQuorum:                      3,
		ServerStabilizationTime:        10 * time.Second,
		Interval:                       time.Second,
	}
	if got != want || DefaultConfig() != want {
		t.Fatalf("defaults = %+v", got)
	}
	a := New(Config{}, &fakeRaft{}, nil, nil, nil)
	a.SetConfig(Config{CleanupDeadServers: true, MinQuorum: 5})
	want.CleanupDeadServers, want.MinQuorum = true, 5
	if got := a.Config(); got != want {
		t.Fatalf("after SetConfig = %+v", got)
	}
	if a.State() != nil {
		t.Fatal("State before the first pass is not nil")
	}
}
