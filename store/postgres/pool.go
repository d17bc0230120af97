package postgres

import (
	"context"
	"errors"
	stdsync "sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pool is a small connection pool of pgx connections.
//
// pgxpool needs github.com/jackc/puddle/v2, which this module does not
// require; this pool covers what the store needs: a bound on open
// connections, reuse of idle ones (each keeps its own prepared-statement
// cache), a liveness check of connections idle for a while, and discarding
// connections that broke or were left mid-transaction.
type pool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{} // one token per open connection in use

	mu     stdsync.Mutex
	idle   []idleConn // most recently used last
	closed bool
}

type idleConn struct {
	c     *pgx.Conn
	since time.Time
}

// pingIdle is how long a connection may sit idle before it is pinged on
// acquisition; a server restart or a proxy's idle timeout kills idle
// connections silently.
const pingIdle = 5 * time.Second

// closeTimeout bounds the polite goodbye when a connection is closed.
const closeTimeout = 5 * time.Second

var errPoolClosed = errors.New("connection pool is closed")

func newPool(cfg *pgx.ConnConfig, size int) *pool {
	return &pool{cfg: cfg, slots: make(chan struct{}, max(1, size))}
}

// acquire returns an idle connection or opens one, waiting while all
// connections are in use.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
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
		if n := len(p.idle); n > 0 {
			ic := p.idle[n-1]
			p.idle[n-1] = idleConn{}
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if ic.c.IsClosed() {
				continue
			}
			if time.Since(ic.since) > pingIdle {
				if err := ic.c.Ping(ctx); err != nil {
					closeConn(ic.c)
					if ctx.Err() != nil {
						<-p.slots
						return nil, ctx.Err()
					}
					continue
				}
			}
			return ic.c, nil
		}
		p.mu.Unlock()
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			<-p.slots
			return nil, err
		}
		return c, nil
	}
}

// release returns c to the pool, or closes it when it is broken, busy, in
// a transaction, or the pool is closed.
func (p *pool) release(c *pgx.Conn) {
	defer func() { <-p.slots }()
	reusable := !c.IsClosed() && !c.PgConn().IsBusy() && c.PgConn().TxStatus() == 'I'
	p.mu.Lock()
	if reusable && !p.closed {
		p.idle = append(p.idle, idleConn{c: c, since: time.Now()})
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	closeConn(c)
}

// close closes the idle connections; connections in use are closed when
// they are released.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ic := range idle {
		closeConn(ic.c)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = c.Close(ctx)
}
