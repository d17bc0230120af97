package pubsub

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/sfsync/sfsync"
)

// Event is one event as the Pub/Sub API delivers it.
type Event struct {
	// Topic is the channel the event came from, such as
	// "/data/ContactChangeEvent" or "/event/Order__e".
	Topic string
	// ID is the event's id (ProducerEvent.id).
	ID       string
	SchemaID string
	Payload  []byte
	ReplayID []byte
}

// SchemaFunc returns the Avro schema JSON of a schema id (GetSchema).
type SchemaFunc func(ctx context.Context, schemaID string) (string, error)

// ErrSchemaNotFound is matched (errors.Is) by schema fetch errors that say
// the server does not know the schema id. [Client.GetSchema] returns it for
// NOT_FOUND; a [SchemaFunc] may return it too. A subscription retries such
// a fetch a few times (a new schema may still be propagating) before it
// hands the event over as [sfsync.OpUndecodable].
var ErrSchemaNotFound = errors.New("pubsub: unknown schema id")

// Decoder turns Pub/Sub events into changes: change events become one
// change per record id, platform events one [sfsync.OpEvent] change. It
// fetches each writer schema once (even under concurrent first use) and
// caches the compiled codec by schema id. It is safe for concurrent use.
type Decoder struct {
	fetch  SchemaFunc
	tenant string
	log    *slog.Logger

	mu      stdsync.Mutex
	schemas map[string]*cachedSchema

	// beforeDecode, when set, runs before each payload is decoded: tests
	// make it panic to stand for a bug in a decoding step.
	beforeDecode func(Event)
}

type cachedSchema struct {
	ready  chan struct{}
	codec  *goavro.Codec
	shape  *avroType // what checkPayload walks
	schema *eventSchema
	cdc    bool
	err    error
}

// DecoderOption configures a [Decoder]. [WithLogger] is one too; it logs
// skipped events.
type DecoderOption interface{ applyDecoder(*Decoder) }

type decoderOption func(*Decoder)

func (o decoderOption) applyDecoder(d *Decoder) { o(d) }

// WithTenant sets the org id (00D...) every change a [Decoder] makes is
// attributed to. A [Client]'s subscriptions take it from the credentials.
func WithTenant(orgID string) DecoderOption {
	return decoderOption(func(d *Decoder) { d.tenant = orgID })
}

// NewDecoder returns a Decoder that reads schemas through fetch.
func NewDecoder(fetch SchemaFunc, opts ...DecoderOption) *Decoder {
	d := &Decoder{fetch: fetch, log: slog.Default(), schemas: map[string]*cachedSchema{}}
	for _, o := range opts {
		o.applyDecoder(d)
	}
	return d
}

// schema returns the cached schema of id,
// fetching and compiling it on first use. Concurrent first uses wait for
// one fetch; a failed fetch is not cached.
func (d *Decoder) schema(ctx context.Context, id string) (*cachedSchema, error) {
	d.mu.Lock()
	c, ok := d.schemas[id]
	if !ok {
		c = &cachedSchema{ready: make(chan struct{})}
		d.schemas[id] = c
	}
	d.mu.Unlock()
	if ok {
		select {
		case <-c.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("pubsub: waiting for schema %s: %w", id, ctx.Err())
		}
		if c.err != nil {
			return d.schema(ctx, id) // the failed fetch was forgotten; try again
		}
		return c, nil
	}
	c.err = d.load(ctx, id, c)
	if c.err != nil {
		d.mu.Lock()
		delete(d.schemas, id)
		d.mu.Unlock()
	}
	close(c.ready)
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
}

