package pubsub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/cdcschema"
)

// schemaRegistry serves schemas by id and counts fetches.
type schemaRegistry struct {
	byID    map[string]string
	fetches atomic.Int32
}

func newRegistry(schemas map[string]*cdcschema.Schema) *schemaRegistry {
	r := &schemaRegistry{byID: map[string]string{}}
	for id, s := range schemas {
		r.byID[id] = s.JSON
	}
	return r
}

func (r *schemaRegistry) fetch(_ context.Context, id string) (string, error) {
	r.fetches.Add(1)
	js, ok := r.byID[id]
	if !ok {
		return "", fmt.Errorf("no schema %s", id)
	}
	return js, nil
}

type fixture struct {
	account, contact, employee *cdcschema.Schema
	reg                        *schemaRegistry
	dec                        *Decoder
	txs                        *cdcschema.Transactions
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{
		account:  mustSchema(t, "Account", cdcschema.AccountFields()),
		contact:  mustSchema(t, "Contact", cdcschema.ContactFields()),
		employee: mustSchema(t, "Employee__c", cdcschema.EmployeeFields()),
		txs:      cdcschema.NewTransactions(),
	}
	f.reg = newRegistry(map[string]*cdcschema.Schema{"acc1": f.account, "con1": f.contact, "emp1": f.employee})
	f.dec = NewDecoder(f.reg.fetch, WithTenant("00D000000000001AAA"), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	return f
}

// decode encodes and decodes one event. A header without a commit number
// is a transaction of its own and gets the next one.
func (f *fixture) decode(t *testing.T, s *cdcschema.Schema, schemaID string, h cdcschema.Header, values map[string]any) []sfsync.Change {
	t.Helper()
	if h.CommitNumber == 0 {
		_, h.CommitNumber = f.txs.Next()
	}
	payload, err := s.Encode(h, values)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := f.dec.Decode(context.Background(), Event{Topic: "/data/ChangeEvents", ID: "e1", SchemaID: schemaID, Payload: payload, ReplayID: []byte{0, 0, 0, 0, 0, 0, 0, 9}})
	if err != nil {
		t.Fatal(err)
	}
	return changes
}

const ts = int64(1714156703000)

func TestDecodeUpdateAppliesExactlyTheChangedFields(t *testing.T) {
	f := newFixture(t)
	got := f.decode(t, f.account, "acc1", cdcschema.Header{
		RecordIDs: []string{"001000000000001AAA"}, ChangeType: "UPDATE",
		ChangeOrigin: "com/salesforce/api/rest/62.0;client=sfsync", TransactionKey: "tx-1", SequenceNumber: 2,
		CommitTimestamp: ts, CommitNumber: 1652977933433528300, CommitUser: "005000000000001AAA",
		ChangedFields: []string{"Industry", "Phone", "LastModifiedDate", "BillingAddress.Street", "BillingAddress.City"},
		NulledFields:  []string{"Phone", "BillingAddress.City"},
	}, map[string]any{
		"Industry": "Energy", "LastModifiedDate": ts, "BillingAddress.Street": "415 Mission St",
		"Fax": "555-0100", // enriched: a value, but not a change
	})
	if len(got) != 1 {
		t.Fatalf("%d changes, want 1", len(got))
	}
	c := got[0]
	wantFields := map[string]any{"Industry": "Energy", "LastModifiedDate": ts, "BillingAddress.Street": "415 Mission St"}
	if !maps.Equal(c.Fields, wantFields) {
		t.Errorf("fields = %v, want %v", c.Fields, wantFields)
	}
	if !slices.Equal(c.Nulled, []string{"Phone", "BillingAddress.City"}) {
		t.Errorf("nulled = %q", c.Nulled)
	}
	want := sfsync.Change{
		Source: sfsync.Salesforce, Tenant: "00D000000000001AAA", Object: "Account", RecordID: "001000000000001AAA", Op: sfsync.OpUpdate,
		Version: sfsync.Version{Time: time.UnixMilli(ts).UTC(), Commit: 1652977933433528300, Seq: 2},
		Origin:  sfsync.Origin{ChangeOrigin: "com/salesforce/api/rest/62.0;client=sfsync", Client: "sfsync", User: "005000000000001AAA", Transaction: "tx-1"},
		Key:     "001000000000001AAA:tx-1:2", Schema: "acc1",
		Position: sfsync.Position{Stream: "/data/ChangeEvents", Token: []byte{0, 0, 0, 0, 0, 0, 0, 9}},
	}
	c.Fields, c.Nulled = nil, nil
	if fmt.Sprint(c) != fmt.Sprint(want) || !c.Version.Time.Equal(want.Version.Time) || c.Origin != want.Origin || !slices.Equal(c.Position.Token, want.Position.Token) {
		t.Errorf("change = %+v\nwant     %+v", c, want)
	}
}

func TestDecodeMergedEventIsOneChangePerRecord(t *testing.T) {
	f := newFixture(t)
	ids := []string{"001000000000001AAA", "001000000000002AAA", "001000000000003AAA"}
	got := f.decode(t, f.account, "acc1", cdcschema.Header{
		RecordIDs: ids, ChangeType: "UPDATE", TransactionKey: "tx-9", SequenceNumber: 1, CommitTimestamp: ts,
		ChangedFields: []string{"Industry", "LastModifiedDate"},
	}, map[string]any{"Industry": "Retail", "LastModifiedDate": ts})
	if len(got) != 3 {
		t.Fatalf("%d changes, want 3", len(got))
	}
	keys := map[string]bool{}
	for i, c := range got {
		if c.RecordID != ids[i] || c.Fields["Industry"] != "Retail" {
			t.Errorf("change %d = %v %v", i, c.RecordID, c.Fields)
		}
		keys[c.Key] = true
	}
	if len(keys) != 3 {
		t.Errorf("keys %v are not distinct per record", keys)
	}
	got[0].Fields["Industry"] = "changed"
	if got[1].Fields["Industry"] != "Retail" {
		t.Error("changes of a merged event share their field map")
	}
}

func TestDecodeCreateCarriesCompoundsAndEmpties(t *testing.T) {
	f := newFixture(t)
	got := f.decode(t, f.contact, "con1", cdcschema.Header{
		RecordIDs: []string{"003000000000001AAA"}, ChangeType: "CREATE", TransactionKey: "tx-2", SequenceNumber: 1, CommitTimestamp: ts,
	}, map[string]any{
		"Name.FirstName": "Ada", "Name.LastName": "Lovelace", "Email": "ada@example.com",
		"MailingAddress.City": "London", "HasOptedOutOfEmail": true, "Birthdate": int64(-4765132800000),
	})[0]
	for k, v := range map[string]any{"Name.FirstName": "Ada", "Name.LastName": "Lovelace", "Email": "ada@example.com",
		"MailingAddress.City": "London", "HasOptedOutOfEmail": true, "Birthdate": int64(-4765132800000)} {
		if got.Fields[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got.Fields[k], v)
		}
	}
	for _, n := range []string{"Phone", "Name.Salutation", "MailingAddress.Street", "OtherAddress.Country"} {
		if !slices.Contains(got.Nulled, n) {
			t.Errorf("empty field %s is not an explicit null on create", n)
		}
	}
	if got.Op != sfsync.OpCreate {
		t.Errorf("op = %s", got.Op)
	}
}

