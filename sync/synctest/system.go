package synctest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	stdsync "sync"
	"time"

	"github.com/sfsync/sfsync"
)

// System is an in-memory system of record. It implements [sfsync.Sink],
// [sfsync.StateReader] and reconcile.Authority, tracks the version and
// writer of every field, and, with a feed, emits a change for every edit
// and every write, as CDC does.
type System struct {
	sys      sfsync.System
	feed     *Log
	writerID string
	byKey    bool
	schema   map[string]map[string]bool
	tenant   string
	// recordOnly hides field versions and writers from Read.
	recordOnly bool
	// deletedUnread leaves deleted records out of Read.
	deletedUnread bool
	// freshCreates empties a deleted record a create brings back.
	freshCreates bool
	// emptyShown makes Read show every field of an object's schema.
	emptyShown bool
	// stamp, when set, versions each write by the system's own clock.
	stamp func() sfsync.Version
	// extIDs names, per object, the external id field that writes and
	// reads resolve ids not of the system's own by (WithExternalID).
	extIDs map[string]string

	mu      stdsync.Mutex
	records map[string]map[string]*record
	applied map[string]int
	writes  int
	calls   int
	seq     int
	faults  []*Fault
}

type record struct {
	fields   map[string]any
	versions map[string]sfsync.Version
	writers  map[string]sfsync.System
	version  sfsync.Version
	deleted  bool
}

// Fault makes writes fail. Faults are matched in the order injected.
type Fault struct {
	// Match selects the changes that fail; nil selects every change.
	Match func(sfsync.Change) bool
	// Err is returned for each selected change.
	Err error
	// AfterApply applies the change before failing, as a timeout whose
	// acknowledgement was lost does.
	AfterApply bool
	// Times is how many changes fail before the fault is spent; 0 means 1,
	// a negative number never spends it.
	Times int
}

// SystemOption configures a [System].
type SystemOption func(*System)

// WithFeed makes the system append a change to feed for every edit and
// every write, like a CDC stream.
func WithFeed(feed *Log) SystemOption { return func(s *System) { s.feed = feed } }

// WithWriterID sets the client id that the feed reports as the origin of
// changes written through Write (the engine's writes), like Salesforce's
// changeOrigin "client=" value. The default is "sfsync".
func WithWriterID(id string) SystemOption { return func(s *System) { s.writerID = id } }

// WithoutKeyIdempotency makes Write apply a change again when its
// idempotency key was already applied, as a target without idempotent
// writes does; Applications still counts every effect.
func WithoutKeyIdempotency() SystemOption { return func(s *System) { s.byKey = false } }

// WithSchema restricts object to fields: a write of any other field fails
// permanently, like an unknown column.
func WithSchema(object string, fields ...string) SystemOption {
	return func(s *System) {
		set := map[string]bool{}
		for _, f := range fields {
			set[f] = true
		}
		s.schema[object] = set
	}
}

// WithRecordVersionsOnly makes the system report, when read, only each
// record's version, not its fields' versions and writers, as Salesforce's
// SystemModstamp does; the engine then relies on its version map.
func WithRecordVersionsOnly() SystemOption { return func(s *System) { s.recordOnly = true } }

// WithDeletedUnread makes Read leave deleted records out, as Salesforce's
// REST API does (they are in the Recycle Bin, found only by queryAll).
func WithDeletedUnread() SystemOption { return func(s *System) { s.deletedUnread = true } }

// WithFreshCreates makes a create of a deleted record start it anew, as
// Salesforce's REST API does (it has no undelete: a create makes a new
// record): the fields it does not set are empty, not the deleted record's.
func WithFreshCreates() SystemOption { return func(s *System) { s.freshCreates = true } }

// WithEmptyFieldsShown makes Read show every field of an object's schema
// (see [WithSchema]), null where never set, as Salesforce's REST API does.
func WithEmptyFieldsShown() SystemOption { return func(s *System) { s.emptyShown = true } }

