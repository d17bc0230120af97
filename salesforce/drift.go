package salesforce

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/throttle"
)

// DefaultVersionsMaxRecords is the page size of [Authority.Versions]'
// Bulk jobs: its rows are three short columns, so pages can be large.
const DefaultVersionsMaxRecords = 250_000

// Versions yields the Id, SystemModstamp and IsDeleted of object's records
// modified at or after since (all when since is zero), soft-deleted ones
// included, in no particular order, for a drift check: compare them with
// the engine's version map and re-read ([Authority.Read]) only the records
// that differ or that one side lacks.
//
// It reads only those three columns, through REST queryAll when the scan
// has at most the Authority's Bulk threshold of records, else through one
// Bulk API 2.0 queryAll job, unordered so that Salesforce can chunk it by
// primary key. A pass over N records costs, in API calls:
//
//   - REST (N ≤ threshold): 1 COUNT() + ⌈N / 2,000⌉;
//   - Bulk: 1 COUNT() + 1 create + the polls + ⌈N / 250,000⌉ pages
//     ([DefaultVersionsMaxRecords]; [WithBulkOptions] with
//     [WithMaxRecords] changes it) + 1 delete, and 1 describe per object
//     for the client's lifetime. With the default poll backoff (1 s
//     growing by half to 30 s) a job that runs a minute takes about 8
//     polls, so 1,000,000 records cost about 15 calls where REST costs 501.
//
// With [WithBulkThreshold] of 0 the COUNT() call is skipped.
// Each record comes with its Object, ID, Version and Deleted (Exists is
// its opposite), and no fields.
func (a *Authority) Versions(ctx context.Context, object string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return a.VersionsWith(ctx, object, since)
}

// VersionsWith is [Authority.Versions] with the values of fields in each
// record's Fields, typed as in [Authority.Scan]: a drift check of a linked
// mapping lists the link field (sync.LinkVersionLister). Each field widens
// every row.
func (a *Authority) VersionsWith(ctx context.Context, object string, since time.Time, fields ...string) iter.Seq2[sfsync.Record, error] {
	return func(yield func(sfsync.Record, error) bool) {
		ctx := WithPriority(ctx, throttle.PriorityLow)
		fail := func(err error) { yield(sfsync.Record{}, fmt.Errorf("salesforce: versions of %s: %w", object, err)) }
		if err := checkObject(object); err != nil {
			fail(err)
			return
		}
		for _, f := range fields {
			if !isFieldName(f) {
				fail(invalidf("bad field name %q", f))
				return
			}
		}
		where := sinceClause(since)
		columns := "Id, SystemModstamp, IsDeleted"
		if len(fields) > 0 {
			columns += ", " + strings.Join(fields, ", ")
		}
		soql := "SELECT " + columns + " FROM " + object + where
		bulk, err := a.useBulk(ctx, object, where)
		if err != nil {
			fail(err)
			return
		}
		if !bulk {
			for rec, err := range a.client.QueryAll(ctx, soql) {
				if err != nil {
					fail(err)
					return
				}
				id, _ := rec["Id"].(string)
				deleted, _ := rec["IsDeleted"].(bool)
				v := sfsync.Record{Object: object, ID: id, Exists: !deleted, Deleted: deleted, Version: rereadVersion(rec)}
				for _, f := range fields {
					if v.Fields == nil {
						v.Fields = make(map[string]any, len(fields))
					}
					v.Fields[f] = rec[f]
				}
				if !yield(v, nil) {
					return
				}
			}
			return
		}
		opts := append([]BulkOption{WithMaxRecords(DefaultVersionsMaxRecords)}, a.cfg.bulk...)
		for row, err := range a.client.BulkQuery(ctx, BulkQueryAll, soql, opts...) {
			if err != nil {
				fail(err)
				return
			}
			v := sfsync.Record{Object: object, Exists: true}
			id, _ := row.Get("Id")
			v.ID, _ = id.(string)
			stamp, _ := row.Get("SystemModstamp")
			if t, ok := stamp.(time.Time); ok {
				v.Version = sfsync.Version{Time: t}
			}
			deleted, _ := row.Get("IsDeleted")
			v.Deleted, _ = deleted.(bool)
			v.Exists = !v.Deleted
			for _, f := range fields {
				if v.Fields == nil {
					v.Fields = make(map[string]any, len(fields))
				}
				v.Fields[f], _ = row.Get(f)
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// isFieldName reports whether f is a field's API name (or a relationship
// path of them) that can go into a SOQL select list as it is.
func isFieldName(f string) bool {
	if f == "" {
		return false
	}
	for _, part := range strings.Split(f, ".") {
		if part == "" || !(part[0] >= 'A' && part[0] <= 'Z' || part[0] >= 'a' && part[0] <= 'z') {
			return false
		}
		for _, r := range part {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return false
			}
		}
	}
	return true
}
