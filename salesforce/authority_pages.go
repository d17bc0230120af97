package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/throttle"
)

// pagesToken is where an interrupted [Authority.ScanPages] continues.
type pagesToken struct {
	// Job is the Bulk API query job of the scan; Next the locator of the
	// page after the last one handled ("" before the first, "null" after
	// the last).
	Job  string `json:"job,omitempty"`
	Next string `json:"next,omitempty"`
	// Window starts the window of a windowed scan, whose deletes are read
	// from getDeleted after the last page.
	Window time.Time `json:"window,omitzero"`
	// Since continues a REST scan, whose records come in SystemModstamp
	// order, from the last record handled (inclusive).
	Since time.Time `json:"since,omitzero"`
}

// restPageSize is the number of records of a REST scan's page: one
// queryAll call.
const restPageSize = 2000

// ScanPages implements [reconcile.PagedAuthority]: it yields object's
// records modified at or after since (every record when since is zero),
// deleted ones included, page by page, so that an interrupted backfill
// continues where it stopped instead of starting again.
//
// Above the Authority's Bulk threshold the scan is one Bulk API 2.0
// queryAll job: the first page carries no records and names the job, so
// a scan interrupted while the job runs waits for the same job; each
// later page is one results page, resumed from its locator (locators stay
// valid while the job exists). A job that is gone (deleted, or purged
// seven days after it completed), failed or aborted starts the scan again
// with a new job. The job is deleted once its last page is handled; an
// interrupted scan leaves it for the run that resumes it. Below the
// threshold the scan is paged REST queryAll in SystemModstamp order,
// resumed from the last page's last SystemModstamp.
func (a *Authority) ScanPages(ctx context.Context, object string, since time.Time, resume []byte) iter.Seq2[reconcile.Page, error] {
	return func(yield func(reconcile.Page, error) bool) {
		ctx := WithPriority(ctx, throttle.PriorityLow)
		fail := func(err error) { yield(reconcile.Page{}, fmt.Errorf("salesforce: scan %s: %w", object, err)) }
		if err := checkObject(object); err != nil {
			fail(err)
			return
		}
		var tok pagesToken
		if len(resume) > 0 {
			if err := json.Unmarshal(resume, &tok); err != nil {
				a.client.cfg.logger.WarnContext(ctx, "salesforce: resume token of a scan not understood; scanning from the start", "object", object, "error", err)
				tok = pagesToken{}
			}
		}
		if tok.Job != "" {
			job, err := a.client.QueryJob(ctx, tok.Job)
			switch {
			case errors.Is(err, ErrJobNotFound):
				a.client.cfg.logger.InfoContext(ctx, "salesforce: the bulk job of an interrupted scan is gone; starting again", "object", object, "job", tok.Job)
			case err != nil:
				fail(err)
				return
			case job.State == JobFailed || job.State == JobAborted:
				a.client.cfg.logger.InfoContext(ctx, "salesforce: the bulk job of an interrupted scan ended without results; starting again", "object", object, "job", job.ID, "state", job.State)
				a.client.cleanupJob(ctx, job)
			default:
				if a.readJob(ctx, object, job, tok.Next, tok.Window, yield) {
					a.deletedPage(ctx, object, tok.Window, job.ID, yield)
				}
				return
			}
			tok = pagesToken{}
		}
		if !since.IsZero() && tok.Since.IsZero() {
			ok, err := a.deleteHistory(ctx, object, since)
			if err != nil {
				fail(err)
				return
			}
			if !ok {
				a.client.cfg.logger.WarnContext(ctx, "salesforce: the delete history does not reach back to the start of the window; scanning every record", "object", object, "window", since)
				since = time.Time{}
			}
		}
		where := sinceClause(later(since, tok.Since))
		bulk := false
		if tok.Since.IsZero() {
			var err error
			if bulk, err = a.useBulk(ctx, object, where); err != nil {
				fail(err)
				return
			}
		}
		if !bulk {
			if a.restPages(ctx, object, where, since, tok.Since, yield) {
				a.deletedPage(ctx, object, since, "", yield)
			}
			return
		}
		_, base := a.selectAll(object)
		// No ORDER BY: Salesforce can then chunk the job by primary key,
		// and the locators, not the order, make the scan resumable.
		job, err := a.client.CreateQueryJob(ctx, BulkQueryAll, base+where, a.cfg.bulk...)
		if err != nil {
			fail(err)
			return
		}
		first, _ := json.Marshal(pagesToken{Job: job.ID, Window: since})
		if !yield(reconcile.Page{Resume: first, Total: -1}, nil) {
			return
		}
		if a.readJob(ctx, object, job, "", since, yield) {
			a.deletedPage(ctx, object, since, job.ID, yield)
		}
	}
}

