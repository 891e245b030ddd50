package database

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pool is a small connection pool over pgx.Conn with database/sql's
// knobs, which are Vault's: at most maxOpen connections in use or idle,
// at most maxIdle kept idle, none older than lifetime (0 means no limit).
// Connections are made by dial, which reads the connection's current
// credentials each time.
type pool struct {
	dial     func(ctx context.Context) (*pgx.Conn, error)
	maxIdle  int
	lifetime time.Duration
	slots    chan struct{} // one token per open connection

	mu     sync.Mutex
	idle   []*pooledConn
	closed bool

	// ddl serialises the engine's transactions on this connection:
	// PostgreSQL's catalog updates (CREATE ROLE, GRANT, DROP ROLE on the
	// same objects) fail with "tuple concurrently updated" when they race.
	ddl sync.Mutex
}

type pooledConn struct {
	conn    *pgx.Conn
	created time.Time
}

var errPoolClosed = errors.New("database: connection pool closed")

func newPool(dial func(ctx context.Context) (*pgx.Conn, error), maxOpen, maxIdle int, lifetime time.Duration) *pool {
	if maxOpen <= 0 {
		maxOpen = defaultMaxOpen
	}
	if maxIdle <= 0 || maxIdle > maxOpen {
		maxIdle = maxOpen
	}
	return &pool{dial: dial, maxIdle: maxIdle, lifetime: lifetime, slots: make(chan struct{}, maxOpen)}
}

// acquire returns an idle connection or dials one, waiting for a free
// slot if maxOpen connections are out.
func (p *pool) acquire(ctx context.Context) (*pooledConn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, errPoolClosed
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		pc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if pc.conn.IsClosed() || p.expired(pc) {
			closeConn(pc.conn)
			continue
		}
		return pc, nil
	}
	conn, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return &pooledConn{conn: conn, created: time.Now()}, nil
}

func (p *pool) expired(pc *pooledConn) bool {
	return p.lifetime > 0 && time.Since(pc.created) > p.lifetime
}

// release returns a connection, closing it when it is broken, too old,
// surplus, or the pool is closed.
func (p *pool) release(pc *pooledConn, broken bool) {
	defer func() { <-p.slots }()
	if broken || pc.conn.IsClosed() || p.expired(pc) {
		closeConn(pc.conn)
		return
	}
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		closeConn(pc.conn)
		return
	}
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
}

// with runs fn on a pooled connection. A connection fn fails on is
// closed rather than reused unless the error came from the server.
func (p *pool) with(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	pc, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	err = fn(pc.conn)
	p.release(pc, err != nil && !isServerError(err))
	return err
}

// tx runs fn in a transaction on a pooled connection, committing if it
// returns nil.
// tx runs fn in a transaction, one at a time per pool, retrying a few
// times when PostgreSQL reports a transient conflict (a serialization
// failure, a deadlock, or a concurrent catalog update).
func (p *pool) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	p.ddl.Lock()
	defer p.ddl.Unlock()
	var err error
	for attempt := range 4 {
		err = p.with(ctx, func(conn *pgx.Conn) error { return pgx.BeginFunc(ctx, conn, fn) })
		if !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return err
}

// transient reports a conflict that succeeds when retried: 40001
// serialization_failure, 40P01 deadlock_detected, and XX000 "tuple
// concurrently updated" (another session changed the same catalog row).
func transient(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01":
		return true
	case "XX000":
		return strings.Contains(err.Error(), "concurrently updated")
	}
	return false
}

// close closes the idle connections and makes later acquires fail; a
// connection in use is closed when released.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, pc := range idle {
		closeConn(pc.conn)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}
