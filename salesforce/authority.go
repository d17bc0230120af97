package salesforce

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/throttle"
)

// Authority reads Salesforce's records for reconciliation and backfill. It
// implements reconcile.Authority with queryAll, so soft-deleted records
// come back marked deleted, and runs at low priority, so it waits while
// the org's API budget is inside the reserve.
//
// Scopes of record ids are read through REST queries (200 ids to a call).
// Whole-object and time-window scans first count their records (one
// COUNT() call) and run as one Bulk API 2.0 queryAll job when there are
// more than the threshold ([WithBulkThreshold]), through paged REST
// queryAll otherwise: Bulk costs a handful of calls plus one per
// [WithMaxRecords] records where REST costs one per 2,000, but a job has
// a fixed cost and latency that only pays off on larger scans. Records
// have the same shape either way (REST JSON values: datetimes as
// 2006-01-02T15:04:05.000+0000 strings, numbers as float64).
type Authority struct {
	client *Client
	fields map[string][]string
	cfg    authorityConfig
}

type authorityConfig struct {
	threshold int
	bulk      []BulkOption
	now       func() time.Time
}

// AuthorityOption configures an [Authority].
type AuthorityOption func(*authorityConfig)

// DefaultBulkThreshold is the number of records above which an
// Authority's whole-object and time-window scans use Bulk API 2.0.
const DefaultBulkThreshold = 10_000

// WithBulkThreshold makes scans of more than n records use Bulk API 2.0
// (default [DefaultBulkThreshold]). 0 uses Bulk for every whole-object and
// time-window scan, without counting first; a negative n never uses it.
func WithBulkThreshold(n int) AuthorityOption { return func(c *authorityConfig) { c.threshold = n } }

// WithBulkOptions sets the options of the Authority's Bulk queries: page
// size, poll backoff, progress.
func WithBulkOptions(opts ...BulkOption) AuthorityOption {
	return func(c *authorityConfig) { c.bulk = append(c.bulk, opts...) }
}

// WithAuthorityClock sets the clock that ends the getDeleted windows of
// windowed scans (default time.Now): the org's time, or one behind it.
func WithAuthorityClock(now func() time.Time) AuthorityOption {
	return func(c *authorityConfig) { c.now = now }
}

// NewAuthority returns an Authority reading, per object, the given fields
// besides Id, LastModifiedDate, SystemModstamp and IsDeleted.
func NewAuthority(client *Client, fields map[string][]string, opts ...AuthorityOption) *Authority {
	cfg := authorityConfig{threshold: DefaultBulkThreshold, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	return &Authority{client: client, fields: fields, cfg: cfg}
}

// Scan yields object's records in SystemModstamp order: those in ids when
// ids is not empty (200 to a query), else those modified at or after since
// (every record when since is zero), deleted ones included.
func (a *Authority) Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return func(yield func(sfsync.Record, error) bool) {
		ctx := WithPriority(ctx, throttle.PriorityLow)
		fields, base := a.selectAll(object)
		fail := func(err error) { yield(sfsync.Record{}, fmt.Errorf("salesforce: scan %s: %w", object, err)) }
		if len(ids) == 0 {
			where := sinceClause(since)
			bulk, err := a.useBulk(ctx, object, where)
			if err != nil {
				fail(err)
				return
			}
			if bulk {
				// ORDER BY keeps the Authority's order; Salesforce then
				// does not chunk the query by primary key, which
				// SystemModstamp's index makes up for.
				for row, err := range a.client.BulkQuery(ctx, BulkQueryAll, base+where+" ORDER BY SystemModstamp", a.cfg.bulk...) {
					if err != nil {
						fail(err)
						return
					}
					if !yield(toRecord(object, row.restMap(), fields), nil) {
						return
					}
				}
				return
			}
			for rec, err := range a.client.QueryAll(ctx, base+where+" ORDER BY SystemModstamp") {
				if err != nil {
					fail(err)
					return
				}
				if !yield(toRecord(object, rec, fields), nil) {
					return
				}
			}
			return
		}
		for start := 0; start < len(ids); start += MaxCollectionSize {
			chunk := ids[start:min(len(ids), start+MaxCollectionSize)]
			for rec, err := range a.client.QueryAll(ctx, base+" WHERE Id IN "+QuoteList(chunk)+" ORDER BY SystemModstamp") {
				if err != nil {
					fail(err)
					return
				}
				if !yield(toRecord(object, rec, fields), nil) {
					return
				}
			}
		}
	}
}

// selectAll is the field list and SELECT ... FROM clause of object's scans.
func (a *Authority) selectAll(object string) ([]string, string) {
	fields := []string{"Id", "LastModifiedDate", "SystemModstamp", "IsDeleted"}
	for _, f := range a.fields[object] {
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	return fields, fmt.Sprintf("SELECT %s FROM %s", strings.Join(fields, ", "), object)
}

func sinceClause(since time.Time) string {
	if since.IsZero() {
		return ""
	}
	return " WHERE SystemModstamp >= " + FormatDateTime(since)
}

// useBulk decides between Bulk and REST for a scan of object filtered by
// where: COUNT() it (deleted records included) unless the threshold
// decides alone.
func (a *Authority) useBulk(ctx context.Context, object, where string) (bool, error) {
	switch {
	case a.cfg.threshold < 0:
		return false, nil
	case a.cfg.threshold == 0:
		return true, nil
	}
	n, err := a.client.CountAll(ctx, "SELECT COUNT() FROM "+object+where)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == "QUERY_TIMEOUT" {
		// Counting timed out: the scan is large, which is what Bulk is
		// for.
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return n > a.cfg.threshold, nil
}

func toRecord(object string, rec map[string]any, fields []string) sfsync.Record {
	id, _ := rec["Id"].(string)
	deleted, _ := rec["IsDeleted"].(bool)
	r := sfsync.Record{Object: object, ID: id, Exists: true, Deleted: deleted, Fields: map[string]any{}}
	for _, f := range fields[4:] {
		r.Fields[f] = rec[f]
	}
	r.Version = rereadVersion(rec)
	return r
}

// rereadVersion is the version of a record read from the REST API: its
// SystemModstamp (LastModifiedDate when absent) and nothing else.
// SystemModstamp moves on every change, by a user or an automated process,
// so it is the time the record's change events are compared with (spec:
// commitTimestamp vs SystemModstamp). Without a Commit or Seq, a re-read at
// the same instant as a change event counts as older than it, so the
// event's own data wins (see [sfsync.Version]).
func rereadVersion(rec map[string]any) sfsync.Version {
	for _, f := range []string{"SystemModstamp", "LastModifiedDate"} {
		if s, ok := rec[f].(string); ok {
			if t, err := ParseDateTime(s); err == nil {
				return sfsync.Version{Time: t}
			}
		}
	}
	return sfsync.Version{}
}

// Read returns the records of ids, deleted ones included (marked Deleted),
// with the Authority's fields. It implements [sfsync.StateReader], so an
// Authority can serve the engine's link lookups (sync.WithLinkReader): a
// deleted record's link is still found, so its deletion reaches the
// external system under the linked id.
func (a *Authority) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	out := make(map[string]sfsync.Record, len(ids))
	for rec, err := range a.Scan(ctx, object, ids, time.Time{}) {
		if err != nil {
			return nil, err
		}
		out[rec.ID] = rec
	}
	return out, nil
}

// ObserveSchema passes a CDC schema id of object on to the Authority's
// client (see [Client.ObserveSchema] and sync.SchemaObserver).
func (a *Authority) ObserveSchema(object, schemaID string) bool {
	return a.client.ObserveSchema(object, schemaID)
}
