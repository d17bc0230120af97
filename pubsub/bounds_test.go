package pubsub

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded/boundedtest"
	"github.com/sfsync/sfsync/internal/cdcschema"
)

// knownBadPayload claims an array of about 2^31 items in its first bytes:
// goavro alone pre-allocates their capacity, some 6 GB, for 10 bytes.
var knownBadPayload = []byte("\b00\xa0\xe0\xe0\xe0\xe0\xfd\x02")

// decodeBound is what decoding an event may allocate: a small multiple of
// its payload, plus the changes and maps every event costs.
var decodeBound = boundedtest.Bound{PerByte: 64, Fixed: 256 << 10, FixedObjects: 2000}

func TestDecodeKnownBadPayloadIsUndecodableWithinOneMiB(t *testing.T) {
	account, _ := accountUpdate(t)
	dec := NewDecoder(func(context.Context, string) (string, error) { return account.JSON, nil },
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	ev := Event{Topic: "/data/AccountChangeEvent", ID: "e1", SchemaID: "acc1", Payload: knownBadPayload, ReplayID: []byte{7}}
	var changes []sfsync.Change
	n, _ := boundedtest.Allocated(func() {
		var err error
		if changes, err = dec.Decode(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d bytes allocated for a %d-byte payload (%.0f per byte)", n, len(knownBadPayload), float64(n)/float64(len(knownBadPayload)))
	if n >= 1<<20 {
		t.Fatalf("decoding the 10-byte payload allocated %d bytes", n)
	}
	if len(changes) != 1 || changes[0].Op != sfsync.OpUndecodable || changes[0].Raw == nil || string(changes[0].Raw.Payload) != string(knownBadPayload) {
		t.Fatalf("want one undecodable change carrying the payload, got %+v", changes)
	}
}

// quietDecoder decodes every event with schema js.
func quietDecoder(js string) *Decoder {
	return NewDecoder(func(context.Context, string) (string, error) { return js, nil },
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

// cdcSeeds are change events of the shapes the spec describes (cdc-rest.md):
// an UPDATE with a compound component, a merged UPDATE, a CREATE, a
// DELETE, gap and overflow events, and an UPDATE with a diff field.
func cdcSeeds(tb testing.TB, account *cdcschema.Schema) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, tc := range []struct {
		h cdcschema.Header
		v map[string]any
	}{
		{cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "UPDATE", TransactionKey: "t", CommitTimestamp: ts, ChangedFields: []string{"LastModifiedDate", "BillingAddress.Street"}},
			map[string]any{"LastModifiedDate": ts, "BillingAddress.Street": "1 Main St"}},
		{cdcschema.Header{RecordIDs: []string{"001A", "001B", "001C"}, ChangeType: "UPDATE", TransactionKey: "t", CommitTimestamp: ts, ChangedFields: []string{"Industry", "LastModifiedDate"}},
			map[string]any{"Industry": "Energy", "LastModifiedDate": ts}},
		{cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "CREATE", TransactionKey: "t", CommitTimestamp: ts},
			map[string]any{"Name": "Acme", "Industry": "Energy", "LastModifiedDate": ts}},
		{cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "DELETE", TransactionKey: "t", CommitTimestamp: ts}, nil},
		{cdcschema.Header{RecordIDs: []string{"001A", "001B"}, ChangeType: "GAP_UPDATE", TransactionKey: "t", CommitTimestamp: ts}, nil},
		{cdcschema.Header{RecordIDs: []string{"000000000000000AAA"}, ChangeType: "GAP_OVERFLOW", TransactionKey: "t", CommitTimestamp: ts}, nil},
		{cdcschema.Header{RecordIDs: []string{"001A"}, ChangeType: "UPDATE", TransactionKey: "t", CommitTimestamp: ts, ChangedFields: []string{"Description", "LastModifiedDate"}, DiffFields: []string{"Description"}},
			map[string]any{"Description": "--- \n+++ abc\n@@ -1 +1 @@\n-a\n+b\n", "LastModifiedDate": ts}},
	} {
		tc.h.CommitNumber = cdcschema.FirstCommitNumber + 1
		p, err := account.Encode(tc.h, tc.v)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// checkDecoded fails t when an event was lost or decoded without identity.
// Only a change event of a type the decoder does not know (such as
// SNAPSHOT) decodes to nothing, and it must then be a well-formed record.
func checkDecoded(t *testing.T, codec *goavro.Codec, payload []byte, changes []sfsync.Change) {
	t.Helper()
	if len(changes) == 0 {
		native, rest, err := codec.NativeFromBinary(payload)
		h, _ := native.(map[string]any)["ChangeEventHeader"].(map[string]any)
		if _, known := changeTypes[h["changeType"].(string)]; err != nil || len(rest) > 0 || known {
			t.Fatalf("event lost: no change and no undecodable change for %q", payload)
		}
	}
	failOnRecoveredPanic(t, changes)
	for _, c := range changes {
		if c.Op == sfsync.OpUndecodable && (c.Raw == nil || c.Key == "" || !bytes.Equal(c.Raw.Payload, payload)) ||
			c.Op != sfsync.OpUndecodable && (c.Object == "" || c.RecordID == "" || c.Key == "") {
			t.Fatalf("decoded change without identity or payload: %+v", c)
		}
	}
}

// failOnRecoveredPanic fails a fuzz input that made the decoder panic:
// Decode recovers and hands the event over as undecodable, which keeps a
// service up but is still a bug to fix.
func failOnRecoveredPanic(t *testing.T, changes []sfsync.Change) {
	t.Helper()
	for _, c := range changes {
		if c.Raw != nil && strings.Contains(c.Raw.Reason, "panicked") {
			t.Fatalf("decoding panicked (recovered): %s", c.Raw.Reason)
		}
	}
}

// Arbitrary payloads never panic the decoder nor lose the event: they
// decode, or become an undecodable change for the dead-letter store, and
// never allocate more than a small multiple of their size.
func FuzzDecode(f *testing.F) {
	account, valid := accountUpdate(f)
	for _, p := range append(cdcSeeds(f, account), valid, valid[:len(valid)/2], []byte{}, knownBadPayload) {
		f.Add(p)
	}
	dec := quietDecoder(account.JSON)
	codec, err := goavro.NewCodec(account.JSON)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev := Event{Topic: "/data/AccountChangeEvent", SchemaID: "acc1", Payload: payload, ReplayID: []byte{1}}
		var changes []sfsync.Change
		decode := func() {
			var err error
			if changes, err = dec.Decode(context.Background(), ev); err != nil {
				t.Fatalf("a payload error surfaced as a call error: %v", err)
			}
		}
		boundedtest.Check(t, decodeBound, len(payload), decode)
		checkDecoded(t, codec, payload, changes)
	})
}

const orderShipped = `{"type":"record","name":"Order_Shipped__e","namespace":"com.sforce.eventbus","fields":[
	{"name":"CreatedDate","type":"long"},{"name":"CreatedById","type":"string"},
	{"name":"EventUuid","type":["null","string"],"default":null},
	{"name":"Order_Number__c","type":["null","string"],"default":null},
	{"name":"Weight__c","type":["null","double"],"default":null},
	{"name":"Lines__c","type":["null",{"type":"array","items":"string"}],"default":null},
	{"name":"Attrs__c","type":["null",{"type":"map","values":"long"}],"default":null}]}`

// Platform-event payloads are bounded the same way, arrays and maps
// included.
func FuzzDecodePlatformEvent(f *testing.F) {
	codec, err := goavro.NewCodec(orderShipped)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := codec.BinaryFromNative(nil, map[string]any{"CreatedDate": ts, "CreatedById": "005X",
		"EventUuid": goavro.Union("string", "uuid-1"), "Order_Number__c": goavro.Union("string", "O-1"), "Weight__c": goavro.Union("double", 2.5),
		"Lines__c": goavro.Union("array", []any{"a", "b"}), "Attrs__c": goavro.Union("map", map[string]any{"k": int64(1)})})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range [][]byte{valid, valid[:len(valid)-3], {}, knownBadPayload, append([]byte{0x80, 0x01, 0, 0, 0, 2}, 0xfe, 0xff, 0xff, 0xff, 0x0f)} {
		f.Add(p)
	}
	dec := quietDecoder(orderShipped)
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev := Event{Topic: "/event/Order_Shipped__e", SchemaID: "pe1", Payload: payload, ReplayID: []byte{1}}
		var changes []sfsync.Change
		boundedtest.Check(t, decodeBound, len(payload), func() {
			var err error
			if changes, err = dec.Decode(context.Background(), ev); err != nil {
				t.Fatalf("a payload error surfaced as a call error: %v", err)
			}
		})
		failOnRecoveredPanic(t, changes)
		if len(changes) != 1 || changes[0].Key == "" || changes[0].Op == sfsync.OpUndecodable && !bytes.Equal(changes[0].Raw.Payload, payload) {
			t.Fatalf("event lost or without identity: %+v", changes)
		}
	})
}

