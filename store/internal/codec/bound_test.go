package codec

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
	"github.com/sfsync/sfsync/internal/bounded/boundedtest"
)

// The deepest change EncodeChange writes decodes; deeper text is refused
// before it is decoded.
func TestDecodeChangeNestingBound(t *testing.T) {
	var v any = "leaf"
	for range maxDepth + 10 {
		v = map[string]any{"k": v}
	}
	deepest := EncodeChange(sfsync.Change{Key: "k", Fields: map[string]any{"f": v}})
	if _, err := DecodeChange(deepest); err != nil {
		t.Fatalf("the deepest change encoded does not decode: %v", err)
	}
	hostile := []byte(`{"key":"k","fields":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + "}")
	if _, err := DecodeChange(hostile); !errors.Is(err, bounded.ErrTooLarge) {
		t.Fatalf("deep stored change: %v", err)
	}
}

// Stored dead letters decode within a multiple of their size, or fail;
// they never panic.
func FuzzDecodeChange(f *testing.F) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []sfsync.Change{
		{Source: sfsync.Salesforce, Tenant: "00D000000000001AAA", Object: "Account", RecordID: "001A", Op: sfsync.OpUpdate, Key: "001A:t:1",
			Fields: map[string]any{"Industry": "Energy", "BillingAddress.Street": "1 Main St", "AnnualRevenue": 1.5e6}, Nulled: []string{"Fax"},
			Version: sfsync.Version{Time: ts, Commit: 10, Seq: 1}, Position: sfsync.Position{Stream: "/data/AccountChangeEvent", Token: []byte{0, 9}}},
		{Source: sfsync.Salesforce, Op: sfsync.OpUndecodable, Key: "undecodable:/data/AccountChangeEvent:07",
			Raw: &sfsync.RawEvent{Payload: []byte("\b00\xa0\xe0\xe0\xe0\xe0\xfd\x02"), Reason: "out of bounds"}},
		{Source: "erp", Object: "Contact", RecordID: "c1", Op: sfsync.OpCreate, Key: "erp:c1:1", Fields: map[string]any{"tags": []any{"a", "\xff"}, "n": map[string]any{"x": nil}}},
	} {
		f.Add(EncodeChange(c))
	}
	f.Add([]byte(`{"fields":{"$sfsync":"map","entries":[["k",{"$sfsync":"bytes","base64":"AAE="}]]}}`))
	f.Add([]byte(strings.Repeat("[", 300)))
	f.Fuzz(func(t *testing.T, b []byte) {
		boundedtest.Check(t, boundedtest.Bound{PerByte: 64, Fixed: 64 << 10, FixedObjects: 200}, len(b), func() { _, _ = DecodeChange(b) })
	})
}