// WithWriteClock makes the system version each write it takes by its own
// clock, as Salesforce stamps SystemModstamp and the commit time of the
// write's event, instead of keeping the version of the change written.
func WithWriteClock(now func() sfsync.Version) SystemOption {
	return func(s *System) { s.stamp = now }
}

// WithExternalID makes the system resolve a record id of object that is
// not one of its own by field, an external id field, as Salesforce's
// upsert by external id does for a sink configured with it
// (salesforce.WithExternalID): a write goes to the record whose field
// holds the id, else creates a record with an id of the system's own
// carrying it (a delete of an id no record holds deletes nothing), and a
// read finds the record by it. The feed reports such a write under the
// record's own id, as CDC does, carrying field when it created the record.
func WithExternalID(object, field string) SystemOption {
	return func(s *System) { s.extIDs[object] = field }
}

// WithTenant stamps the feed's changes with an org id.
func WithTenant(orgID string) SystemOption { return func(s *System) { s.tenant = orgID } }

// NewSystem returns an empty system named sys.
func NewSystem(sys sfsync.System, opts ...SystemOption) *System {
	s := &System{
		sys: sys, writerID: "sfsync", byKey: true, schema: map[string]map[string]bool{},
		records: map[string]map[string]*record{}, applied: map[string]int{}, extIDs: map[string]string{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// System returns the system's name; the engine uses it as the destination.
func (s *System) System() sfsync.System { return s.sys }

// InjectFault adds f.
func (s *System) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Edit is a user's edit in this system: it applies fields (nil values set
// fields to null) at version v and, with a feed, emits the change. It
// returns the change as the feed carries it.
func (s *System) Edit(object, id string, fields map[string]any, v sfsync.Version) sfsync.Change {
	c := s.EditSilently(object, id, fields, v)
	s.publish(c)
	return c
}

// EditSilently applies an edit like [System.Edit] but does not emit it:
// the caller appends the returned change to a log itself, for example out
// of order.
func (s *System) EditSilently(object, id string, fields map[string]any, v sfsync.Version) sfsync.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := sfsync.OpUpdate
	if s.get(object, id) == nil {
		op = sfsync.OpCreate
	}
	c := s.change(object, id, op, fields, v, sfsync.Origin{Client: "user", User: "user"})
	s.apply(&c)
	return c
}

// Remove is a user's delete in this system at version v.
func (s *System) Remove(object, id string, v sfsync.Version) sfsync.Change {
	c := s.RemoveSilently(object, id, v)
	s.publish(c)
	return c
}

// Restore is a user's undelete in this system at version v: the record
// comes back with the values it had, and the change carries them all, as
// Salesforce's UNDELETE event does.
func (s *System) Restore(object, id string, v sfsync.Version) sfsync.Change {
	c := s.RestoreSilently(object, id, v)
	s.publish(c)
	return c
}

// RestoreSilently applies an undelete like [System.Restore] but does not
// emit it, as [System.EditSilently].
func (s *System) RestoreSilently(object, id string, v sfsync.Version) sfsync.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fields map[string]any
	if r := s.get(object, id); r != nil {
		fields = maps.Clone(r.fields)
	}
	c := s.change(object, id, sfsync.OpUndelete, fields, v, sfsync.Origin{Client: "user", User: "user"})
	s.apply(&c)
	return c
}

// RemoveSilently applies a delete like [System.Remove] but does not emit
// it, as [System.EditSilently].
func (s *System) RemoveSilently(object, id string, v sfsync.Version) sfsync.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.change(object, id, sfsync.OpDelete, nil, v, sfsync.Origin{Client: "user", User: "user"})
	s.apply(&c)
	return c
}

// PurgeSilently removes a record as if it had never been there, without
// an event: a hard delete, or data lost, that no change data capture
// tells of.
func (s *System) PurgeSilently(object, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records[object], id)
}