func TestDecodeAccountNameUnionAndLocation(t *testing.T) {
	f := newFixture(t)
	acc := f.decode(t, f.account, "acc1", cdcschema.Header{RecordIDs: []string{"001000000000001AAA"}, ChangeType: "CREATE", TransactionKey: "t", CommitTimestamp: ts},
		map[string]any{"Name": "Acme", "AnnualRevenue": 1.5e6, "NumberOfEmployees": int32(40)})[0]
	if acc.Fields["Name"] != "Acme" || acc.Fields["AnnualRevenue"] != 1.5e6 || acc.Fields["NumberOfEmployees"] != int32(40) {
		t.Errorf("account fields = %v", acc.Fields)
	}
	emp := f.decode(t, f.employee, "emp1", cdcschema.Header{RecordIDs: []string{"a01000000000001AAA"}, ChangeType: "UPDATE", TransactionKey: "t", CommitTimestamp: ts,
		ChangedFields: []string{"Office__c.Latitude", "Office__c.Longitude", "LastModifiedDate"}},
		map[string]any{"Office__c.Latitude": 51.5, "Office__c.Longitude": -0.12, "LastModifiedDate": ts})[0]
	if emp.Object != "Employee__c" || emp.Fields["Office__c.Latitude"] != 51.5 || emp.Fields["Office__c.Longitude"] != -0.12 || len(emp.Fields) != 3 {
		t.Errorf("employee = %s %v", emp.Object, emp.Fields)
	}
}

