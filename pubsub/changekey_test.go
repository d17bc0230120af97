package pubsub

import (
	"testing"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

// A change's key is "<record id>:<transactionKey>:<sequenceNumber>", or
// "<record id>:<replay id in hex>" without a transaction key, for every
// record a merged event names, whatever the number's length.
func TestDecodeChangeKeys(t *testing.T) {
	f := newFixture(t)
	ids := []string{"001000000000001AAA", "001000000000002AAA"}
	for _, tc := range []struct {
		txKey string
		seq   int32
		want  []string
	}{
		{"0002b3a4-5c6d-7e8f-9a0b-c1d2e3f4a5b6", 7, []string{
			"001000000000001AAA:0002b3a4-5c6d-7e8f-9a0b-c1d2e3f4a5b6:7", "001000000000002AAA:0002b3a4-5c6d-7e8f-9a0b-c1d2e3f4a5b6:7"}},
		{"tx", 150, []string{"001000000000001AAA:tx:150", "001000000000002AAA:tx:150"}},
		{"tx", 2147483647, []string{"001000000000001AAA:tx:2147483647", "001000000000002AAA:tx:2147483647"}},
		{"", 3, []string{"001000000000001AAA:0000000000000009", "001000000000002AAA:0000000000000009"}},
		// A transaction key longer than the room the id is written into.
		{"k-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789", 12, []string{
			"001000000000001AAA:k-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789:12",
			"001000000000002AAA:k-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789:12"}},
	} {
		got := f.decode(t, f.account, "acc1", cdcschema.Header{RecordIDs: ids, ChangeType: "UPDATE", TransactionKey: tc.txKey, SequenceNumber: tc.seq, CommitTimestamp: ts,
			ChangedFields: []string{"Industry"}}, map[string]any{"Industry": "Energy"})
		if len(got) != len(tc.want) {
			t.Fatalf("%d changes, want %d", len(got), len(tc.want))
		}
		for i, c := range got {
			if c.Key != tc.want[i] {
				t.Errorf("key %q, want %q", c.Key, tc.want[i])
			}
		}
	}
}
