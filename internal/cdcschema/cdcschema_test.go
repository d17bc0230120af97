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

func TestTransactionsNumberCommitsInOrder(t *testing.T) {
	txs := NewTransactions()
	k1, n1 := txs.Next()
	k2, n2 := txs.Next()
	if k1 == k2 || k1 == "" {
		t.Errorf("transaction keys %q and %q", k1, k2)
	}
	if n1 <= FirstCommitNumber || n2 <= n1 {
		t.Errorf("commit numbers %d then %d, want increasing after %d", n1, n2, FirstCommitNumber)
	}
}

// Every change event carries its transaction's commit number, as
// Salesforce's do; one without is refused rather than encoded as 0.
func TestEncodeCarriesTheCommitNumber(t *testing.T) {
	s, err := New("Account", AccountFields()...)
	if err != nil {
		t.Fatal(err)
	}
	key, n := NewTransactions().Next()
	rec, err := s.Native(Header{RecordIDs: []string{"001A"}, ChangeType: "DELETE", TransactionKey: key, SequenceNumber: 1, CommitNumber: n}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec["ChangeEventHeader"].(map[string]any)["commitNumber"]; got != n {
		t.Errorf("commitNumber = %v, want %d", got, n)
	}
	if _, err := s.Encode(Header{RecordIDs: []string{"001A"}, ChangeType: "DELETE", TransactionKey: key, SequenceNumber: 1}, nil); err == nil {
		t.Error("an event without a commit number was encoded")
	}
}
