package memory

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/sfsync/sfsync"
)

// The ledger keeps tokens of its own: a caller reusing its buffer after
// recording, across several of the buffers copies share, and a token
// longer than one of them, changes nothing the ledger returns.
func TestLedgerKeepsItsOwnTokens(t *testing.T) {
	ctx := context.Background()
	s := New()
	buf := make([]byte, 10)
	var want [][]byte
	for i := range 2000 { // about five of the shared buffers
		tok := fmt.Appendf(buf[:0], "%010d", i)
		want = append(want, bytes.Clone(tok))
		if err := s.RecordOutcomes(ctx, []sfsync.Outcome{{Key: fmt.Sprint(i), Position: sfsync.Position{Stream: "s", Token: tok}}}); err != nil {
			t.Fatal(err)
		}
	}
	long := bytes.Repeat([]byte{7}, 2*tokenChunk)
	want = append(want, bytes.Clone(long))
	if err := s.RecordOutcomes(ctx, []sfsync.Outcome{{Key: "long", Position: sfsync.Position{Stream: "s", Token: long}}, {Key: "none"}}); err != nil {
		t.Fatal(err)
	}
	long[0] = 0
	want = append(want, nil)
	got, err := s.Outcomes(ctx, sfsync.OutcomeQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d outcomes, want %d", len(got), len(want))
	}
	for i, o := range got {
		if !bytes.Equal(o.Position.Token, want[i]) || (o.Position.Token == nil) != (want[i] == nil) {
			t.Fatalf("outcome %d token %q, want %q", i, o.Position.Token, want[i])
		}
	}
	// Appending to a kept copy never writes into the next one.
	a, b := s.keepToken([]byte("aa")), s.keepToken([]byte("bb"))
	_ = append(a, 'x')
	if string(b) != "bb" {
		t.Fatalf("append to one kept token changed the next: %q", b)
	}
}
