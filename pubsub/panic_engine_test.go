package pubsub_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// An event whose decoding panics inside the subscription is dead-lettered
// with its payload and the panic's text, in its place: the events after it
// are applied, and the checkpoint passes it only with its outcome stored.
func TestEngineDeadLettersAnEventWhoseDecodingPanics(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.appendUpdates(t, 0, 3)
	pubsub.SetBeforeDecode(e.client.Decoder(), func(ev pubsub.Event) {
		if bytes.Equal(ev.ReplayID, ids[1]) {
			panic("decoder bug")
		}
	})

	store := memory.New()
	erp := synctest.NewSystem(sfsync.External("erp"))
	src := e.client.Subscribe(topic, fastRetry())
	defer src.Close()
	prog := synctest.NewProgress()
	engine, err := sync.New(prog.Watch(src), erp, sync.WithLogger(quiet()), sync.WithTenant(creds.TenantID), sync.WithStore(store),
		sync.WithMapping(&sync.Mapping{Object: "Account", External: "company", Fields: []sync.Field{{Salesforce: "Industry", External: "industry"}}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	if err := prog.Until(ctx, "the checkpoint at the last event", func() bool {
		cp, err := store.LoadCheckpoint(ctx, topic)
		return err == nil && bytes.Equal(cp.Token, ids[2])
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if rec, ok := erp.Record("company", fmt.Sprintf("001%015d", i)); !ok || rec.Fields["industry"] != fmt.Sprintf("I%d", i) {
			t.Errorf("company %d = %v, want it applied", i, rec.Fields)
		}
	}
	if _, ok := erp.Record("company", fmt.Sprintf("001%015d", 1)); ok {
		t.Error("the event whose decoding panicked was applied")
	}
	letters := must(store.DeadLetters(ctx, sfsync.DeadLetterQuery{}))
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	c := letters[0].Change
	if c.Op != sfsync.OpUndecodable || c.Raw == nil || len(c.Raw.Payload) == 0 || !strings.Contains(c.Raw.Reason, "panicked: decoder bug") ||
		!bytes.Equal(c.Position.Token, ids[1]) {
		t.Errorf("dead letter %+v (raw %+v), want the event at %x with its payload and the panic's text", c, c.Raw, ids[1])
	}
}
