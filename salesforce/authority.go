package salesforce

import (
	"context"
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
type Authority struct {
	client *Client
	fields map[string][]string
}

// NewAuthority returns an Authority reading, per object, the given fields
// besides Id, LastModifiedDate, SystemModstamp and IsDeleted.
func NewAuthority(client *Client, fields map[string][]string) *Authority {
	return &Authority{client: client, fields: fields}
}

// Scan yields object's records in SystemModstamp order: those in ids when
// ids is not empty (200 to a query), else those modified at or after since.
func (a *Authority) Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return func(yield func(sfsync.Record, error) bool) {
		ctx := WithPriority(ctx, throttle.PriorityLow)
		fields := []string{"Id", "LastModifiedDate", "SystemModstamp", "IsDeleted"}
		for _, f := range a.fields[object] {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
		base := fmt.Sprintf("SELECT %s FROM %s", strings.Join(fields, ", "), object)
		var queries []string
		switch {
		case len(ids) > 0:
			for start := 0; start < len(ids); start += MaxCollectionSize {
				chunk := ids[start:min(len(ids), start+MaxCollectionSize)]
				queries = append(queries, base+" WHERE Id IN "+QuoteList(chunk)+" ORDER BY SystemModstamp")
			}
		case !since.IsZero():
			queries = append(queries, base+" WHERE SystemModstamp >= "+FormatDateTime(since)+" ORDER BY SystemModstamp")
		default:
			queries = append(queries, base+" ORDER BY SystemModstamp")
		}
		for _, q := range queries {
			for rec, err := range a.client.QueryAll(ctx, q) {
				if err != nil {
					yield(sfsync.Record{}, fmt.Errorf("salesforce: scan %s: %w", object, err))
					return
				}
				if !yield(toRecord(object, rec, fields), nil) {
					return
				}
			}
		}
	}
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
