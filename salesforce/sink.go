package salesforce

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// Sink writes changes from external systems into Salesforce through sObject
// Collections. It implements [sfsync.Sink] and [sfsync.StateReader].
//
// One Write call is one coalescing window: changes to the same record are
// merged into one record write (later changes' values win, explicit nulls
// are sent as nulls), and the records are sent at most 200 to a call, so N
// changes cost at most ⌈N/200⌉ API calls, fewer when changes coalesce.
// Objects with an external id field configured are upserted by it, keyed
// by the change's record id: idempotent by construction, so a retried
// write cannot duplicate a record. Other objects are updated by Salesforce
// id (creates without an external id are not idempotent: configure one).
type Sink struct {
	client      *Client
	externalIDs map[string]string   // object → external id field
	readFields  map[string][]string // object → fields Read returns
	allOrNone   bool
	window      time.Duration

	mu      stdsync.Mutex
	pending *sharedBatch
}

// SinkOption configures a [Sink].
type SinkOption func(*Sink)

// WithExternalID upserts object by field, an external id field holding the
// external system's record id.
func WithExternalID(object, field string) SinkOption {
	return func(s *Sink) { s.externalIDs[object] = field }
}

// WithReadFields sets the fields [Sink.Read] returns for object, for
// conflict policies and no-op checks (Id, LastModifiedDate and
// SystemModstamp are always read, the last as the record's version).
// Without it Read returns only those.
func WithReadFields(object string, fields ...string) SinkOption {
	return func(s *Sink) { s.readFields[object] = append(s.readFields[object], fields...) }
}

