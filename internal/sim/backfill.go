package sim

import (
	"context"
	"iter"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	ssync "github.com/sfsync/sfsync/sync"
)

// backfillPoints counts the points running backfills passed, across
// engine instances; a crash aimed at a point waits for its counter to
// move (it is reset when the crash strikes).
type backfillPoints struct {
	querying, reading, page atomic.Int64
}

func (b *backfillPoints) counter(point string) *atomic.Int64 {
	var c *atomic.Int64
	switch point {
	case "querying":
		c = &b.querying
	case "reading":
		c = &b.reading
	default:
		c = &b.page
	}
	c.Store(0)
	return c
}

// observe is the engines' backfill progress callback.
func (b *backfillPoints) observe(p ssync.BackfillProgress) {
	switch p.Phase {
	case ssync.PhaseQuerying:
		b.querying.Add(1)
	case ssync.PhaseReading:
		b.reading.Add(1)
	}
}

// authority is the engine's authority for re-reads and backfills: the
// real salesforce.Authority, through one Bulk job in pages of two records
// in BulkBackfill scenarios, with its pages counted.
func (r *run) authority(fields map[string][]string) reconcile.PagedAuthority {
	var opts []salesforce.AuthorityOption
	if r.sc.BulkBackfill {
		opts = append(opts, salesforce.WithBulkThreshold(0), salesforce.WithBulkOptions(
			salesforce.WithMaxRecords(2), salesforce.WithPollInterval(time.Millisecond, 5*time.Millisecond)))
	}
	opts = append(opts, salesforce.WithAuthorityClock(r.clock.Now))
	var a reconcile.PagedAuthority = countedPages{Authority: salesforce.NewAuthority(r.sf, fields, opts...), points: &r.backfill}
	if r.opt.Authority != nil {
		a = r.opt.Authority(a)
	}
	return a
}

// countedPages counts the pages whose records the engine has taken.
type countedPages struct {
	*salesforce.Authority
	points *backfillPoints
}

func (c countedPages) ScanPages(ctx context.Context, object string, since time.Time, resume []byte) iter.Seq2[reconcile.Page, error] {
	return func(yield func(reconcile.Page, error) bool) {
		for page, err := range c.Authority.ScanPages(ctx, object, since, resume) {
			if err == nil && page.Records != nil {
				records := page.Records
				page.Records = func(y func(sfsync.Record, error) bool) {
					records(y)
					c.points.page.Add(1)
				}
			}
			if !yield(page, err) {
				return
			}
		}
	}
}
