package pubsub_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/cdcschema"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// sequenceNumber counts changes inside one transaction, and commit
// timestamps tie (the docs' examples are whole seconds, such as
// 1714156685000). Two transactions on one record committed in the same
// millisecond are ordered by their commit numbers: the later transaction
// is applied, not judged stale because its sequence number is lower.
func TestSameTimestampTransactionsOrderedByCommitNumber(t *testing.T) {
	e := newEnv(t, nil)
	const ts = 1714156703000
	add := func(seq int32, industry string) []byte {
		tx, commit := e.txs.Next()
		payload, err := e.account.Encode(cdcschema.Header{
			RecordIDs: []string{"001000000000000001"}, ChangeType: "UPDATE", TransactionKey: tx,
			SequenceNumber: seq, CommitTimestamp: ts, CommitNumber: commit, ChangedFields: []string{"Industry"},
		}, map[string]any{"Industry": industry})
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.srv.AppendEncoded(topic, e.schemaID, payload)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	add(3, "first")          // 3rd change of a bulk transaction
	last := add(1, "second") // committed after it, same millisecond
	erp := synctest.NewSystem(sfsync.External("erp"))
	store := memory.New()
	src := e.client.Subscribe(topic, fastRetry())
	defer src.Close()
	prog := synctest.NewProgress()
	engine, err := sync.New(prog.Watch(src), erp, sync.WithLogger(quiet()), sync.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	if err := prog.Until(ctx, "the checkpoint at the later transaction", func() bool {
		cp, err := store.LoadCheckpoint(ctx, topic)
		return err == nil && string(cp.Token) == string(last)
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, o := range must(store.Outcomes(ctx, sfsync.OutcomeQuery{})) {
		t.Logf("%s: %s (%s)", o.Key, o.Status, o.Reason)
	}
	rec, _ := erp.Record("Account", "001000000000000001")
	if rec.Fields["Industry"] != "second" {
		t.Errorf("external Industry = %v, want the later transaction's value", rec.Fields["Industry"])
	}
}