func (d *Decoder) load(ctx context.Context, id string, c *cachedSchema) (err error) {
	// A panic here must still end in an error: the caller closes c.ready
	// after load returns, and other events of the schema wait for it.
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("pubsub: fetching or compiling a schema panicked", "schema", id, "panic", r, "stack", string(debug.Stack()))
			err = sfsync.Permanent(fmt.Errorf("pubsub: schema %s: fetching or compiling it panicked: %v", id, r))
		}
	}()
	js, err := d.fetch(ctx, id)
	if err != nil {
		return fmt.Errorf("pubsub: get schema %s: %w", id, err)
	}
	if err := checkSchemaJSON(js); err != nil {
		return sfsync.Permanent(fmt.Errorf("pubsub: schema %s: %w", id, err))
	}
	if c.codec, err = goavro.NewCodec(js); err != nil {
		return sfsync.Permanent(fmt.Errorf("pubsub: schema %s does not compile: %w", id, err))
	}
	if c.shape, err = parseAvroType(js); err != nil {
		return sfsync.Permanent(fmt.Errorf("pubsub: schema %s cannot be bounds-checked: %w", id, err))
	}
	if c.schema, err = parseEventSchema(js); err != nil {
		return sfsync.Permanent(fmt.Errorf("pubsub: schema %s: %w", id, err))
	}
	_, c.cdc = c.schema.byName["ChangeEventHeader"]
	return nil
}

// Decode returns the changes ev carries: one per record id for a change
// event (none for change types it does not know, such as SNAPSHOT, which
// are logged), one for a platform event. An event that cannot be decoded
// (a corrupt payload, a schema that does not compile, a schema fetch that
// failed permanently) becomes one [sfsync.OpUndecodable] change. An error
// means the schema could not be fetched yet: a retryable failure, or one
// matching [ErrSchemaNotFound]. The caller retries; when it gives up, it
// must not drop the event but hand [Decoder.Undecodable] on.
//
// A panic while decoding (a bug here, in goavro or in a [SchemaFunc]) is
// recovered: the event becomes an undecodable change whose reason is the
// panic's text, and the stack is logged.
func (d *Decoder) Decode(ctx context.Context, ev Event) (changes []sfsync.Change, err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("pubsub: decoding an event panicked; handing it over as undecodable",
				"topic", ev.Topic, "schema", ev.SchemaID, "replay_id", hex.EncodeToString(ev.ReplayID), "panic", r, "stack", string(debug.Stack()))
			changes = []sfsync.Change{d.Undecodable(ev, fmt.Errorf("pubsub: decoding event %s with schema %s panicked: %v", ev.ID, ev.SchemaID, r))}
			err = nil
		}
	}()
	s, err := d.schema(ctx, ev.SchemaID)
	if err != nil {
		if sfsync.IsPermanent(err) && !errors.Is(err, ErrSchemaNotFound) {
			return []sfsync.Change{d.Undecodable(ev, err)}, nil
		}
		return nil, err
	}
	if d.beforeDecode != nil {
		d.beforeDecode(ev)
	}
	// The bounds check runs first: goavro allocates what a payload claims.
	err = checkPayload(s.shape, ev.Payload)
	var native any
	var rest []byte
	if err == nil {
		native, rest, err = s.codec.NativeFromBinary(ev.Payload)
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("%d bytes after the record", len(rest))
	}
	rec, ok := native.(map[string]any)
	if err == nil && !ok {
		err = errors.New("payload is not a record")
	}
	if err != nil {
		return []sfsync.Change{d.Undecodable(ev, fmt.Errorf("pubsub: decode event %s with schema %s: %w", ev.ID, ev.SchemaID, err))}, nil
	}
	if !s.cdc {
		return []sfsync.Change{d.platformEvent(ev, s.schema, rec)}, nil
	}
	changes, err = d.changeEvent(ev, s.schema, rec)
	if err != nil {
		return []sfsync.Change{d.Undecodable(ev, err)}, nil
	}
	return changes, nil
}

// Undecodable returns the [sfsync.OpUndecodable] change that stands for ev
// when it cannot be decoded for reason: the payload kept whole, at the
// event's own position, so that the engine dead-letters it in its place
// instead of losing it or stalling behind it. Its key is derived from the
// replay id and the event id, so a redelivery of the same event is a
// duplicate. Object is the topic's object where the topic names one
// ("/data/AccountChangeEvent" is Account, "/event/Order__e" itself).
func (d *Decoder) Undecodable(ev Event, reason error) sfsync.Change {
	key := "undecodable:" + ev.Topic + ":" + hex.EncodeToString(ev.ReplayID)
	if ev.ID != "" {
		// Events split from one enriched change share a replay id.
		key += ":" + ev.ID
	}
	why := "unknown"
	if reason != nil {
		why = reason.Error()
	}
	return sfsync.Change{
		Source: sfsync.Salesforce, Tenant: d.tenant, Object: topicObject(ev.Topic), Op: sfsync.OpUndecodable,
		Key:      key,
		Raw:      &sfsync.RawEvent{Payload: slices.Clone(ev.Payload), Reason: why},
		Position: sfsync.Position{Stream: ev.Topic, Token: slices.Clone(ev.ReplayID)}, Schema: ev.SchemaID,
	}
}

