package sfsync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// System names one side of a sync: [Salesforce] or an external system.
type System string

// Salesforce is the System of changes read from, and writes made to, a
// Salesforce org.
const Salesforce System = "salesforce"

// External returns the System of a named external system, such as
// External("erp"). Names are compared exactly.
func External(name string) System { return System("external:" + name) }

// IsSalesforce reports whether s is [Salesforce].
func (s System) IsSalesforce() bool { return s == Salesforce }

// Op is what a change did to a record.
type Op string

// The operations a Change can carry.
const (
	OpCreate   Op = "create"
	OpUpdate   Op = "update"
	OpDelete   Op = "delete"
	OpUndelete Op = "undelete"
	// OpGap says the source could not describe the change: re-read the
	// record from the system of record before trusting later events for it.
	OpGap Op = "gap"
	// OpOverflow says a transaction was too large to describe per record:
	// resync the whole object.
	OpOverflow Op = "overflow"
	// OpEvent is a platform event or other message that is not a record change.
	OpEvent Op = "event"
	// OpAdvance carries no data, only a newer source position, such as the
	// replay id of a Pub/Sub keepalive. Alone in a delivery, it moves the
	// checkpoint once every earlier delivery has an outcome; the engine
	// records no outcome for it. It keeps the checkpoint of a quiet stream
	// inside the source's retention.
	OpAdvance Op = "advance"
	// OpUndecodable is an event the source received but could not decode
	// (an unknown or unreadable schema, a corrupt payload). Raw keeps its
	// bytes and why; Position and Schema say where it stood. The engine
	// dead-letters it, so it is never lost and never blocks the stream.
	OpUndecodable Op = "undecodable"
)

// Valid reports whether op is one of the defined operations.
func (op Op) Valid() bool {
	switch op {
	case OpCreate, OpUpdate, OpDelete, OpUndelete, OpGap, OpOverflow, OpEvent, OpUndecodable:
		return true
	}
	return false
}

// NeedsReread reports whether op asks for authoritative state instead of
// carrying it.
func (op Op) NeedsReread() bool { return op == OpGap || op == OpOverflow }

// Version orders changes to the same record.
//
// Salesforce changes carry the transaction's commit timestamp (Time), its
// system change number (Commit: commitNumber in the ChangeEventHeader) and
// the change's position inside that transaction (Seq: sequenceNumber).
// Commit timestamps tie often (Salesforce's own examples have whole
// seconds), and sequence numbers restart in every transaction, so two
// transactions that committed in the same instant are ordered by Commit.
// Platform events carry their publish time; reconciled records carry their
// SystemModstamp as Time with no Commit: they compare by time with change
// events, and a re-read at the same instant as an event counts as older
// than it. SystemModstamp has whole seconds, so the engine does not rely
// on that order within one second: a row and an event of the same second
// that would change the target make it re-read the record by id (see the
// sync package's Backfills section).
//
// External systems set Time from their own modification time and may add a
// monotonically increasing Counter (row version, log sequence number) that
// orders their changes more precisely than their clocks.
//
// Salesforce documents commitNumber as diagnostic: unique within one
// database instance, and not sequential across an org migration. It only
// breaks ties of commit timestamps here, between transactions that
// committed in the same instant on the same instance; a migration, hours of
// downtime, never falls between two such transactions.
//
// Versions compare by Counter when both have one, else by Time, then
// Commit, then Seq.
type Version struct {
	Time time.Time
	// Commit is the commit number of the transaction that made the change,
	// where the source has one (Salesforce commitNumber); 0 when unknown.
	Commit int64
	// Seq orders the changes of one transaction.
	Seq     int64
	Counter int64
}

// IsZero reports whether v carries no ordering information.
func (v Version) IsZero() bool {
	return v.Time.IsZero() && v.Commit == 0 && v.Seq == 0 && v.Counter == 0
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	if v.Counter != 0 && w.Counter != 0 {
		return cmpInt(v.Counter, w.Counter)
	}
	if c := v.Time.Compare(w.Time); c != 0 {
		return c
	}
	if c := cmpInt(v.Commit, w.Commit); c != 0 {
		return c
	}
	return cmpInt(v.Seq, w.Seq)
}

// Before reports whether v is strictly older than w.
func (v Version) Before(w Version) bool { return v.Compare(w) < 0 }

