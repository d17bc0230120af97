package pubsub

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

func mustSchema(t testing.TB, object string, fields []cdcschema.Field) *cdcschema.Schema {
	t.Helper()
	s, err := cdcschema.New(object, fields...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodeFieldBitmapDocumentedExamples(t *testing.T) {
	account := mustSchema(t, "Account", cdcschema.AccountFields()).JSON
	for _, tc := range []struct {
		name    string
		entries []string
		want    []string
	}{
		{"merged update of Industry", []string{"0x400800"}, []string{"Industry", "LastModifiedDate"}},
		{"billing street", []string{"0x400000", "4-0x01"}, []string{"LastModifiedDate", "BillingAddress.Street"}},
		{"enriched fax", []string{"0x400080"}, []string{"Fax", "LastModifiedDate"}},
		{"lower case hex", []string{"0xc00800", "4-0x0f"}, []string{"Industry", "LastModifiedDate", "LastModifiedById", "BillingAddress.Street", "BillingAddress.City", "BillingAddress.State", "BillingAddress.PostalCode"}},
		{"upper case prefix and padding", []string{"0X00000400800"}, []string{"Industry", "LastModifiedDate"}},
		{"odd number of digits", []string{"0x1"}, []string{"ChangeEventHeader"}},
		{"no top-level element", []string{"5-0x3"}, []string{"ShippingAddress.Street", "ShippingAddress.City"}},
		{"account name union", []string{"1-0x06"}, []string{"Name.FirstName", "Name.LastName"}},
		{"compound flagged twice", []string{"0x400010", "4-0x01"}, []string{"LastModifiedDate", "BillingAddress.Street"}},
		{"compound flagged whole", []string{"0x400010"}, []string{"BillingAddress", "LastModifiedDate"}},
		{"empty bitmap", []string{"0x0"}, nil},
		{"no entries", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFieldBitmap(account, tc.entries)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("DecodeFieldBitmap(%q) = %q, want %q", tc.entries, got, tc.want)
			}
		})
	}
}

func TestDecodeFieldBitmapRejects(t *testing.T) {
	account := mustSchema(t, "Account", cdcschema.AccountFields()).JSON
	for _, tc := range []struct {
		name    string
		entries []string
		want    string
	}{
		{"bit beyond the schema", []string{"0x100000000000"}, "has 44 fields"},
		{"parent beyond the schema", []string{"44-0x1"}, "names field 44"},
		{"component beyond the compound", []string{"4-0x800"}, "has 10 components"},
		{"non-compound parent", []string{"11-0x1"}, "Industry, which is not a compound"},
		{"header bits past its fields", []string{"0-0x1000"}, "ChangeEventHeader has 12 components"},
		{"no digits", []string{"0x"}, "no hex digits"},
		{"not hex", []string{"0x40G0"}, "not a hex digit"},
		{"no prefix", []string{"400800"}, "neither"},
		{"compound without 0x", []string{"4-01"}, "neither"},
		{"negative parent", []string{"-4-0x01"}, "neither"},
		{"signed parent", []string{"+4-0x01"}, "non-decimal"},
		{"empty entry", []string{""}, "neither"},
		{"space", []string{"0x 1"}, "not a hex digit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFieldBitmap(account, tc.entries)
			if err == nil {
				t.Fatalf("DecodeFieldBitmap(%q) = %q, want an error", tc.entries, got)
			}
			if !errors.Is(err, ErrBadBitmap) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrBadBitmap mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := DecodeFieldBitmap(`{"type":`, []string{"0x1"}); err == nil {
		t.Fatal("a malformed schema decoded")
	}
}

func TestDecodeFieldBitmapNamedTypeReferences(t *testing.T) {
	// Contact defines Address once (OtherAddress) and references it by
	// name for MailingAddress: components must resolve through the reference.
	contact := mustSchema(t, "Contact", cdcschema.ContactFields())
	if !strings.Contains(contact.JSON, `"type":["null","Address"]`) {
		t.Fatalf("schema does not reference Address by name: %s", contact.JSON)
	}
	got, err := DecodeFieldBitmap(contact.JSON, []string{"4-0x1", "2-0x6"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MailingAddress.Street", "Name.FirstName", "Name.LastName"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Encoding names to a bitmap as Salesforce does and decoding it must give
// the names back, for every schema and any subset.
func TestDecodeFieldBitmapRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, s := range []*cdcschema.Schema{
		mustSchema(t, "Account", cdcschema.AccountFields()),
		mustSchema(t, "Contact", cdcschema.ContactFields()),
		mustSchema(t, "Employee__c", cdcschema.EmployeeFields()),
	} {
		var all []string
		for _, f := range s.Fields {
			if comps := f.Kind.Components(); comps != nil {
				for _, c := range comps {
					all = append(all, f.Name+"."+c)
				}
			} else {
				all = append(all, f.Name)
			}
		}
		for range 500 {
			var names []string
			for _, n := range all {
				if rng.IntN(4) == 0 {
					names = append(names, n)
				}
			}
			entries, err := s.Bitmap(names)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeFieldBitmap(s.JSON, entries)
			if err != nil {
				t.Fatalf("%s %q: %v", s.Object, entries, err)
			}
			slices.Sort(got)
			want := slices.Clone(names)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %q decoded to %q, want %q", s.Object, entries, got, want)
			}
		}
	}
}

func FuzzDecodeFieldBitmap(f *testing.F) {
	s, err := cdcschema.New("Account", cdcschema.AccountFields()...)
	if err != nil {
		f.Fatal(err)
	}
	schema, err := parseEventSchema(s.JSON)
	if err != nil {
		f.Fatal(err)
	}
	valid := map[string]bool{}
	for _, fl := range schema.fields {
		valid[fl.name] = true
		if fl.record != nil {
			for _, c := range fl.record.fields {
				valid[fl.name+"."+c.name] = true
			}
		}
	}
	for _, seed := range []string{"0x400800", "4-0x01", "0x", "0X1f", "99-0x1", "4-0xFFFFFFFF", "--0x", "0x400000"} {
		f.Add(seed, "4-0x3")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		names, err := schema.decodeBitmap([]string{a, b}, nil)
		if err != nil {
			if !errors.Is(err, ErrBadBitmap) {
				t.Fatalf("error %v does not match ErrBadBitmap", err)
			}
			return
		}
		for _, n := range names {
			if !valid[n] {
				t.Fatalf("decoded %q from %q, %q: not a field of the schema", n, a, b)
			}
		}
	})
}

func BenchmarkDecodeFieldBitmap(b *testing.B) {
	s, err := cdcschema.New("Account", cdcschema.AccountFields()...)
	if err != nil {
		b.Fatal(err)
	}
	schema, err := parseEventSchema(s.JSON)
	if err != nil {
		b.Fatal(err)
	}
	entries := []string{"0x400800", "4-0x01"}
	var buf []string
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = schema.decodeBitmap(entries, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