// deleteHistory reports whether getDeleted covers the deletes since
// start: within its 15 days, and not purged after start.
func (a *Authority) deleteHistory(ctx context.Context, object string, start time.Time) (bool, error) {
	now := a.cfg.now()
	if now.Sub(start) >= 15*24*time.Hour {
		return false, nil
	}
	if now.Sub(start) < 2*time.Minute {
		// getDeleted needs a window of more than a minute; the scan
		// itself sees what was deleted since (queryAll).
		return true, nil
	}
	d, err := a.client.GetDeleted(ctx, object, start, now)
	if err != nil {
		return false, err
	}
	return !d.EarliestDateAvailable.After(start), nil
}

// deletedPage yields, for a windowed scan, the records getDeleted reports
// deleted in the window: queryAll no longer returns those emptied from the
// Recycle Bin or hard-deleted. It reports whether the scan goes on.
func (a *Authority) deletedPage(ctx context.Context, object string, window time.Time, job string, yield func(reconcile.Page, error) bool) bool {
	now := a.cfg.now()
	if window.IsZero() || now.Sub(window) < 2*time.Minute {
		return true
	}
	d, err := a.client.GetDeleted(ctx, object, window, now)
	if err != nil {
		return yield(reconcile.Page{}, fmt.Errorf("salesforce: scan %s: reading the deletes of the window: %w", object, err))
	}
	resume, _ := json.Marshal(pagesToken{Job: job, Next: "null", Window: time.Time{}})
	if job == "" {
		resume, _ = json.Marshal(pagesToken{Since: now})
	}
	return yield(reconcile.Page{Total: -1, Resume: resume, Records: func(yield func(sfsync.Record, error) bool) {
		for _, r := range d.Records {
			rec := sfsync.Record{Object: object, ID: r.ID, Deleted: true, Version: sfsync.Version{Time: r.DeletedDate}}
			if !yield(rec, nil) {
				return
			}
		}
	}}, nil)
}

// readJob waits for job and yields its pages from locator on. It reports
// whether the scan goes on after the last page.
func (a *Authority) readJob(ctx context.Context, object string, job QueryJob, locator string, window time.Time, yield func(reconcile.Page, error) bool) bool {
	fail := func(err error) bool {
		yield(reconcile.Page{}, fmt.Errorf("salesforce: scan %s: %w", object, err))
		return false
	}
	if job.State != JobComplete {
		done, err := a.client.WaitQueryJob(ctx, job.ID, a.cfg.bulk...)
		if err != nil {
			return fail(err)
		}
		job = done
	}
	fields, _ := a.selectAll(object)
	total := job.NumberRecordsProcessed
	if locator == "null" {
		a.client.cleanupJob(ctx, job)
		return true
	}
	for page, err := range a.client.QueryResultPages(ctx, job, locator, a.cfg.bulk...) {
		if err != nil {
			return fail(err)
		}
		next := page.Next
		if next == "" {
			next = "null"
		}
		resume, _ := json.Marshal(pagesToken{Job: job.ID, Next: next, Window: window})
		records := func(yield func(sfsync.Record, error) bool) {
			for row, err := range page.Rows() {
				if err != nil {
					yield(sfsync.Record{}, err)
					return
				}
				if !yield(toRecord(object, row.restMap(), fields), nil) {
					return
				}
			}
		}
		if !yield(reconcile.Page{Records: records, Resume: resume, Total: total}, nil) {
			return false
		}
	}
	a.client.cleanupJob(ctx, job)
	return true
}

// restPages yields a REST queryAll scan in pages of restPageSize records
// (one call each), read ahead so that each page's Resume is known.
func (a *Authority) restPages(ctx context.Context, object, where string, since, from time.Time, yield func(reconcile.Page, error) bool) bool {
	fields, base := a.selectAll(object)
	last := later(since, from)
	var recs []sfsync.Record
	flush := func() bool {
		if len(recs) == 0 {
			return true
		}
		resume, _ := json.Marshal(pagesToken{Since: last, Window: since})
		page := slices.Clone(recs)
		recs = recs[:0]
		return yield(reconcile.Page{Records: func(yield func(sfsync.Record, error) bool) {
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
		}, Resume: resume, Total: -1}, nil)
	}
	for rec, err := range a.client.QueryAll(ctx, base+where+" ORDER BY SystemModstamp") {
		if err != nil {
			yield(reconcile.Page{}, fmt.Errorf("salesforce: scan %s: %w", object, err))
			return false
		}
		r := toRecord(object, rec, fields)
		last = later(last, r.Version.Time)
		if recs = append(recs, r); len(recs) == restPageSize && !flush() {
			return false
		}
	}
	return flush()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
