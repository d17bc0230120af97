package pubsub

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sfsync/sfsync"
)

// A panic in a decoding step becomes an undecodable change carrying the
// payload whole and the panic's text, at the event's position; the next
// event decodes as usual.
func TestDecodePanicBecomesUndecodable(t *testing.T) {
	account, payload := accountUpdate(t)
	d := quietDecoder(account.JSON)
	SetBeforeDecode(d, func(ev Event) {
		if ev.ID == "bad" {
			panic("index out of range [7] with length 3")
		}
	})
	ev := Event{Topic: "/data/AccountChangeEvent", ID: "bad", SchemaID: "acc1", Payload: payload, ReplayID: []byte{0, 0, 0, 0, 0, 0, 0, 7}}
	changes, err := d.Decode(context.Background(), ev)
	if err != nil {
		t.Fatalf("Decode = %v, want the panic handed over as a change", err)
	}
	if len(changes) != 1 {
		t.Fatalf("changes %+v, want one", changes)
	}
	c := changes[0]
	if c.Op != sfsync.OpUndecodable || c.Raw == nil || !bytes.Equal(c.Raw.Payload, payload) ||
		!strings.Contains(c.Raw.Reason, "panicked: index out of range [7] with length 3") ||
		!bytes.Equal(c.Position.Token, ev.ReplayID) || c.Object != "Account" || c.Key == "" {
		t.Fatalf("change %+v (raw %+v), want an undecodable change with the payload and the panic's text", c, c.Raw)
	}
	ev.ID = "good"
	changes, err = d.Decode(context.Background(), ev)
	if err != nil || len(changes) != 1 || changes[0].Op != sfsync.OpUpdate || changes[0].Fields["Industry"] != "Energy" {
		t.Fatalf("the next event: %+v, %v", changes, err)
	}
}

// A SchemaFunc that panics makes the event undecodable instead of crashing
// or leaving the schema's cache entry pending for ever: the panic is not
// cached, and the next event of the schema fetches it again and decodes.
func TestSchemaFuncPanicBecomesUndecodable(t *testing.T) {
	account, payload := accountUpdate(t)
	var calls atomic.Int32
	var logs bytes.Buffer
	// WithLogger is a DecoderOption as well as a client Option.
	d := NewDecoder(func(context.Context, string) (string, error) {
		if calls.Add(1) == 1 {
			panic("schema registry bug")
		}
		return account.JSON, nil
	}, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ev := Event{Topic: "/data/AccountChangeEvent", ID: "e1", SchemaID: "acc1", Payload: payload, ReplayID: []byte{0, 0, 0, 0, 0, 0, 0, 1}}
	changes, err := d.Decode(context.Background(), ev)
	if err != nil || len(changes) != 1 || changes[0].Op != sfsync.OpUndecodable || !bytes.Equal(changes[0].Raw.Payload, payload) ||
		!strings.Contains(changes[0].Raw.Reason, "panicked: schema registry bug") {
		t.Fatalf("Decode = %+v, %v; want an undecodable change naming the panic", changes, err)
	}
	changes, err = d.Decode(context.Background(), ev)
	if err != nil || len(changes) != 1 || changes[0].Op != sfsync.OpUpdate {
		t.Fatalf("after the panic: %+v, %v; want the event decoded with a fresh fetch", changes, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d schema fetches, want 2", n)
	}
	if !strings.Contains(logs.String(), "schema registry bug") {
		t.Errorf("the panic was not logged to the decoder's logger: %q", logs.String())
	}
}