func (v Version) String() string {
	s := v.Time.UTC().Format(time.RFC3339Nano)
	if v.Commit != 0 {
		s += fmt.Sprintf("@%d", v.Commit)
	}
	s += fmt.Sprintf("#%d", v.Seq)
	if v.Counter != 0 {
		s += fmt.Sprintf("/c%d", v.Counter)
	}
	return s
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Origin says who made a change, so that the engine can recognise the echoes
// of its own writes.
type Origin struct {
	// ChangeOrigin is Salesforce's changeOrigin header, for example
	// "com/salesforce/api/rest/62.0;client=sfsync".
	ChangeOrigin string
	// Client is the client id parsed from ChangeOrigin ("sfsync"), or the
	// writer an external system reports.
	Client string
	// User is the committing user (Salesforce commitUser, 005...).
	User string
	// Transaction groups the changes of one source transaction.
	Transaction string
}

// ClientFromChangeOrigin extracts the client= value of a Salesforce
// changeOrigin string; it returns "" when there is none.
func ClientFromChangeOrigin(changeOrigin string) string {
	_, opts, ok := strings.Cut(changeOrigin, ";")
	if !ok {
		return ""
	}
	// Options are separated by ';' or ','. Every change event carries
	// one: the parts are walked in place rather than split into a slice.
	for opts != "" {
		part := opts
		if i := strings.IndexAny(opts, ";,"); i >= 0 {
			part, opts = opts[:i], opts[i+1:]
		} else {
			opts = ""
		}
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k == "client" {
			return v
		}
	}
	return ""
}

// Position is where a change stands in its source, for checkpointing.
// Token is opaque (a Pub/Sub replay id is stored as the bytes it arrived as).
type Position struct {
	// Stream names the ordered stream the token belongs to, for example a
	// Pub/Sub topic. Checkpoints are stored per stream.
	Stream string
	Token  []byte
}

// IsZero reports whether p names no position.
func (p Position) IsZero() bool { return p.Stream == "" && len(p.Token) == 0 }

// Change is one event from one system, in the source's field names until the
// engine maps it.
type Change struct {
	// Source is the system the change came from.
	Source System
	// Tenant is the Salesforce org id (00D...) the change belongs to.
	Tenant string
	// Object is the object's API name, such as "Contact", or the platform
	// event topic for OpEvent.
	Object string
	// RecordID identifies the record in the source system.
	RecordID string
	Op       Op
	// Fields holds the changed fields with their new values. Compound
	// components use dotted names ("MailingAddress.Street"). A field absent
	// from Fields and Nulled was not changed.
	Fields map[string]any
	// Nulled lists fields explicitly set to null.
	Nulled []string
	// Reread lists fields whose values the source could not carry (for
	// example a large text sent as an unverifiable diff): the sink must
	// re-read them rather than trust a value.
	Reread []string
	// Version orders changes to the same record.
	Version Version
	Origin  Origin
	// Key is the idempotency key, unique per record change, such as
	// "{RecordID}:{ChangeID}". The engine deduplicates on it and sinks use it
	// to make writes idempotent.
	Key      string
	Position Position
	// Schema names the shape the source described the change with (a
	// Pub/Sub schema id); empty when the source has one shape.
	Schema string
	// Raw, set for OpUndecodable, is the event as it arrived.
	Raw *RawEvent
	// Snapshot marks a record read from authoritative state (a backfill's
	// or a reconciliation's row), not an event: its version is the
	// record's, not its fields', and its values are as of the read. The
	// engine sets it on the rows it reconciles, so that a dead letter of
	// one says so: requeued, it is read again rather than written as it
	// was read.
	Snapshot bool
}

// RawEvent is an event a source could not decode, kept whole so that it can
// be inspected and requeued once the cause is fixed.
type RawEvent struct {
	Payload []byte
	// Reason says why it could not be decoded.
	Reason string
}

// Value returns the new value of field and whether the change sets it: a
// field in Nulled is set, to nil.
func (c *Change) Value(field string) (any, bool) {
	if v, ok := c.Fields[field]; ok {
		return v, true
	}
	if slices.Contains(c.Nulled, field) {
		return nil, true
	}
	return nil, false
}

// Touched returns the sorted names of every field the change sets, to a
// value or to null.
func (c *Change) Touched() []string {
	// Sized for every name at once: collecting from the map's iterator
	// grew the slice a power of two at a time, an allocation per doubling
	// on every call of a call made several times per change.
	if len(c.Fields)+len(c.Nulled) == 0 {
		return nil
	}
	names := make([]string, 0, len(c.Fields)+len(c.Nulled))
	for n := range c.Fields {
		names = append(names, n)
	}
	for _, n := range c.Nulled {
		if _, ok := c.Fields[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Clone returns a deep enough copy of c that the copy's maps and slices can
// be changed without affecting c.
func (c Change) Clone() Change {
	c.Fields = maps.Clone(c.Fields)
	c.Nulled = slices.Clone(c.Nulled)
	c.Reread = slices.Clone(c.Reread)
	c.Position.Token = slices.Clone(c.Position.Token)
	if c.Raw != nil {
		raw := *c.Raw
		raw.Payload = slices.Clone(raw.Payload)
		c.Raw = &raw
	}
	return c
}

// RecordKey identifies a record across the engine: object plus record id.
func (c *Change) RecordKey() string { return c.Object + "/" + c.RecordID }

func (c Change) String() string {
	return fmt.Sprintf("%s %s %s/%s key=%s v=%s", c.Source, c.Op, c.Object, c.RecordID, c.Key, c.Version)
}

// Record is the current state of a record in a target system, as a sink
// reads it for a conflict decision.
type Record struct {
	Object string
	ID     string
	// Exists is false when the target has no such record.
	Exists  bool
	Deleted bool
	Fields  map[string]any
	// Version is the version of the record's last modification.
	Version Version
	// FieldVersions holds per-field versions where the target tracks them;
	// a field missing here is as old as Version.
	FieldVersions map[string]Version
	// LastWriter is the system that last wrote each field, where known.
	// The empty name is the record as a whole: the system of its last
	// change, the deleter for a deleted record.
	LastWriter map[string]System
}

// FieldVersion returns the version of field: its own where tracked, else
// the record's.
func (r *Record) FieldVersion(field string) Version {
	if v, ok := r.FieldVersions[field]; ok {
		return v
	}
	return r.Version
}

// SameID reports whether a and b name the same Salesforce record or org:
// equal, or one the 15-character, case-sensitive form of the other's
// 18-character form (whose last three characters only encode the case of
// the first fifteen). Salesforce's own examples use either form.
func SameID(a, b string) bool {
	if a == b {
		return true
	}
	switch {
	case len(a) == 15 && len(b) == 18:
		return b[:15] == a
	case len(a) == 18 && len(b) == 15:
		return a[:15] == b
	}
	return false
}
