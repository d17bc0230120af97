package pubsub

import (
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

// component reads one component of a compound value without unwrapping
// the whole record; it must read exactly what unwrap's record holds, for
// every compound of the test objects and every shape goavro hands over:
// null, the record branch, the string branch of Account.Name's union, and
// forms goavro never makes but unwrap passes through.
func TestComponentReadsWhatUnwrapHolds(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		schema *cdcschema.Schema
		values map[string]any
	}{
		{f.contact, map[string]any{"Name.FirstName": "Ada", "Name.LastName": "Lovelace", "MailingAddress.City": "London", "OtherAddress.Street": "1 Main St"}},
		{f.account, map[string]any{"Name": "Acme", "BillingAddress.Street": "1 Main St", "BillingAddress.Latitude": 51.5, "ShippingAddress.Country": "UK"}},
		{f.employee, map[string]any{"Office__c.Latitude": 51.5, "Office__c.Longitude": -0.12}},
		{f.account, map[string]any{}},
	}
	checked := 0
	for _, tc := range cases {
		s, err := parseEventSchema(tc.schema.JSON)
		if err != nil {
			t.Fatal(err)
		}
		codec, err := goavro.NewCodec(tc.schema.JSON)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := tc.schema.Encode(cdcschema.Header{RecordIDs: []string{"001000000000001AAA"}, ChangeType: "CREATE", TransactionKey: "t", CommitTimestamp: ts, CommitNumber: cdcschema.FirstCommitNumber + 1}, tc.values)
		if err != nil {
			t.Fatal(err)
		}
		native, _, err := codec.NativeFromBinary(payload)
		if err != nil {
			t.Fatal(err)
		}
		rec := native.(map[string]any)
		for _, fld := range s.fields {
			if fld.record == nil {
				continue
			}
			values := []any{rec[fld.name], nil, "a string branch", map[string]any{}, map[string]any{"string": "x", "int": 1},
				map[string]any{"string": "y"}, map[string]any{fld.record.fullName: "not a record"}}
			names := []string{"NotAComponent"}
			for _, cf := range fld.record.fields {
				names = append(names, cf.name)
			}
			for _, v := range values {
				want, _ := unwrap(v, fld).(map[string]any)
				bv, r := branch(v, fld)
				for _, n := range names {
					if got := component(bv, r, n); !reflect.DeepEqual(got, want[n]) {
						t.Errorf("%s.%s of %#v = %#v, unwrap holds %#v", fld.name, n, v, got, want[n])
					}
					checked++
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no compound field was checked")
	}
}
