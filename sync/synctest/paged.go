package synctest

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
)

// PagedSystem is a [System] whose whole-object scans come in pages that an
// interrupted scan resumes after, as a Bulk API job read from its
// locators: it implements [reconcile.PagedAuthority].
type PagedSystem struct {
	*System
	size int
}

// Paged returns s scanned in pages of size records (at least 1).
func (s *System) Paged(size int) *PagedSystem { return &PagedSystem{System: s, size: max(size, 1)} }

// pageToken is the key of the last record of a page: the scan continues
// with the records after it in (version, id) order.
type pageToken struct {
	Version sfsync.Version `json:"version"`
	ID      string         `json:"id"`
}

// ScanPages implements [reconcile.PagedAuthority].
func (p *PagedSystem) ScanPages(ctx context.Context, object string, since time.Time, resume []byte) iter.Seq2[reconcile.Page, error] {
	return func(yield func(reconcile.Page, error) bool) {
		var after *pageToken
		if len(resume) > 0 {
			after = new(pageToken)
			if err := json.Unmarshal(resume, after); err != nil {
				yield(reconcile.Page{}, fmt.Errorf("synctest: resume token %q: %w", resume, err))
				return
			}
		}
		var page []sfsync.Record
		flush := func() bool {
			last := page[len(page)-1]
			tok, _ := json.Marshal(pageToken{Version: last.Version, ID: last.ID})
			recs := page
			page = nil
			return yield(reconcile.Page{Total: -1, Resume: tok, Records: func(yield func(sfsync.Record, error) bool) {
				for _, r := range recs {
					if !yield(r, nil) {
						return
					}
				}
			}}, nil)
		}
		for r, err := range p.Scan(ctx, object, nil, since) {
			if err != nil {
				yield(reconcile.Page{}, err)
				return
			}
			if after != nil {
				if c := r.Version.Compare(after.Version); c < 0 || (c == 0 && r.ID <= after.ID) {
					continue
				}
			}
			if page = append(page, r); len(page) == p.size && !flush() {
				return
			}
		}
		if len(page) > 0 {
			flush()
		}
	}
}

// Versions implements sync.VersionLister: the versions of object's
// records modified at or after since, without their fields, in the order
// of Scan.
func (s *System) Versions(ctx context.Context, object string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return s.VersionsWith(ctx, object, since)
}

// VersionsWith implements sync.LinkVersionLister: Versions with the values
// of fields.
func (s *System) VersionsWith(ctx context.Context, object string, since time.Time, fields ...string) iter.Seq2[sfsync.Record, error] {
	return func(yield func(sfsync.Record, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(sfsync.Record{}, err)
			return
		}
		s.mu.Lock()
		recs := make([]sfsync.Record, 0, len(s.records[object]))
		for id, r := range s.records[object] {
			if !since.IsZero() && r.version.Time.Before(since) {
				continue
			}
			// Without the values: a listing of a large object would copy
			// every one.
			rec := sfsync.Record{Object: object, ID: id, Exists: true, Deleted: r.deleted, Version: r.version,
				FieldVersions: maps.Clone(r.versions), LastWriter: maps.Clone(r.writers)}
			for _, f := range fields {
				if v, ok := r.fields[f]; ok {
					if rec.Fields == nil {
						rec.Fields = make(map[string]any, len(fields))
					}
					rec.Fields[f] = v
				}
			}
			recs = append(recs, rec)
		}
		s.mu.Unlock()
		slices.SortFunc(recs, func(a, b sfsync.Record) int {
			if c := a.Version.Compare(b.Version); c != 0 {
				return c
			}
			return compare(a.ID, b.ID)
		})
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}
