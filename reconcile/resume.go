package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/sfsync/sfsync"
)

// Page is one page of a [PagedAuthority]'s scan.
type Page struct {
	// Records yields the page's records; read them once, before asking
	// for the next page. Nil for a page that only reports that the scan is
	// being prepared (a Bulk API job was created and runs): its Resume
	// names the job, so that an interrupted scan waits for the same job
	// instead of creating another.
	Records iter.Seq2[sfsync.Record, error]
	// Resume continues the scan after this page: pass it back to ScanPages.
	Resume []byte
	// Total is the number of records of the whole scan, or -1 when unknown.
	Total int64
}

// PagedAuthority is an [Authority] whose scans of a whole object come in
// pages that an interrupted scan can resume from, such as one Bulk API
// query job read page by page from its locators.
type PagedAuthority interface {
	Authority
	// ScanPages yields the records of object modified at or after since
	// (all when since is zero), deleted ones included, page by page,
	// starting after the page whose Resume is resume (nil: from the
	// start). A resume token the authority cannot use any more (its job
	// is gone) starts the scan again.
	ScanPages(ctx context.Context, object string, since time.Time, resume []byte) iter.Seq2[Page, error]
}

// DefaultProgressEvery is how many records a scan of an [Authority]
// without pages emits between two progress reports.
const DefaultProgressEvery = 2000

// WithProgressEvery sets how many records a scan of an Authority without
// pages emits between two progress reports (default
// [DefaultProgressEvery]). Each report lets the engine store where an
// interrupted scan resumes, after waiting for the records before it.
func WithProgressEvery(n int) Option {
	return option(func(r *Reconciler) { r.progressEvery = max(n, 1) })
}

// resumeToken is what a Reconciler's progress reports carry in Resume.
type resumeToken struct {
	// Read counts the records read by the runs so far.
	Read int64 `json:"read"`
	// Page is a PagedAuthority's own token.
	Page json.RawMessage `json:"page,omitempty"`
	// Since continues the scan of an Authority without pages: its records
	// come ordered by modification, so the scan continues from the last
	// record reported (again, inclusive: records repeated have the same
	// version and key, and the engine recognises them).
	Since time.Time `json:"since,omitzero"`
}

// ReconcileFrom implements [sfsync.ResumableReconciler]: it reconciles a
// whole object as Reconcile does, continuing after the records covered by
// resume, and reports its progress: after each page of a
// [PagedAuthority], or every [WithProgressEvery] records of another
// Authority. A scope with IDs is reconciled whole, without reports.
func (r *Reconciler) ReconcileFrom(ctx context.Context, scope sfsync.Scope, resume []byte, emit func(context.Context, sfsync.Change) error, progress func(context.Context, sfsync.ReconcileProgress) error) error {
	if len(scope.IDs) > 0 || progress == nil {
		return r.Reconcile(ctx, scope, emit)
	}
	if scope.Object == "" {
		return fmt.Errorf("reconcile: scope has no object (reason %q): name the object to reconcile: %w", scope.Reason, sfsync.ErrInvalid)
	}
	var tok resumeToken
	if len(resume) > 0 {
		if err := json.Unmarshal(resume, &tok); err != nil {
			// A token from another version or another authority: start
			// again rather than fail for good; dedup absorbs the repeats.
			r.logger.LogAttrs(ctx, slog.LevelWarn, "reconcile: resume token not understood; scanning from the start",
				slog.String("object", scope.Object), slog.String("err", err.Error()))
			tok = resumeToken{}
		}
	}
	if r.wait != nil {
		if err := r.wait(ctx); err != nil {
			return fmt.Errorf("reconcile %s: waiting for API headroom: %w", scope.Object, err)
		}
	}
	if paged, ok := r.authority.(PagedAuthority); ok {
		return r.reconcilePages(ctx, paged, scope, tok, emit, progress)
	}
	since := scope.Since
	if tok.Since.After(since) {
		since = tok.Since
	}
	read := tok.Read
	var last time.Time
	sinceReport := 0
	report := func() error {
		// Records without a version leave the resume point where it was.
		b, err := json.Marshal(resumeToken{Read: read, Since: later(last, since)})
		if err != nil {
			return fmt.Errorf("reconcile %s: encoding progress: %w", scope.Object, err)
		}
		return progress(ctx, sfsync.ReconcileProgress{Phase: "reading", Read: read, Total: -1, Resume: b})
	}
	for rec, err := range r.authority.Scan(ctx, scope.Object, nil, since) {
		if err != nil {
			return fmt.Errorf("reconcile %s: scanning authoritative state: %w", scope.Object, err)
		}
		r.scanned.Add(1)
		read++
		if err := r.emit(ctx, emit, r.change(scope, rec)); err != nil {
			return err
		}
		last = later(last, rec.Version.Time)
		if sinceReport++; sinceReport >= r.every() {
			sinceReport = 0
			if err := report(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Reconciler) every() int {
	if r.progressEvery <= 0 {
		return DefaultProgressEvery
	}
	return r.progressEvery
}

func (r *Reconciler) reconcilePages(ctx context.Context, a PagedAuthority, scope sfsync.Scope, tok resumeToken, emit func(context.Context, sfsync.Change) error, progress func(context.Context, sfsync.ReconcileProgress) error) error {
	read := tok.Read
	if len(tok.Page) == 0 {
		// A scan that starts again counts again.
		read = 0
	}
	report := func(phase string, page []byte, total int64) error {
		b, err := json.Marshal(resumeToken{Read: read, Page: page})
		if err != nil {
			return fmt.Errorf("reconcile %s: encoding progress: %w", scope.Object, err)
		}
		return progress(ctx, sfsync.ReconcileProgress{Phase: phase, Read: read, Total: total, Resume: b})
	}
	for page, err := range a.ScanPages(ctx, scope.Object, scope.Since, tok.Page) {
		if err != nil {
			return fmt.Errorf("reconcile %s: scanning authoritative state: %w", scope.Object, err)
		}
		if page.Records == nil {
			if err := report("querying", page.Resume, page.Total); err != nil {
				return err
			}
			continue
		}
		for rec, err := range page.Records {
			if err != nil {
				return fmt.Errorf("reconcile %s: reading a page of authoritative state: %w", scope.Object, err)
			}
			r.scanned.Add(1)
			read++
			if err := r.emit(ctx, emit, r.change(scope, rec)); err != nil {
				return err
			}
		}
		if err := report("reading", page.Resume, page.Total); err != nil {
			return err
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