func (s *System) change(object, id string, op sfsync.Op, fields map[string]any, v sfsync.Version, origin sfsync.Origin) sfsync.Change {
	s.seq++
	c := sfsync.Change{
		Source: s.sys, Tenant: s.tenant, Object: object, RecordID: id, Op: op,
		Fields: map[string]any{}, Version: v, Origin: origin,
		Key: fmt.Sprintf("%s:%s:%d", s.sys, id, s.seq),
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if fields[name] == nil {
			c.Nulled = append(c.Nulled, name)
		} else {
			c.Fields[name] = fields[name]
		}
	}
	return c
}

func (s *System) get(object, id string) *record {
	return s.records[object][id]
}

// byExternalID returns the id of object's record whose external id field
// (WithExternalID) holds ext, a live one before a deleted one, and
// whether there is one.
func (s *System) byExternalID(object, ext string) (string, bool) {
	field := s.extIDs[object]
	if field == "" || s.get(object, ext) != nil {
		return "", false
	}
	found, deleted := "", false
	for _, id := range slices.Sorted(maps.Keys(s.records[object])) {
		r := s.records[object][id]
		if v, _ := r.fields[field].(string); v == ext && (found == "" || (deleted && !r.deleted)) {
			found, deleted = id, r.deleted
		}
	}
	return found, found != ""
}

// upsert addresses c to the system's own id of its record when c names
// it by an external id (WithExternalID), creating an id for a record no
// one holds. It reports false for a delete of a record no one holds:
// there is nothing to write.
func (s *System) upsert(c *sfsync.Change) bool {
	field := s.extIDs[c.Object]
	if field == "" || s.get(c.Object, c.RecordID) != nil {
		return true
	}
	if id, ok := s.byExternalID(c.Object, c.RecordID); ok {
		c.RecordID = id
		return true
	}
	if c.Op == sfsync.OpDelete {
		return false
	}
	fields := maps.Clone(c.Fields)
	if fields == nil {
		fields = map[string]any{}
	}
	fields[field] = c.RecordID
	c.Fields = fields
	// An upsert that inserts reports a create, as CDC does.
	c.Op = sfsync.OpCreate
	s.seq++
	c.RecordID = fmt.Sprintf("%s-%06d", s.sys, s.seq)
	return true
}

func (s *System) apply(c *sfsync.Change) {
	recs := s.records[c.Object]
	if recs == nil {
		recs = map[string]*record{}
		s.records[c.Object] = recs
	}
	r := recs[c.RecordID]
	if r == nil {
		r = &record{fields: map[string]any{}, versions: map[string]sfsync.Version{}, writers: map[string]sfsync.System{}}
		recs[c.RecordID] = r
	}
	switch c.Op {
	case sfsync.OpDelete:
		r.deleted = true
	case sfsync.OpUndelete:
		r.deleted = false
	case sfsync.OpCreate:
		if r.deleted && s.freshCreates {
			r.fields, r.versions, r.writers = map[string]any{}, map[string]sfsync.Version{}, map[string]sfsync.System{}
		}
		r.deleted = false
	}
	for _, name := range c.Touched() {
		v, _ := c.Value(name)
		r.fields[name] = v
		r.versions[name] = c.Version
		r.writers[name] = c.Source
	}
	if r.version.Before(c.Version) {
		r.version = c.Version
	}
}

func (s *System) publish(c sfsync.Change) {
	if s.feed != nil {
		s.feed.Append(c)
	}
}

