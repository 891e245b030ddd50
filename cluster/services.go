package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// A LeaderService runs only on the leader: it is started when the node
// gains leadership (after its barrier and LeaderServiceDelay) and its
// context is cancelled when the node loses leadership, seals or shuts
// down; the node waits for it to return before anything else happens.
type LeaderService func(ctx context.Context)

// leaderServices runs the registered services while the node leads.
type leaderServices struct {
	logger *slog.Logger

	mu       sync.Mutex
	services map[string]LeaderService
	leading  bool
	cancel   context.CancelFunc
	running  map[string]*runningService
}

type runningService struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newLeaderServices(logger *slog.Logger) *leaderServices {
	return &leaderServices{logger: logger, services: map[string]LeaderService{}, running: map[string]*runningService{}}
}

// RunWhileLeader registers a leader-only service under name (replacing one
// of the same name). If the node leads now it starts at once. The returned
// function unregisters it and waits for it to stop.
func (n *Node) RunWhileLeader(name string, svc LeaderService) (stop func()) {
	s := n.services
	s.mu.Lock()
	if old, ok := s.running[name]; ok {
		old.cancel()
		<-old.done
		delete(s.running, name)
	}
	s.services[name] = svc
	if s.leading {
		s.launch(name, svc)
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.services, name)
		r := s.running[name]
		delete(s.running, name)
		s.mu.Unlock()
		if r != nil {
			r.cancel()
			<-r.done
		}
	}
}

// launch starts one service; called with mu held.
func (s *leaderServices) launch(name string, svc LeaderService) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningService{cancel: cancel, done: make(chan struct{})}
	s.running[name] = r
	s.logger.Info("starting leader service", "service", name)
	go func() {
		defer close(r.done)
		svc(ctx)
	}()
}

// startAll starts every registered service after delay, unless leadership
// is lost (stopAll) first.
func (s *leaderServices) startAll(delay time.Duration) {
	s.mu.Lock()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.mu.Unlock()
	go func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		s.leading = true
		for name, svc := range s.services {
			s.launch(name, svc)
		}
	}()
}

// stopAll cancels every running service and waits for them to return.
func (s *leaderServices) stopAll() {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	s.leading = false
	running := s.running
	s.running = map[string]*runningService{}
	s.mu.Unlock()
	for name, r := range running {
		r.cancel()
		<-r.done
		s.logger.Info("stopped leader service", "service", name)
	}
}