// topicObject returns the object a topic carries events of, or "" when the
// topic does not say (multi-entity and custom channels, managed
// subscriptions, which name no topic). Platform events are their own
// object, as decoded platform events are.
func topicObject(topic string) string {
	if strings.HasPrefix(topic, "/event/") {
		return topic
	}
	name, ok := strings.CutPrefix(topic, "/data/")
	if !ok {
		return ""
	}
	if base, ok := strings.CutSuffix(name, "__ChangeEvent"); ok && base != "" {
		return base + "__c"
	}
	if base, ok := strings.CutSuffix(name, "ChangeEvent"); ok && base != "" && !strings.HasSuffix(base, "__") {
		return base
	}
	return ""
}

var changeTypes = map[string]sfsync.Op{
	"CREATE": sfsync.OpCreate, "UPDATE": sfsync.OpUpdate, "DELETE": sfsync.OpDelete, "UNDELETE": sfsync.OpUndelete,
	"GAP_CREATE": sfsync.OpGap, "GAP_UPDATE": sfsync.OpGap, "GAP_DELETE": sfsync.OpGap, "GAP_UNDELETE": sfsync.OpGap,
	"GAP_OVERFLOW": sfsync.OpOverflow,
}

func (d *Decoder) changeEvent(ev Event, s *eventSchema, rec map[string]any) ([]sfsync.Change, error) {
	h, _ := rec["ChangeEventHeader"].(map[string]any)
	if h == nil {
		return nil, fmt.Errorf("pubsub: event %s has no ChangeEventHeader", ev.ID)
	}
	entity, _ := h["entityName"].(string)
	changeType, _ := h["changeType"].(string)
	origin, _ := h["changeOrigin"].(string)
	txKey, _ := h["transactionKey"].(string)
	user, _ := h["commitUser"].(string)
	seq, _ := h["sequenceNumber"].(int32)
	ts, _ := h["commitTimestamp"].(int64)
	commit, _ := h["commitNumber"].(int64)
	var room [1]string // an event names one record, mostly
	ids := appendStrings(room[:0], h["recordIds"])
	op, known := changeTypes[changeType]
	if !known {
		d.log.Info("pubsub: skipping a change event of an unknown type", "type", changeType, "entity", entity, "topic", ev.Topic)
		return nil, nil
	}
	if entity == "" || len(ids) == 0 {
		return nil, fmt.Errorf("pubsub: %s event %s has no entity name or record ids", changeType, ev.ID)
	}
	base := sfsync.Change{
		Source: sfsync.Salesforce, Tenant: d.tenant, Object: entity, Op: op,
		// Commit timestamps tie (they are whole seconds in practice) and
		// sequence numbers restart in every transaction: the commit number
		// orders transactions that committed in the same instant.
		Version:  sfsync.Version{Time: time.UnixMilli(ts).UTC(), Commit: commit, Seq: int64(seq)},
		Origin:   sfsync.Origin{ChangeOrigin: origin, Client: sfsync.ClientFromChangeOrigin(origin), User: user, Transaction: txKey},
		Position: sfsync.Position{Stream: ev.Topic, Token: ev.ReplayID}, Schema: ev.SchemaID,
	}
	// The change id is "<transactionKey>:<sequenceNumber>", or the replay id
	// in hex without a transaction key. It is written into room on the
	// stack, and each record's key is written after the record id in room
	// of its own and made a string once: the number or the hex as strings
	// of their own were an allocation more per event (sequence numbers
	// from 100 on, which a bulk transaction has), and so is a conversion
	// of more than 32 bytes inside a concatenation.
	var idRoom, keyRoom [80]byte
	changeID := append(append(idRoom[:0], ':'), txKey...)
	if txKey != "" {
		changeID = strconv.AppendInt(append(changeID, ':'), int64(seq), 10)
	} else {
		changeID = hex.AppendEncode(changeID, ev.ReplayID)
	}
	switch op {
	case sfsync.OpUpdate:
		if err := d.updateFields(&base, s, rec, h); err != nil {
			return nil, fmt.Errorf("pubsub: event %s: %w", ev.ID, err)
		}
	case sfsync.OpCreate, sfsync.OpUndelete:
		fullFields(&base, s, rec)
	}
	out := make([]sfsync.Change, len(ids))
	for i, id := range ids {
		c := base
		if i > 0 {
			c = base.Clone()
		}
		c.RecordID = id
		// A merged event applies one change to several records, and enriched
		// events of several records share a replay id: the key names both.
		c.Key = string(append(append(keyRoom[:0], id...), changeID...))
		out[i] = c
	}
	return out, nil
}