// Write applies changes in order, each at most once per idempotency key
// (unless WithoutKeyIdempotency), and emits their echoes to the feed.
func (s *System) Write(ctx context.Context, changes []sfsync.Change) error {
	if err := ctx.Err(); err != nil {
		return sfsync.Retryable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	var errs []error
	failed := false
	for i, c := range changes {
		errs = append(errs, nil)
		if err := s.checkSchema(&c); err != nil {
			errs[i], failed = err, true
			continue
		}
		f := s.fault(&c)
		if f != nil && !f.AfterApply {
			errs[i], failed = f.Err, true
			continue
		}
		s.writeOne(c)
		if f != nil {
			errs[i], failed = f.Err, true
		}
	}
	if failed {
		return &sfsync.BatchError{Errs: errs}
	}
	return nil
}

func (s *System) checkSchema(c *sfsync.Change) error {
	allowed, ok := s.schema[c.Object]
	if !ok {
		return nil
	}
	for _, name := range c.Touched() {
		if !allowed[name] {
			return sfsync.Permanent(fmt.Errorf("%s: no field %q on %s; fix the mapping", s.sys, name, c.Object))
		}
	}
	return nil
}

func (s *System) fault(c *sfsync.Change) *Fault {
	for i, f := range s.faults {
		if f.Match != nil && !f.Match(*c) {
			continue
		}
		if f.Times >= 0 {
			f.Times--
			if f.Times <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return f
	}
	return nil
}

func (s *System) writeOne(c sfsync.Change) {
	if s.byKey && c.Key != "" && s.applied[c.Key] > 0 {
		return
	}
	if !s.upsert(&c) {
		return
	}
	s.applied[c.Key]++
	s.writes++
	if s.stamp != nil {
		c.Version = s.stamp()
	}
	s.apply(&c)
	echo := c.Clone()
	echo.Source = s.sys
	echo.Tenant = s.tenant
	echo.Origin = sfsync.Origin{Client: s.writerID, ChangeOrigin: "client=" + s.writerID}
	// The event a write causes is named after the write, so that a rerun
	// of the same writes yields the same keys.
	echo.Key = fmt.Sprintf("%s:echo:%s", s.sys, c.Key)
	s.publish(echo)
}

// Read returns the current state of the named records.
func (s *System) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, sfsync.Retryable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]sfsync.Record, len(ids))
	for _, id := range ids {
		r := s.get(object, id)
		if own, ok := s.byExternalID(object, id); ok {
			r = s.get(object, own)
		}
		if r != nil && !(s.deletedUnread && r.deleted) {
			rec := r.snapshot(object, id)
			if s.recordOnly {
				rec.FieldVersions, rec.LastWriter = nil, nil
			}
			if s.emptyShown {
				if rec.Fields == nil {
					rec.Fields = map[string]any{}
				}
				for f := range s.schema[object] {
					if _, ok := rec.Fields[f]; !ok {
						rec.Fields[f] = nil
					}
				}
			}
			out[id] = rec
		}
	}
	return out, nil
}

func (r *record) snapshot(object, id string) sfsync.Record {
	return sfsync.Record{
		Object: object, ID: id, Exists: true, Deleted: r.deleted,
		Fields: maps.Clone(r.fields), Version: r.version,
		FieldVersions: maps.Clone(r.versions), LastWriter: maps.Clone(r.writers),
	}
}

// Record returns the current state of one record.
func (s *System) Record(object, id string) (sfsync.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(object, id)
	if r == nil {
		return sfsync.Record{}, false
	}
	return r.snapshot(object, id), true
}

// Applications returns how many times a write with idempotency key took
// effect.
func (s *System) Applications(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied[key]
}

// AppliedKeys returns how often each idempotency key took effect.
func (s *System) AppliedKeys() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.applied)
}

// Writes returns the number of changes written that took effect, and the
// number of Write calls.
func (s *System) Writes() (changes, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, s.calls
}

// Scan implements reconcile.Authority: the records of object (only ids,
// when given; only those modified at or after since, when set), ordered by
// version.
func (s *System) Scan(ctx context.Context, object string, ids []string, since time.Time) iter.Seq2[sfsync.Record, error] {
	return func(yield func(sfsync.Record, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(sfsync.Record{}, err)
			return
		}
		s.mu.Lock()
		var recs []sfsync.Record
		for id, r := range s.records[object] {
			if len(ids) > 0 && !slices.Contains(ids, id) {
				continue
			}
			if !since.IsZero() && r.version.Time.Before(since) {
				continue
			}
			recs = append(recs, r.snapshot(object, id))
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

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ErrTimeout is a retryable failure for fault injection.
var ErrTimeout = sfsync.Retryable(errors.New("synctest: write timed out"))