func TestDecodeGapOverflowSnapshotAndDiff(t *testing.T) {
	f := newFixture(t)
	gap := f.decode(t, f.account, "acc1", cdcschema.Header{RecordIDs: []string{"001A", "001B"}, ChangeType: "GAP_UPDATE", TransactionKey: "db-7", CommitTimestamp: ts}, nil)
	if len(gap) != 2 || gap[0].Op != sfsync.OpGap || gap[1].RecordID != "001B" || len(gap[0].Fields) != 0 {
		t.Errorf("gap = %v", gap)
	}
	over := f.decode(t, f.account, "acc1", cdcschema.Header{RecordIDs: []string{"000000000000000AAA"}, ChangeType: "GAP_OVERFLOW", TransactionKey: "big", CommitTimestamp: ts}, nil)
	if len(over) != 1 || over[0].Op != sfsync.OpOverflow || over[0].Object != "Account" {
		t.Errorf("overflow = %v", over)
	}
	if snap := f.decode(t, f.account, "acc1", cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "SNAPSHOT", CommitTimestamp: ts}, nil); len(snap) != 0 {
		t.Errorf("snapshot decoded to %v, want nothing", snap)
	}
	diff := f.decode(t, f.account, "acc1", cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "UPDATE", TransactionKey: "t", CommitTimestamp: ts,
		ChangedFields: []string{"Description", "LastModifiedDate"}, DiffFields: []string{"Description"}},
		map[string]any{"Description": "--- \n+++ abc\n@@ -1 +1 @@\n-a\n+b\n", "LastModifiedDate": ts})[0]
	if _, applied := diff.Fields["Description"]; applied || !slices.Equal(diff.Reread, []string{"Description"}) {
		t.Errorf("diff field applied as a value: fields %v, reread %v", diff.Fields, diff.Reread)
	}
}

func TestDecodeUsesEachEventsOwnSchema(t *testing.T) {
	f := newFixture(t)
	// The org adds a field before Industry: positions shift, and a new
	// schema id arrives mid-stream.
	fields := cdcschema.AccountFields()
	fields = slices.Insert(fields, 2, cdcschema.Field{Name: "RecordTypeId", Kind: cdcschema.String})
	v2 := mustSchema(t, "Account", fields)
	f.reg.byID["acc2"] = v2.JSON
	h := cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "UPDATE", TransactionKey: "t", CommitTimestamp: ts, ChangedFields: []string{"Industry", "LastModifiedDate"}}
	old := f.decode(t, f.account, "acc1", h, map[string]any{"Industry": "Energy", "LastModifiedDate": ts})[0]
	nw := f.decode(t, v2, "acc2", h, map[string]any{"Industry": "Energy", "LastModifiedDate": ts})[0]
	if !maps.Equal(old.Fields, nw.Fields) || old.Fields["Industry"] != "Energy" {
		t.Errorf("old schema %v, new schema %v", old.Fields, nw.Fields)
	}
}

func TestDecodePlatformEvent(t *testing.T) {
	schema := `{"type":"record","name":"Order_Shipped__e","namespace":"com.sforce.eventbus","fields":[
		{"name":"CreatedDate","type":"long"},{"name":"CreatedById","type":"string"},
		{"name":"EventUuid","type":["null","string"],"default":null},
		{"name":"Order_Number__c","type":["null","string"],"default":null},
		{"name":"Weight__c","type":["null","double"],"default":null}]}`
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := codec.BinaryFromNative(nil, map[string]any{"CreatedDate": ts, "CreatedById": "005X",
		"EventUuid": goavro.Union("string", "uuid-1"), "Order_Number__c": goavro.Union("string", "O-1"), "Weight__c": nil})
	if err != nil {
		t.Fatal(err)
	}
	dec := NewDecoder(func(context.Context, string) (string, error) { return schema, nil })
	got, err := dec.Decode(context.Background(), Event{Topic: "/event/Order_Shipped__e", SchemaID: "pe1", Payload: payload, ReplayID: []byte{1}})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %v", got, err)
	}
	c := got[0]
	if c.Op != sfsync.OpEvent || c.Object != "/event/Order_Shipped__e" || c.Key != "/event/Order_Shipped__e:uuid-1" ||
		c.Fields["Order_Number__c"] != "O-1" || c.Origin.User != "005X" || !c.Version.Time.Equal(time.UnixMilli(ts)) {
		t.Errorf("platform event change = %+v", c)
	}
	if _, ok := c.Fields["Weight__c"]; ok {
		t.Error("null field carried")
	}
}

