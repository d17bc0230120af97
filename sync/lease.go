package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sfsync/sfsync"
)

// acquireLease waits until the engine holds its lease, if it has one.
func (e *Engine) acquireLease(ctx context.Context) error {
	lc := e.cfg.lease
	if lc == nil {
		return nil
	}
	for {
		l, err := lc.leaser.AcquireLease(ctx, lc.name, lc.holder, lc.ttl)
		if err == nil {
			e.lease.Store(&l)
			e.log.Info("sfsync: lease acquired", "lease", l.Name, "holder", l.Holder, "token", l.Token)
			return nil
		}
		if !errors.Is(err, sfsync.ErrLeaseHeld) && !sfsync.IsRetryable(err) {
			return fmt.Errorf("sync: acquiring lease %q: %w", lc.name, err)
		}
		e.log.Debug("sfsync: waiting for lease", "lease", lc.name, "err", err)
		if !sleep(ctx, lc.ttl/3) {
			return fmt.Errorf("sync: stopped while waiting for lease %q: %w", lc.name, ctx.Err())
		}
	}
}

// renewLease keeps the lease alive; losing it stops the engine, because
// another instance now consumes the stream.
func (e *Engine) renewLease(ctx context.Context) {
	lc := e.cfg.lease
	t := time.NewTicker(max(lc.ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := e.lease.Load()
		l, err := lc.leaser.RenewLease(ctx, *cur, lc.ttl)
		switch {
		case err == nil:
			e.lease.Store(&l)
		case errors.Is(err, sfsync.ErrFenced):
			e.fail(fmt.Errorf("sync: lease %q was taken over by another instance: %w", lc.name, err))
			return
		case ctx.Err() != nil:
			return
		default:
			e.log.Warn("sfsync: renewing lease failed; retrying", "lease", lc.name, "err", err)
		}
	}
}

func (e *Engine) releaseLease() {
	l := e.lease.Load()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.cfg.lease.leaser.ReleaseLease(ctx, *l); err != nil {
		e.log.Warn("sfsync: releasing lease failed; another instance can take it when it expires", "lease", l.Name, "err", err)
	}
}
