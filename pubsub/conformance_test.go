package pubsub_test

import (
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/cdcschema"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/sourcetest"
)

// TestSubscriptionConformance runs the event source conformance suite on a
// Subscription to a change event topic of the fake Pub/Sub server: every
// source of the project passes the same suite. Each consumer is its own
// Subscribe call; the suite's checkpoints are what resumes it.
func TestSubscriptionConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Target {
		e := newEnv(t, nil)
		var mu stdsync.Mutex
		ids := map[string]string{} // the suite's record names to Salesforce ids
		return sourcetest.Target{
			Open: func(t *testing.T, consumer string) sfsync.EventSource {
				sub := e.client.Subscribe(topic, fastRetry(), pubsub.WithJitterSeed(1))
				t.Cleanup(func() { sub.Close() })
				return sub
			},
			Emit: func(t *testing.T, record, value string) {
				mu.Lock()
				defer mu.Unlock()
				id, ok := ids[record]
				if !ok {
					id = fmt.Sprintf("001%015d", len(ids)+1)
					ids[record] = id
				}
				_, commit := e.txs.Next()
				payload, err := e.account.Encode(cdcschema.Header{
					RecordIDs: []string{id}, ChangeType: "UPDATE", TransactionKey: "tx-" + value,
					SequenceNumber: 1, CommitTimestamp: 1714156703000, CommitNumber: commit, ChangedFields: []string{"Industry"},
				}, map[string]any{"Industry": value})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.srv.AppendEncoded(topic, e.schemaID, payload); err != nil {
					t.Fatal(err)
				}
			},
			Value: func(c sfsync.Change) (string, bool) { v, ok := c.Fields["Industry"].(string); return v, ok },
			Wait:  20 * time.Second,
		}
	})
}