// An event that cannot be decoded becomes one change that keeps it whole,
// in its place, for the dead-letter store: payload and reason, schema id,
// replay id, and the object its topic names.
func TestDecodeUndecodableKeepsTheEventWhole(t *testing.T) {
	f := newFixture(t)
	f.reg.byID["broken"] = `{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nosuchtype"}]}`
	for _, tc := range []struct {
		name       string
		ev         Event
		wantObject string
		reason     string
	}{
		{"corrupt payload", Event{Topic: "/data/AccountChangeEvent", ID: "e-1", SchemaID: "acc1", Payload: []byte{0xff, 0xff, 0xff}, ReplayID: []byte{0, 7}}, "Account", "decode event e-1"},
		{"schema that does not compile", Event{Topic: "/data/Employee__ChangeEvent", SchemaID: "broken", Payload: []byte{1}, ReplayID: []byte{0, 8}}, "Employee__c", "does not compile"},
		{"multi-entity channel", Event{Topic: "/data/ChangeEvents", SchemaID: "acc1", Payload: []byte{0x80}, ReplayID: []byte{0, 9}}, "", "decode event"},
		{"platform event", Event{Topic: "/event/Order__e", SchemaID: "acc1", Payload: []byte{0x80}, ReplayID: []byte{0, 10}}, "/event/Order__e", "decode event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.dec.Decode(context.Background(), tc.ev)
			if err != nil || len(got) != 1 {
				t.Fatalf("got %v, %v", got, err)
			}
			c := got[0]
			if c.Op != sfsync.OpUndecodable || c.Raw == nil || !slices.Equal(c.Raw.Payload, tc.ev.Payload) || !strings.Contains(c.Raw.Reason, tc.reason) {
				t.Fatalf("change = %+v, raw %+v", c, c.Raw)
			}
			if c.Object != tc.wantObject || c.Schema != tc.ev.SchemaID || c.Tenant != "00D000000000001AAA" || c.Source != sfsync.Salesforce ||
				c.Position.Stream != tc.ev.Topic || !slices.Equal(c.Position.Token, tc.ev.ReplayID) {
				t.Errorf("change = %+v", c)
			}
			again, _ := f.dec.Decode(context.Background(), tc.ev)
			if c.Key == "" || again[0].Key != c.Key {
				t.Errorf("keys %q and %q: a redelivery must carry the same key", c.Key, again[0].Key)
			}
		})
	}
	if _, err := f.dec.Decode(context.Background(), Event{SchemaID: "missing"}); err == nil {
		t.Fatal("a schema that could not be fetched decoded")
	}
	// A schema the server does not know is for the caller to retry, then
	// hand over.
	dec := NewDecoder(func(context.Context, string) (string, error) {
		return "", sfsync.Permanent(fmt.Errorf("get schema: %w", ErrSchemaNotFound))
	})
	if _, err := dec.Decode(context.Background(), Event{SchemaID: "gone"}); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("unknown schema: %v", err)
	}
}

// Two transactions on one record that committed in the same millisecond
// are ordered by their commit numbers, not by their sequence numbers,
// which count changes inside each transaction.
func TestDecodeVersionOrdersTransactionsByCommitNumber(t *testing.T) {
	f := newFixture(t)
	keyA, commitA := f.txs.Next()
	keyB, commitB := f.txs.Next()
	update := func(key string, commit int64, seq int32) sfsync.Change {
		return f.decode(t, f.account, "acc1", cdcschema.Header{
			RecordIDs: []string{"001A"}, ChangeType: "UPDATE", TransactionKey: key, SequenceNumber: seq,
			CommitTimestamp: ts, CommitNumber: commit, ChangedFields: []string{"Industry"},
		}, map[string]any{"Industry": key})[0]
	}
	a3 := update(keyA, commitA, 3)
	b1 := update(keyB, commitB, 1)
	if a3.Version.Commit != commitA || a3.Version.Seq != 3 || !a3.Version.Time.Equal(time.UnixMilli(ts)) {
		t.Errorf("version = %v, want commit %d, sequence 3", a3.Version, commitA)
	}
	if !a3.Version.Before(b1.Version) {
		t.Errorf("%v (3rd change of the earlier commit) is not before %v (1st change of the later one)", a3.Version, b1.Version)
	}
	a4 := update(keyA, commitA, 4)
	if !a3.Version.Before(a4.Version) {
		t.Errorf("inside one transaction %v is not before %v", a3.Version, a4.Version)
	}
}