// Writer schemas from GetSchema are bounded too: any schema text compiles
// or makes its events undecodable, within a multiple of its size.
func FuzzDecodeSchema(f *testing.F) {
	account, payload := accountUpdate(f)
	for _, s := range []string{account.JSON, orderShipped, `{"type":"record","name":"X","fields":[]}`, `"string"`,
		strings.Repeat("[", 100) + strings.Repeat("]", 100), `{"type":"record","name":"R","fields":[{"name":"n","type":["null","R"]}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		boundedtest.Check(t, boundedtest.Bound{PerByte: 512, Fixed: 256 << 10, FixedObjects: 4000}, len(js), func() {
			changes, err := quietDecoder(js).Decode(context.Background(), Event{Topic: "/data/AccountChangeEvent", SchemaID: "s", Payload: payload, ReplayID: []byte{1}})
			if err != nil {
				t.Fatalf("a schema error surfaced as a call error: %v", err)
			}
			if len(changes) == 0 && js != account.JSON {
				t.Fatalf("event lost under schema %q", js)
			}
			failOnRecoveredPanic(t, changes)
		})
	})
}

func TestDecodeRejectsDeepOrHugeSchemas(t *testing.T) {
	_, payload := accountUpdate(t)
	for name, js := range map[string]string{
		"deep": strings.Repeat(`{"type":`, 1000) + `"string"` + strings.Repeat("}", 1000),
		"huge": `{"type":"record","name":"X","doc":"` + strings.Repeat("x", maxSchemaJSON) + `","fields":[]}`,
	} {
		changes, err := quietDecoder(js).Decode(context.Background(), Event{SchemaID: "s", Payload: payload})
		if err != nil || len(changes) != 1 || changes[0].Op != sfsync.OpUndecodable || !strings.Contains(changes[0].Raw.Reason, "exceeds its decoding bound") {
			t.Errorf("%s schema: %v, %+v", name, err, changes)
		}
	}
}

// A recursive schema cannot make values nest without end.
func TestDecodeBoundsValueNesting(t *testing.T) {
	js := `{"type":"record","name":"R","fields":[{"name":"n","type":["null","R"]}]}`
	payload := append(bytes.Repeat([]byte{2}, 10_000), 0) // branch R ten thousand times, then null
	changes, err := quietDecoder(js).Decode(context.Background(), Event{Topic: "/event/R", SchemaID: "s", Payload: payload})
	if err != nil || len(changes) != 1 || changes[0].Op != sfsync.OpUndecodable {
		t.Fatalf("%v, %+v", err, changes)
	}
}
