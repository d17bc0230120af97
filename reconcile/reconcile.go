package reconcile

import (
	"context"
	"fmt"
	"hash/fnv"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sfsync/sfsync"
)

// Authority lists the authoritative state of records.
type Authority interface {
	// Scan yields the records of object in scope, including soft-deleted
	// ones (Record.Deleted), ordered by modification so that a scan cut
	// short can resume from the last record's version. When ids is not
	// empty only those records are read; when since is not zero only
	// records modified at or after it.
	Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error]
}

// AuthorityFunc adapts a function to [Authority].
type AuthorityFunc func(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error]

// Scan calls f.
func (f AuthorityFunc) Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return f(ctx, object, ids, since)
}

// Reconciler emits authoritative records as changes. It is safe for
// concurrent use.
type Reconciler struct {
	authority Authority
	source    sfsync.System
	tenant    string
	limiter   *rate.Limiter
	wait      func(ctx context.Context) error
	logger    *slog.Logger
	// progressEvery: see WithProgressEvery.
	progressEvery int

	scanned, emitted, deleted atomic.Int64
}

// Option configures a Reconciler. It is an interface, not a function type,
// so that one option such as [WithLogger] can configure both a Reconciler
// and a [Loop] under one name.
type Option interface{ applyReconciler(*Reconciler) }

type option func(*Reconciler)

func (o option) applyReconciler(r *Reconciler) { o(r) }

// WithSource sets the system the authoritative records come from (default
// sfsync.Salesforce).
func WithSource(s sfsync.System) Option { return option(func(r *Reconciler) { r.source = s }) }

// WithTenant stamps emitted changes with the org id, so that an engine
// validating tenants accepts them.
func WithTenant(orgID string) Option { return option(func(r *Reconciler) { r.tenant = orgID }) }

// WithRate caps emitted records per second (burst records at once). Zero or
// negative means no cap. Reconciliation is background work: keep it well
// below live traffic.
func WithRate(perSecond float64, burst int) Option {
	return option(func(r *Reconciler) {
		if perSecond <= 0 {
			r.limiter = nil
			return
		}
		r.limiter = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
	})
}

// WithWait installs a hook called before each scan, such as a low-priority
// wait on the org's API throttle, so reconciliation yields to write-back
// when headroom is short.
func WithWait(wait func(ctx context.Context) error) Option {
	return option(func(r *Reconciler) { r.wait = wait })
}

// WithLogger sets the logger of a [Reconciler] or a [Loop] (default
// slog.Default(), also when l is nil): it is both an [Option] and a
// [LoopOption].
func WithLogger(l *slog.Logger) LoggerOption { return LoggerOption{l} }

// LoggerOption is what [WithLogger] returns: a logger setting for either
// constructor, [New] or [NewLoop].
type LoggerOption struct{ logger *slog.Logger }

func (o LoggerOption) applyReconciler(r *Reconciler) {
	if o.logger != nil {
		r.logger = o.logger
	}
}
func (o LoggerOption) applyLoop(l *Loop) {
	if o.logger != nil {
		l.logger = o.logger
	}
}

// New returns a Reconciler reading from authority.
func New(authority Authority, opts ...Option) *Reconciler {
	r := &Reconciler{authority: authority, source: sfsync.Salesforce, logger: slog.Default()}
	for _, o := range opts {
		o.applyReconciler(r)
	}
	return r
}

// Stats counts the work a Reconciler has done.
type Stats struct {
	// Scanned is the number of authoritative records read.
	Scanned int64
	// Emitted is the number of changes handed to the engine.
	Emitted int64
	// Deleted is the number of emitted deletes.
	Deleted int64
}

// Stats returns the counters so far.
func (r *Reconciler) Stats() Stats {
	return Stats{Scanned: r.scanned.Load(), Emitted: r.emitted.Load(), Deleted: r.deleted.Load()}
}

