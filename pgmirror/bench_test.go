package pgmirror

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// runEngine runs an engine until the test ends.
func runEngine(b *testing.B, src sfsync.EventSource, opts ...sync.Option) {
	b.Helper()
	opts = append([]sync.Option{sync.WithLogger(quiet), sync.WithStore(memory.New()), sync.WithClientID("sfsync"),
		sync.WithMapping(personMapping())}, opts...)
	e, err := sync.New(src, nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			b.Error(err)
		}
	})
}

func sfCreate(i int) sfsync.Change {
	return sfsync.Change{Source: sfsync.Salesforce, Object: "Contact", RecordID: fmt.Sprintf("P-%d", i), Op: sfsync.OpCreate,
		Key: fmt.Sprintf("sf:%d", i), Version: sfsync.Version{Time: time.Unix(1_800_000_000, int64(i)), Seq: 1},
		Fields: map[string]any{"LastName": fmt.Sprintf("Name %d", i), "Email": fmt.Sprintf("p%d@example.com", i), "Phone": "555"}}
}

// BenchmarkSalesforceToPostgres: Salesforce creates through the engine into
// the mirrored table. Compare with BenchmarkBaselineUpsert.
func BenchmarkSalesforceToPostgres(b *testing.B) {
	m := openMirror(b, WithPruneInterval(0))
	log := synctest.NewLog("/data/ContactChangeEvent")
	src := log.Source()
	runEngine(b, src, sync.WithRoute(sync.Route{From: sfsync.Salesforce, Sink: m}))
	const per = 100 // changes per delivery, as a Pub/Sub batch carries
	b.ResetTimer()
	for start := 0; start < b.N; start += per {
		var d []sfsync.Change
		for i := start; i < min(b.N, start+per); i++ {
			d = append(d, sfCreate(i))
		}
		log.Append(d...)
	}
	if err := src.WaitCommitted(context.Background(), log.Len()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBaselineUpsert: the same rows as plain batched upserts of 200,
// on the same database: what the database alone costs.
func BenchmarkBaselineUpsert(b *testing.B) {
	m := openMirror(b, WithPruneInterval(0))
	q, _ := m.Table("person")
	ctx := context.Background()
	b.ResetTimer()
	for start := 0; start < b.N; start += 200 {
		tx, err := m.Pool().Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		batch := &pgx.Batch{}
		batch.Queue(`SELECT set_config('sfsync.origin', 'sfsync', true)`)
		for i := start; i < min(b.N, start+200); i++ {
			batch.Queue(`INSERT INTO `+q+` (external_id__c, name, email, phone) VALUES ($1, $2, $3, $4)
				ON CONFLICT (external_id__c) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone`,
				fmt.Sprintf("P-%d", i), fmt.Sprintf("Name %d", i), fmt.Sprintf("p%d@example.com", i), "555")
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// localEdits inserts n rows, then updates each once, as local users do.
func localEdits(b *testing.B, m *Mirror, n int) {
	b.Helper()
	q, _ := m.Table("person")
	_, err := m.Pool().Exec(context.Background(), `INSERT INTO `+q+` (external_id__c, name, phone)
		SELECT 'L-' || i, 'Local ' || i, '1' FROM generate_series(1, $1) i`, n)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPostgresToSalesforce: local inserts read from the outbox
// through the engine and written to a Salesforce stand-in. Compare with
// BenchmarkBaselineOutboxRead.
func BenchmarkPostgresToSalesforce(b *testing.B) {
	m := openMirror(b, WithPruneInterval(0))
	sf := synctest.NewSystem(sfsync.Salesforce)
	prog := synctest.NewProgress()
	localEdits(b, m, b.N)
	src := m.Source()
	defer src.Close()
	b.ResetTimer()
	runEngine(b, prog.Watch(src), sync.WithRoute(sync.Route{From: m.System(), Sink: sf}))
	err := prog.Until(context.Background(), "every local change written", func() bool {
		n, _ := sf.Writes()
		return n >= b.N
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkBaselineOutboxRead: the same outbox rows read in pages of 500
// and marked done, with no engine: what reading the outbox alone costs.
func BenchmarkBaselineOutboxRead(b *testing.B) {
	m := openMirror(b, WithPruneInterval(0))
	localEdits(b, m, b.N)
	ctx := context.Background()
	out := ident(m.Schema()) + ".sfsync_outbox"
	b.ResetTimer()
	var last int64
	for read := 0; read < b.N; {
		rows, err := m.Pool().Query(ctx, `SELECT id, new FROM `+out+` WHERE id > $1 ORDER BY id LIMIT 500`, last)
		if err != nil {
			b.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&last, &raw); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, last)
		}
		rows.Close()
		if _, err := m.Pool().Exec(ctx, `UPDATE `+out+` SET state = 'done' WHERE id = ANY($1)`, ids); err != nil {
			b.Fatal(err)
		}
		read += len(ids)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// notifySink records when each change reaches Salesforce.
type notifySink struct {
	*synctest.System
	seen chan string
}

func (s *notifySink) Write(ctx context.Context, cs []sfsync.Change) error {
	err := s.System.Write(ctx, cs)
	for _, c := range cs {
		// The engine hands this route the change under the table's column
		// names in this setup; either name is the phone.
		v, ok := c.Fields["Phone"].(string)
		if !ok {
			v, ok = c.Fields["phone"].(string)
		}
		if ok {
			s.seen <- v
		}
	}
	return err
}

// BenchmarkLocalUpdateLatency: from a committed local UPDATE to the
// Salesforce write, one at a time (p50 and p99 reported).
func BenchmarkLocalUpdateLatency(b *testing.B) {
	m := openMirror(b, WithPruneInterval(0), WithPollInterval(time.Second))
	q, _ := m.Table("person")
	localEdits(b, m, 1)
	sf := &notifySink{System: synctest.NewSystem(sfsync.Salesforce), seen: make(chan string, 16)}
	src := m.Source()
	defer src.Close()
	runEngine(b, synctest.NewProgress().Watch(src), sync.WithRoute(sync.Route{From: m.System(), Sink: sf}))
	ctx := context.Background()
	select {
	case v := <-sf.seen:
		if v != "1" {
			b.Fatalf("first write carried phone %q", v)
		}
	case <-time.After(10 * time.Second):
		b.Fatal("the first local change did not reach Salesforce")
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		want := fmt.Sprintf("p%d", i)
		start := time.Now()
		if _, err := m.Pool().Exec(ctx, `UPDATE `+q+` SET phone = $1`, want); err != nil {
			b.Fatal(err)
		}
		for v := range sf.seen {
			if v == want {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