// updateFields applies the header's bitmaps: changed fields with their
// values, nulled fields as explicit nulls, diff fields to re-read; nothing
// else, so enriched values are not taken for changes.
//
// Nulls follow nulledFields: in an UPDATE an unchanged compound component
// is null too, so a component is reported cleared only when an entry
// names it, by its own bit or as a whole compound in nulledFields, never
// because a compound it belongs to was flagged as changed.
func (d *Decoder) updateFields(c *sfsync.Change, s *eventSchema, rec, h map[string]any) error {
	// A bitmap has one entry, and one more per compound field it details:
	// its entries are read into room on the stack.
	var entries [4]string
	// The changed names are read into room on the stack too: an update
	// mostly changes a few fields (a longer list grows onto the heap).
	var room [16]string
	changed, err := s.decodeBitmap(appendStrings(entries[:0], h["changedFields"]), room[:0])
	if err != nil {
		return fmt.Errorf("changedFields: %w", err)
	}
	nulled, err := s.decodeBitmap(appendStrings(entries[:0], h["nulledFields"]), nil)
	if err != nil {
		return fmt.Errorf("nulledFields: %w", err)
	}
	diff, err := s.decodeBitmap(appendStrings(entries[:0], h["diffFields"]), nil)
	if err != nil {
		return fmt.Errorf("diffFields: %w", err)
	}
	skip := make(map[string]bool, len(nulled)+len(diff))
	for _, n := range s.components(nulled) {
		skip[n] = true
		c.Nulled = append(c.Nulled, n)
	}
	for _, n := range s.components(diff) {
		// The value is a unified diff against a value this library does not
		// keep: the sink re-reads the field instead of applying the diff.
		skip[n] = true
		c.Reread = append(c.Reread, n)
	}
	c.Fields = make(map[string]any, len(changed))
	for _, name := range changed {
		if skip[name] || name == "ChangeEventHeader" {
			continue
		}
		parent, comp, dotted := strings.Cut(name, ".")
		f := s.fields[s.byName[parent]]
		// A compound's components are read one by one from the record as
		// goavro decoded it: unwrapping the whole record first would make a
		// map per event only to read one component of it.
		v, r := branch(rec[parent], f)
		switch {
		case dotted:
			setOrNull(c, name, component(v, r, comp))
		case f.record != nil && (isRecordValue(v) || v == nil && !f.switchable):
			// A whole compound flagged: the components it carries changed;
			// which null ones were cleared, nulledFields says.
			for _, cf := range f.record.fields {
				if cv := component(v, r, cf.name); cv != nil && !skip[parent+"."+cf.name] {
					c.Fields[parent+"."+cf.name] = cv
				}
			}
		default:
			// Not a record value: unwrapping would return it as it is.
			setOrNull(c, name, v)
		}
	}
	return nil
}

// components replaces the names of whole compound fields in names by
// their dotted components, as changes name them.
func (s *eventSchema) components(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		i, ok := s.byName[n]
		if !ok || s.fields[i].record == nil || s.fields[i].switchable || n == "ChangeEventHeader" {
			out = append(out, n)
			continue
		}
		for _, cf := range s.fields[i].record.fields {
			out = append(out, n+"."+cf.name)
		}
	}
	return out
}

// fullFields takes every field of a CREATE or UNDELETE, where null means
// empty.
func fullFields(c *sfsync.Change, s *eventSchema, rec map[string]any) {
	c.Fields = make(map[string]any, len(s.fields))
	for _, f := range s.fields[1:] {
		v, r := branch(rec[f.name], f)
		if f.record != nil && (v == nil || isRecordValue(v)) {
			for _, cf := range f.record.fields {
				setOrNull(c, f.name+"."+cf.name, component(v, r, cf.name))
			}
			continue
		}
		setOrNull(c, f.name, v)
	}
}