// Reconcile implements sfsync.Reconciler: it scans scope and emits one
// change per record. A missing record named in scope.IDs is emitted as a
// delete: the authority no longer has it.
func (r *Reconciler) Reconcile(ctx context.Context, scope sfsync.Scope, emit func(context.Context, sfsync.Change) error) error {
	if scope.Object == "" {
		return fmt.Errorf("reconcile: scope has no object (reason %q): name the object to reconcile: %w", scope.Reason, sfsync.ErrInvalid)
	}
	if r.wait != nil {
		if err := r.wait(ctx); err != nil {
			return fmt.Errorf("reconcile %s: waiting for API headroom: %w", scope.Object, err)
		}
	}
	missing := make(map[string]bool, len(scope.IDs))
	for _, id := range scope.IDs {
		missing[id] = true
	}
	for rec, err := range r.authority.Scan(ctx, scope.Object, scope.IDs, scope.Since) {
		if err != nil {
			return fmt.Errorf("reconcile %s: scanning authoritative state: %w", scope.Object, err)
		}
		r.scanned.Add(1)
		delete(missing, rec.ID)
		if len(rec.ID) == 18 {
			// Asked for by its 15-character form, found in its
			// 18-character one: the same record (sfsync.SameID).
			delete(missing, rec.ID[:15])
		}
		if err := r.emit(ctx, emit, r.change(scope, rec)); err != nil {
			return err
		}
	}
	for _, id := range scope.IDs {
		if !missing[id] {
			continue
		}
		gone := sfsync.Record{Object: scope.Object, ID: id, Deleted: true}
		if err := r.emit(ctx, emit, r.change(scope, gone)); err != nil {
			return err
		}
	}
	r.logger.LogAttrs(ctx, slog.LevelDebug, "reconcile done", slog.String("object", scope.Object),
		slog.String("reason", scope.Reason), slog.Int64("scanned", r.scanned.Load()))
	return nil
}

func (r *Reconciler) emit(ctx context.Context, emit func(context.Context, sfsync.Change) error, c sfsync.Change) error {
	if r.limiter != nil {
		if err := r.limiter.Wait(ctx); err != nil {
			return fmt.Errorf("reconcile %s/%s: rate wait: %w", c.Object, c.RecordID, err)
		}
	}
	if err := emit(ctx, c); err != nil {
		return fmt.Errorf("reconcile %s/%s: engine refused the change: %w", c.Object, c.RecordID, err)
	}
	r.emitted.Add(1)
	if c.Op == sfsync.OpDelete {
		r.deleted.Add(1)
	}
	return nil
}

// change turns an authoritative record into a change. Every field is
// carried: the record is the whole truth, and the engine's no-op check
// drops what the target already has.
func (r *Reconciler) change(scope sfsync.Scope, rec sfsync.Record) sfsync.Change {
	c := sfsync.Change{
		Source:   r.source,
		Tenant:   r.tenant,
		Object:   scope.Object,
		RecordID: rec.ID,
		Op:       sfsync.OpUpdate,
		Version:  rec.Version,
		Origin:   sfsync.Origin{Transaction: "reconcile:" + scope.Reason},
	}
	if rec.Deleted || (!rec.Exists && len(rec.Fields) == 0) {
		c.Op = sfsync.OpDelete
	} else {
		c.Fields = make(map[string]any, len(rec.Fields))
		for _, k := range sortedKeys(rec.Fields) {
			if v := rec.Fields[k]; v == nil {
				c.Nulled = append(c.Nulled, k)
			} else {
				c.Fields[k] = v
			}
		}
	}
	c.Key = Key(scope.Object, rec)
	return c
}

// Key is the idempotency key of a reconciled record of object: the same
// authoritative state always yields the same key, so a record scanned
// again unchanged is a duplicate. The key names the record's version and
// a digest of its data: a version alone does not tell two states apart
// (Salesforce's SystemModstamp counts seconds, and two saves in one
// second share it), and the later one, taken for a repeat, would never be
// written.
func Key(object string, rec sfsync.Record) string {
	v := rec.Version
	h := fnv.New64a()
	if rec.Deleted || (!rec.Exists && len(rec.Fields) == 0) {
		h.Write([]byte("\x00deleted"))
	} else {
		for _, k := range sortedKeys(rec.Fields) {
			fmt.Fprintf(h, "%s\x00%#v\x00", k, rec.Fields[k])
		}
	}
	return "reconcile:" + object + ":" + rec.ID + ":" + strconv.FormatInt(v.Time.UnixMilli(), 10) +
		"." + strconv.FormatInt(v.Seq, 10) + "." + strconv.FormatInt(v.Counter, 10) +
		":" + strconv.FormatUint(h.Sum64(), 36)
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