// Platform events are ordered by their publish time and, within one
// millisecond, by their replay ids; a CreatedDate in seconds (which some
// publishers send) still reads as the right instant.
func TestDecodePlatformEventVersion(t *testing.T) {
	schema := `{"type":"record","name":"Ping__e","namespace":"com.sforce.eventbus","fields":[
		{"name":"CreatedDate","type":"long"},{"name":"CreatedById","type":"string"}]}`
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	dec := NewDecoder(func(context.Context, string) (string, error) { return schema, nil })
	event := func(created int64, replay []byte) sfsync.Version {
		t.Helper()
		payload, err := codec.BinaryFromNative(nil, map[string]any{"CreatedDate": created, "CreatedById": "005X"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.Decode(context.Background(), Event{Topic: "/event/Ping__e", ID: fmt.Sprint(replay), SchemaID: "p", Payload: payload, ReplayID: replay})
		if err != nil {
			t.Fatal(err)
		}
		return got[0].Version
	}
	first := event(ts, []byte{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}) // the 10-byte shape
	second := event(ts, []byte{0, 0, 0, 0, 0, 16, 219, 78, 0, 0})
	later := event(ts+1, []byte{0, 0, 0, 0, 0, 16, 219, 1, 0, 0})
	if !first.Before(second) || !second.Before(later) {
		t.Errorf("versions %v, %v, %v are not in publish order", first, second, later)
	}
	if v := event(ts/1000, []byte{0, 0, 0, 0, 0, 0, 0, 1}); !v.Time.Equal(time.UnixMilli(ts)) || v.Seq != 1 {
		t.Errorf("CreatedDate in seconds: version %v", v)
	}
}

func TestDecodeFetchesEachSchemaOnceUnderConcurrency(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	slow := func(ctx context.Context, id string) (string, error) {
		<-release
		return f.reg.fetch(ctx, id)
	}
	dec := NewDecoder(slow)
	payload, err := f.account.Encode(cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "DELETE", TransactionKey: "t", CommitNumber: cdcschema.FirstCommitNumber + 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg stdsync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := dec.Decode(context.Background(), Event{SchemaID: "acc1", Payload: payload})
			errs <- err
		})
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.reg.fetches.Load(); n != 1 {
		t.Fatalf("%d schema fetches, want 1", n)
	}
	// A failed fetch is not cached.
	failing := errors.New("unavailable")
	calls := 0
	dec = NewDecoder(func(ctx context.Context, id string) (string, error) {
		calls++
		if calls == 1 {
			return "", failing
		}
		return f.account.JSON, nil
	})
	if _, err := dec.Decode(context.Background(), Event{SchemaID: "acc1", Payload: payload}); !errors.Is(err, failing) {
		t.Fatalf("first decode: %v", err)
	}
	if _, err := dec.Decode(context.Background(), Event{SchemaID: "acc1", Payload: payload}); err != nil {
		t.Fatalf("decode after the fetch recovered: %v", err)
	}
}

func BenchmarkDecodeUpdate(b *testing.B) {
	account, payload := accountUpdate(b)
	dec := NewDecoder(func(context.Context, string) (string, error) { return account.JSON, nil })
	ev := Event{Topic: "/data/AccountChangeEvent", SchemaID: "acc1", Payload: payload}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decode(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBaselineGoavro is the floor BenchmarkDecodeUpdate is
// measured against: goavro's decoding of the same payload alone.
func BenchmarkDecodeBaselineGoavro(b *testing.B) {
	account, payload := accountUpdate(b)
	codec, err := goavro.NewCodec(account.JSON)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := codec.NativeFromBinary(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// accountUpdate is a realistic Account UPDATE (Industry, LastModifiedDate
// and a billing street) and its schema, for benchmarks and fuzzing.
func accountUpdate(tb testing.TB) (*cdcschema.Schema, []byte) {
	tb.Helper()
	account := mustSchema(tb, "Account", cdcschema.AccountFields())
	payload, err := account.Encode(cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "UPDATE", TransactionKey: "t", CommitTimestamp: ts, CommitNumber: cdcschema.FirstCommitNumber + 1,
		ChangedFields: []string{"Industry", "LastModifiedDate", "BillingAddress.Street"}},
		map[string]any{"Industry": "Energy", "LastModifiedDate": ts, "BillingAddress.Street": "1 Main St"})
	if err != nil {
		tb.Fatal(err)
	}
	return account, payload
}

// A compound field flagged both by its top-level bit and by an entry of
// its own, as Salesforce sends a Contact's Name when only LastName changed
// (changedFields ["0x02000004", "2-0x04"]): the entry says which components
// changed, and the components no entry names are neither changed nor
// cleared, although an UPDATE carries them as null.
func TestDecodeCompoundFlaggedTwiceChangesOnlyTheNamedComponents(t *testing.T) {
	f := newFixture(t)
	names := []string{"Name", "Name.LastName", "LastModifiedDate"}
	if got, _ := f.contact.Bitmap(names); !slices.Equal(got, []string{"0x02000004", "2-0x04"}) {
		t.Fatalf("the test's event has changedFields %q, not the shape Salesforce sends", got)
	}
	c := f.decode(t, f.contact, "con1", cdcschema.Header{
		RecordIDs: []string{"003000000000001AAA"}, ChangeType: "UPDATE", TransactionKey: "tx-n", SequenceNumber: 1, CommitTimestamp: ts,
		ChangedFields: names,
	}, map[string]any{"Name.LastName": "Byron", "LastModifiedDate": ts})[0]
	if want := map[string]any{"Name.LastName": "Byron", "LastModifiedDate": ts}; !maps.Equal(c.Fields, want) {
		t.Errorf("fields = %v, want %v", c.Fields, want)
	}
	if len(c.Nulled) != 0 {
		t.Errorf("nulled = %q: FirstName and Salutation were not touched", c.Nulled)
	}

	// The billing street changes and the city is cleared; the address is
	// flagged in the top-level bitmaps of both, beside its own entries.
	c = f.decode(t, f.account, "acc1", cdcschema.Header{
		RecordIDs: []string{"001000000000001AAA"}, ChangeType: "UPDATE", TransactionKey: "tx-b", SequenceNumber: 1, CommitTimestamp: ts,
		ChangedFields: []string{"BillingAddress", "BillingAddress.Street", "BillingAddress.City", "LastModifiedDate"},
		NulledFields:  []string{"BillingAddress", "BillingAddress.City"},
	}, map[string]any{"BillingAddress.Street": "415 Mission St", "LastModifiedDate": ts})[0]
	if want := map[string]any{"BillingAddress.Street": "415 Mission St", "LastModifiedDate": ts}; !maps.Equal(c.Fields, want) {
		t.Errorf("fields = %v, want %v", c.Fields, want)
	}
	if !slices.Equal(c.Nulled, []string{"BillingAddress.City"}) {
		t.Errorf("nulled = %q, want only BillingAddress.City", c.Nulled)
	}

	// A compound flagged only as a whole: the components it carries
	// changed, and only what nulledFields names was cleared.
	c = f.decode(t, f.account, "acc1", cdcschema.Header{
		RecordIDs: []string{"001000000000001AAA"}, ChangeType: "UPDATE", TransactionKey: "tx-w", SequenceNumber: 1, CommitTimestamp: ts,
		ChangedFields: []string{"ShippingAddress", "LastModifiedDate"}, NulledFields: []string{"ShippingAddress.State"},
	}, map[string]any{"ShippingAddress.Street": "1 Main St", "ShippingAddress.City": "Springfield", "LastModifiedDate": ts})[0]
	if want := map[string]any{"ShippingAddress.Street": "1 Main St", "ShippingAddress.City": "Springfield", "LastModifiedDate": ts}; !maps.Equal(c.Fields, want) {
		t.Errorf("whole compound: fields = %v, want %v", c.Fields, want)
	}
	if !slices.Equal(c.Nulled, []string{"ShippingAddress.State"}) {
		t.Errorf("whole compound: nulled = %q, want only ShippingAddress.State", c.Nulled)
	}

	// A whole compound cleared names every component.
	c = f.decode(t, f.account, "acc1", cdcschema.Header{
		RecordIDs: []string{"001000000000001AAA"}, ChangeType: "UPDATE", TransactionKey: "tx-c", SequenceNumber: 1, CommitTimestamp: ts,
		ChangedFields: []string{"ShippingAddress", "LastModifiedDate"}, NulledFields: []string{"ShippingAddress"},
	}, map[string]any{"LastModifiedDate": ts})[0]
	if len(c.Nulled) != 10 || c.Nulled[0] != "ShippingAddress.Street" || len(c.Fields) != 1 {
		t.Errorf("cleared compound: fields %v, nulled %q", c.Fields, c.Nulled)
	}
}
