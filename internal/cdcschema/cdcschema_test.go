package cdcschema

import (
	"slices"
	"testing"
)

func TestBitmapMatchesTheDocumentedEncoding(t *testing.T) {
	s, err := New("Account", AccountFields()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"Industry", "LastModifiedDate"}, []string{"0x400800"}},
		{[]string{"LastModifiedDate", "BillingAddress.Street"}, []string{"0x400000", "4-0x01"}},
		{[]string{"Fax", "LastModifiedDate"}, []string{"0x400080"}},
		{[]string{"BillingAddress.Street"}, []string{"4-0x01"}},
		{[]string{"Name"}, []string{"0x02"}},
	} {
		got, err := s.Bitmap(tc.names)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Bitmap(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}