// NewSink returns a Sink writing through client. The client's WithClientID
// marks every write so that its change events are recognised as echoes.
func NewSink(client *Client, opts ...SinkOption) *Sink {
	s := &Sink{client: client, externalIDs: map[string]string{}, readFields: map[string][]string{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// System reports Salesforce as the sink's destination, for outcomes and
// echo detection.
func (s *Sink) System() sfsync.System { return sfsync.Salesforce }

// ClientID returns the client id the sink's writes carry (see
// [WithClientID]); the engine recognises their change events by it.
func (s *Sink) ClientID() string { return s.client.ClientID() }

// Err returns a lasting failure of the sink's client (see [Client.Err]),
// for the engine's health.
func (s *Sink) Err() error { return s.client.Err() }

// recordWrite is the coalesced write of one record and the changes it
// carries.
type recordWrite struct {
	object, id string
	op         sfsync.Op
	fields     map[string]any
	members    []int // indexes into the Write call's changes
}

// Write applies changes and reports per-change failures in a
// [*sfsync.BatchError] aligned with changes. With [WithCoalesceWindow],
// the changes of concurrent Write calls share API calls.
func (s *Sink) Write(ctx context.Context, changes []sfsync.Change) error {
	if s.window > 0 {
		return s.writeShared(ctx, changes)
	}
	return s.write(ctx, changes)
}

// write applies changes through as few collections calls as they need.
func (s *Sink) write(ctx context.Context, changes []sfsync.Change) error {
	errs := make([]error, len(changes))
	writes := s.coalesce(changes, errs)
	// A record written twice in one call (an update, then a delete) is
	// written in two rounds, so its writes keep their order.
	type batchKey struct {
		round        int
		object, kind string
	}
	rounds := map[string]int{}
	batches := map[batchKey][]*recordWrite{}
	var order []batchKey
	for _, w := range writes {
		rk := w.object + "/" + w.id
		k := batchKey{rounds[rk], w.object, s.kind(w)}
		rounds[rk]++
		if _, ok := batches[k]; !ok {
			order = append(order, k)
		}
		batches[k] = append(batches[k], w)
	}
	slices.SortStableFunc(order, func(a, b batchKey) int { return a.round - b.round })
	for _, k := range order {
		all := batches[k]
		for start := 0; start < len(all); start += MaxCollectionSize {
			chunk := all[start:min(len(all), start+MaxCollectionSize)]
			results, err := s.send(ctx, k.object, k.kind, chunk)
			for i, w := range chunk {
				e := err
				if e == nil {
					e = resultError(w, results, i)
				}
				for _, m := range w.members {
					errs[m] = e
				}
			}
		}
	}
	for _, e := range errs {
		if e != nil {
			return &sfsync.BatchError{Errs: errs}
		}
	}
	return nil
}

// coalesce merges consecutive changes to one record; a delete or an
// undelete ends the run, since Salesforce applies it on its own.
func (s *Sink) coalesce(changes []sfsync.Change, errs []error) []*recordWrite {
	var writes []*recordWrite
	open := map[string]*recordWrite{}
	for i := range changes {
		c := &changes[i]
		key := c.Object + "/" + c.RecordID
		switch c.Op {
		case sfsync.OpCreate, sfsync.OpUpdate:
		case sfsync.OpDelete, sfsync.OpUndelete:
			delete(open, key)
			if c.Op == sfsync.OpUndelete {
				errs[i] = sfsync.Permanent(fmt.Errorf("salesforce: %s %s: undelete is not available through the REST API; restore it from the Recycle Bin", c.Object, c.RecordID))
				continue
			}
			writes = append(writes, &recordWrite{object: c.Object, id: c.RecordID, op: c.Op, members: []int{i}})
			continue
		default:
			errs[i] = sfsync.Permanent(fmt.Errorf("salesforce: cannot write a %s change of %s %s: %w", c.Op, c.Object, c.RecordID, sfsync.ErrInvalid))
			continue
		}
		if w, ok := open[key]; ok {
			merge(w.fields, c)
			if c.Op == sfsync.OpCreate {
				w.op = sfsync.OpCreate
			}
			w.members = append(w.members, i)
			continue
		}
		w := &recordWrite{object: c.Object, id: c.RecordID, op: c.Op, fields: map[string]any{}, members: []int{i}}
		merge(w.fields, c)
		open[key] = w
		writes = append(writes, w)
	}
	return writes
}

func merge(fields map[string]any, c *sfsync.Change) {
	for _, n := range c.Nulled {
		fields[n] = nil
	}
	maps.Copy(fields, c.Fields)
}

// kind says which collections call writes w.
func (s *Sink) kind(w *recordWrite) string {
	switch {
	case w.op == sfsync.OpDelete:
		return "delete"
	case s.externalIDs[w.object] != "" && !IsID(w.id):
		return "upsert"
	case w.op == sfsync.OpCreate:
		return "create"
	}
	return "update"
}

func (s *Sink) send(ctx context.Context, object, kind string, ws []*recordWrite) ([]SaveResult, error) {
	switch kind {
	case "delete":
		ids := make([]string, len(ws))
		for i, w := range ws {
			ids[i] = w.id
		}
		if ext := s.externalIDs[object]; ext != "" {
			var err error
			if ids, err = s.resolveExternalIDs(ctx, object, ext, ids); err != nil {
				return nil, err
			}
		}

		return s.deleteKnown(ctx, ids)
	case "upsert":
		ext := s.externalIDs[object]
		recs := make([]map[string]any, len(ws))
		for i, w := range ws {
			r := maps.Clone(w.fields)
			delete(r, "Id")
			r[ext] = w.id
			recs[i] = r
		}
		return s.client.UpsertRecords(ctx, object, ext, recs, s.allOrNone)
	case "create":
		recs := make([]map[string]any, len(ws))
		for i, w := range ws {
			recs[i] = maps.Clone(w.fields)
		}
		return s.client.CreateRecords(ctx, object, recs, s.allOrNone)
	}
	recs := make([]map[string]any, len(ws))
	for i, w := range ws {
		r := maps.Clone(w.fields)
		r["Id"] = w.id
		recs[i] = r
	}
	return s.client.UpdateRecords(ctx, object, recs, s.allOrNone)
}

// deleteKnown deletes ids, reporting an id that resolved to nothing (""),
// as already deleted.
func (s *Sink) deleteKnown(ctx context.Context, ids []string) ([]SaveResult, error) {
	var known []string
	for _, id := range ids {
		if id != "" {
			known = append(known, id)
		}
	}
	results := make([]SaveResult, len(ids))
	if len(known) > 0 {
		got, err := s.client.DeleteRecords(ctx, known, s.allOrNone)
		if err != nil {
			return nil, err
		}
		j := 0
		for i, id := range ids {
			if id != "" && j < len(got) {
				results[i] = got[j]
				j++
			}
		}
	}
	for i, id := range ids {
		if id == "" {
			results[i] = SaveResult{Success: true}
		}
	}
	return results, nil
}

// resolveExternalIDs maps external ids to Salesforce ids ("" when no live
// record has it) with one query per 200.
func (s *Sink) resolveExternalIDs(ctx context.Context, object, field string, ext []string) ([]string, error) {
	found := map[string]string{}
	var lookup []string
	for _, e := range ext {
		if IsID(e) {
			found[e] = e
		} else {
			lookup = append(lookup, e)
		}
	}
	for start := 0; start < len(lookup); start += MaxCollectionSize {
		chunk := lookup[start:min(len(lookup), start+MaxCollectionSize)]
		q := fmt.Sprintf("SELECT Id, %s FROM %s WHERE %s IN %s", field, object, field, QuoteList(chunk))
		for rec, err := range s.client.Query(ctx, q) {
			if err != nil {
				return nil, err
			}
			id, _ := rec["Id"].(string)
			e, _ := rec[field].(string)
			found[e] = id
		}
	}
	out := make([]string, len(ext))
	for i, e := range ext {
		out[i] = found[e]
	}
	return out, nil
}

// resultError turns the per-record result of w into its error: nil on
// success, else the record's classified error ([SaveResult.Err]) with the
// record named. The code stays on the outermost [sfsync.Error], so the
// engine's dead letters and ledger show it, and errors.As still reaches
// the *[APIError].
func resultError(w *recordWrite, results []SaveResult, i int) error {
	if i >= len(results) {
		return sfsync.Retryable(fmt.Errorf("salesforce: %s %s: no result for the record in the response; retry", w.object, w.id))
	}
	err := results[i].Err()
	if err == nil {
		return nil
	}
	var se *sfsync.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("salesforce: %s %s of %s: %w", w.op, w.id, w.object, err)
	}
	return &sfsync.Error{Kind: se.Kind, Code: se.Code, RetryAfter: se.RetryAfter,
		Err: fmt.Errorf("salesforce: %s %s of %s: %w", w.op, w.id, w.object, se.Err)}
}

// Read returns the current state of records by the ids the engine knows
// them by: external ids for objects with one configured, Salesforce ids
// otherwise. Deleted records still in the Recycle Bin are returned marked
// Deleted, so that the engine tells a deleted record from one never
// created. It costs one call per 200 ids.
func (s *Sink) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	fields := append([]string{"Id", "LastModifiedDate", "SystemModstamp"}, s.readFields[object]...)
	ext := s.externalIDs[object]
	if ext != "" && !slices.Contains(fields, ext) {
		fields = append(fields, ext)
	}
	fields = dedupe(fields)
	out := make(map[string]sfsync.Record, len(ids))
	var byID, byExt []string
	for _, id := range ids {
		if ext != "" && !IsID(id) {
			byExt = append(byExt, id)
		} else {
			byID = append(byID, id)
		}
	}
	if err := s.read(ctx, object, byID, "", fields, out); err != nil {
		return nil, err
	}
	if err := s.read(ctx, object, byExt, ext, fields, out); err != nil {
		return nil, err
	}
	return out, nil
}

// read adds the records of ids to out, keyed by ids: Salesforce ids when
// ext is empty, values of the external id field ext otherwise. It reads
// through queryAll, so that a deleted record (in the Recycle Bin) comes
// back as a tombstone: marked Deleted, versioned by its delete. Where an
// external id names a deleted record and a live one created after it, the
// live one is the record.
func (s *Sink) read(ctx context.Context, object string, ids []string, ext string, fields []string, out map[string]sfsync.Record) error {
	key := "Id"
	if ext != "" {
		key = ext
	}
	fields = dedupe(append(slices.Clone(fields), "IsDeleted"))
	for start := 0; start < len(ids); start += MaxCollectionSize {
		chunk := ids[start:min(len(ids), start+MaxCollectionSize)]
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s IN %s", strings.Join(fields, ", "), object, key, QuoteList(chunk))
		for rec, err := range s.client.QueryAll(ctx, q) {
			if err != nil {
				return err
			}
			id, _ := rec[key].(string)
			if id == "" {
				continue
			}
			if key == "Id" {
				// Ids come back in their 18-character form; the engine
				// asked by the form it knows.
				for _, asked := range chunk {
					if strings.EqualFold(asked, id) || (len(asked) == 15 && strings.HasPrefix(id, asked)) {
						id = asked
						break
					}
				}
			}
			deleted, _ := rec["IsDeleted"].(bool)
			r := sfsync.Record{Object: object, ID: id, Exists: true, Deleted: deleted, Fields: map[string]any{}}
			for _, f := range fields {
				if f == "Id" || f == "LastModifiedDate" || f == "SystemModstamp" || f == "IsDeleted" || f == ext {
					continue
				}
				r.Fields[f] = rec[f]
			}
			r.Version = rereadVersion(rec)
			if prev, ok := out[id]; ok && preferred(prev, r) {
				continue
			}
			out[id] = r
		}
	}
	return nil
}

// preferred reports whether a is the record to keep over b, both found
// under one id: a live record over a deleted one, else the newer.
func preferred(a, b sfsync.Record) bool {
	if a.Deleted != b.Deleted {
		return !a.Deleted
	}
	return !a.Version.Before(b.Version)
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// IsID reports whether s is an 18-character Salesforce record id: 18
// letters and digits whose last three encode the case of the first fifteen.
// An external id is practically never one by accident, which lets a sink
// keyed by external ids also accept records the engine knows by their
// Salesforce id.
func IsID(s string) bool {
	if len(s) != 18 {
		return false
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	for chunk := 0; chunk < 3; chunk++ {
		bits := 0
		for i := 0; i < 5; i++ {
			c := s[chunk*5+i]
			switch {
			case c >= 'A' && c <= 'Z':
				bits |= 1 << i
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			default:
				return false
			}
		}
		if s[15+chunk] != alphabet[bits] {
			return false
		}
	}
	return true
}

// CheckFields implements the engine's mapping check (sync.FieldChecker):
// every field must exist in object's describe and be writable by the
// integration user. It returns the joined *[FieldError]s, which match
// [sfsync.ErrInvalid], or an error reading the describe.
func (s *Sink) CheckFields(ctx context.Context, object string, write []string) error {
	d, err := s.client.Describe(ctx, object)
	if err != nil {
		return fmt.Errorf("salesforce: checking the fields of %s: %w", object, err)
	}
	uses := make([]FieldUse, len(write))
	for i, f := range write {
		uses[i] = FieldUse{Name: f, Write: true, Kind: ValueAny}
	}
	return d.Check(uses...)
}

// ObserveSchema passes a CDC schema id of object on to the sink's client
// (see [Client.ObserveSchema]): the engine calls it for each new one
// (sync.SchemaObserver), so the describe that checks the mapping and types
// Bulk results follows the object's fields.
func (s *Sink) ObserveSchema(object, schemaID string) bool {
	return s.client.ObserveSchema(object, schemaID)
}