func setOrNull(c *sfsync.Change, name string, v any) {
	if v == nil {
		c.Nulled = append(c.Nulled, name)
		return
	}
	c.Fields[name] = v
}

// isRecordValue tells a compound's record branch from the string branch of
// Account.Name's three-way union.
func isRecordValue(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// unwrap turns goavro's union form into the plain value: {"string": "x"}
// becomes "x", a record branch a map of unwrapped components.
func unwrap(v any, f schemaField) any {
	v, r := branch(v, f)
	if r != nil {
		return unwrapRecord(v, r)
	}
	return v
}

// branch takes v, a value of field f as goavro decoded it, out of its union
// form, and returns the record type of f when v is that record, whose
// components are still in goavro's form (see unwrapRecord and component).
func branch(v any, f schemaField) (any, *recordType) {
	if f.union {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return v, nil
		}
		for name, inner := range m {
			if f.record != nil && name == f.record.fullName {
				return inner, f.record
			}
			return inner, nil
		}
	}
	return v, f.record
}

// component returns the component name of v as unwrap would hold it: v
// and r are what branch returned.
func component(v any, r *recordType, name string) any {
	m, _ := v.(map[string]any)
	if r == nil {
		return m[name]
	}
	for _, cf := range r.fields {
		if cf.name == name {
			return unwrap(m[name], cf)
		}
	}
	return nil
}

func unwrapRecord(v any, r *recordType) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for _, cf := range r.fields {
		out[cf.name] = unwrap(m[cf.name], cf)
	}
	return out
}

// appendStrings appends the strings of the array v to out.
func appendStrings(out []string, v any) []string {
	arr, _ := v.([]any)
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// platformEvent makes the generic change of a platform event: every
// non-null field, keyed by the event's EventUuid where it has one.
func (d *Decoder) platformEvent(ev Event, s *eventSchema, rec map[string]any) sfsync.Change {
	c := sfsync.Change{
		Source: sfsync.Salesforce, Tenant: d.tenant, Object: ev.Topic, Op: sfsync.OpEvent,
		Fields:   make(map[string]any, len(s.fields)),
		Position: sfsync.Position{Stream: ev.Topic, Token: ev.ReplayID}, Schema: ev.SchemaID,
	}
	for _, f := range s.fields {
		if v := unwrap(rec[f.name], f); v != nil {
			c.Fields[f.name] = v
		}
	}
	c.Version = platformEventVersion(c.Fields["CreatedDate"], ev.ReplayID)
	c.Origin.User, _ = c.Fields["CreatedById"].(string)
	id, _ := c.Fields["EventUuid"].(string)
	if id == "" {
		id = ev.ID
	}
	if id == "" {
		id = hex.EncodeToString(ev.ReplayID)
	}
	c.RecordID = id
	c.Key = ev.Topic + ":" + id
	return c
}

// platformEventVersion orders platform events by their publish time
// (CreatedDate) and, within one millisecond, by their place on the bus:
// replay ids increase in delivery order. Replay ids are opaque bytes of no
// fixed length (8 and 10 bytes are seen), but read as one big-endian
// number they keep that order; one too large for Seq leaves it 0.
func platformEventVersion(createdDate any, replayID []byte) sfsync.Version {
	var v sfsync.Version
	if ms, ok := createdDate.(int64); ok {
		// CreatedDate is epoch milliseconds, but the server does not check
		// it, and some publishers (Salesforce's own Go sample) send
		// seconds. No platform event was published before 1973, so a value
		// that small is seconds.
		if ms > -1e11 && ms < 1e11 {
			ms *= 1000
		}
		v.Time = time.UnixMilli(ms).UTC()
	}
	id := replayID
	for len(id) > 0 && id[0] == 0 {
		id = id[1:]
	}
	if len(id) <= 8 {
		var n uint64
		for _, b := range id {
			n = n<<8 | uint64(b)
		}
		if n <= math.MaxInt64 {
			v.Seq = int64(n)
		}
	}
	return v
}
