package sync

import (
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
)

// Option configures an [Engine].
type Option func(*config)

type config struct {
	logger       *slog.Logger
	workers      int
	maxInFlight  int
	maxBatch     int
	commitBatch  int
	dedupTTL     time.Duration
	echoTTL      time.Duration
	drainTimeout time.Duration
	newBackOff   func() backoff.BackOff
	clock        func() time.Time

	tenant          string
	clientID        string
	integrationUser string
	ignoredFields   map[string]bool
	validate        func(sfsync.Change) error

	sources    []sfsync.EventSource
	routes     []Route
	mappings   []*Mapping
	policy     sfsync.ConflictPolicy
	reconciler sfsync.Reconciler
	backfill   []string
	// windowMargin, backfillProgress: see WithWindowMargin and
	// WithBackfillProgress.
	windowMargin     time.Duration
	backfillProgress func(BackfillProgress)
	stateOpts        stateOptions
	lease            *leaseConfig
	// versionCache: see WithVersionCache.
	versionCache int
	linkReader   sfsync.StateReader
	ops          opsConfig // watchdog and API usage (streams.go, summary.go)
	// deadAlarm, deadWindow: see WithDeadLetterAlarm.
	deadAlarm  int
	deadWindow time.Duration
}

type stateOptions struct {
	store       Store
	dedup       sfsync.DedupStore
	checkpoints sfsync.CheckpointStore
	ledger      sfsync.Ledger
	deadLetters sfsync.DeadLetterStore
	echoes      sfsync.EchoStore
	versions    sfsync.VersionStore
}

type leaseConfig struct {
	leaser sfsync.Leaser
	name   string
	holder string
	ttl    time.Duration
}

func defaultConfig() config {
	return config{
		logger:       slog.Default(),
		workers:      8,
		maxInFlight:  512,
		maxBatch:     200,
		commitBatch:  1024,
		dedupTTL:     96 * time.Hour, // outlives Salesforce's 72 h replay window
		echoTTL:      time.Hour,
		drainTimeout: 30 * time.Second,
		newBackOff:   defaultBackOff,
		clock:        time.Now,
		ignoredFields: map[string]bool{
			"LastModifiedDate": true, "SystemModstamp": true, "LastModifiedById": true,
			"CreatedDate": true, "CreatedById": true, "LastReferencedDate": true, "LastViewedDate": true,
		},
		versionCache: DefaultVersionCache,
		windowMargin: DefaultWindowMargin,
		deadAlarm:    DefaultDeadLetterAlarm,
		deadWindow:   DefaultDeadLetterWindow,
	}
}

// defaultBackOff is the retry policy without WithBackOff: exponential
// from 200 ms to 30 s, giving up after 5 minutes. One is made for every
// written group, so its fields are set on the policy itself: each
// functional option of backoff.NewExponentialBackOff is an allocation of
// its own.
func defaultBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 30 * time.Second
	b.MaxElapsedTime = 5 * time.Minute
	b.Reset() // restarts the interval from the new initial one
	return b
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithWorkers sets how many records are processed in parallel (default 8).
// Changes to one record always go to the same worker, in order.
func WithWorkers(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.workers = n
		}
	}
}

// WithMaxInFlight bounds the changes received but not yet durably recorded
// (default 512). The engine stops pulling from its sources at the bound.
// Each change in flight holds its decoded fields and its place in the
// next state commit: a larger bound holds more memory and makes larger
// commits, which on SQLite dirty more pages than its writer's page cache
// holds; catching up a backlog, 1,024 and 4,096 did not make the engine
// faster than 512 (BENCHMARKS.md).
func WithMaxInFlight(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxInFlight = n
		}
	}
}

// WithMaxBatch bounds the changes one worker hands to a sink in one Write
// (default 200, a Salesforce Collections call).
func WithMaxBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBatch = n
		}
	}
}

// WithCommitBatch bounds the outcomes written in one state commit (default 1024).
func WithCommitBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.commitBatch = n
		}
	}
}

// DefaultVersionCache is how many records' applied versions the engine
// keeps in memory by default.
//
// The version map is durable in the state store; the cache spares a store
// read for the records that change often. Each cached record costs about
// 2.2 KiB with eight fields synced (an in-use heap profile of the bench's
// durable row: 21.5 MiB for 10,000 records; see BENCHMARKS.md), and a
// backfill or reconciliation passes every record of an object through it
// once, so the bound is what such a pass holds: some 35 MiB with eight
// fields.
const DefaultVersionCache = 1 << 14

// WithVersionCache sets how many records' applied versions are kept in
// memory (default [DefaultVersionCache]; at least 16). Raise it when more
// records than that change within minutes of each other; the memory it
// takes grows with it and with the number of fields synced.
func WithVersionCache(records int) Option {
	return func(c *config) {
		if records > 0 {
			c.versionCache = records
		}
	}
}

// WithDedupTTL sets how long idempotency keys are remembered (default 96 h,
// longer than the 72 h in which Salesforce may redeliver).
func WithDedupTTL(d time.Duration) Option { return func(c *config) { c.dedupTTL = d } }

// WithEchoTTL sets how long fingerprints of the engine's own writes are kept
// to recognise their echoes (default 1 h).
func WithEchoTTL(d time.Duration) Option { return func(c *config) { c.echoTTL = d } }

// WithDrainTimeout bounds how long Run waits for in-flight work after its
// context ends (default 30 s).
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// WithBackOff sets the retry policy for retryable write failures. newBackOff
// is called once per batch; when it returns backoff.Stop the failures are
// dead-lettered. The default is exponential from 200 ms to 30 s, giving up
// after 5 minutes.
func WithBackOff(newBackOff func() backoff.BackOff) Option {
	return func(c *config) { c.newBackOff = newBackOff }
}

// WithClock sets the clock used for outcome timestamps and lag.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithTenant rejects Salesforce changes of any other org (id 00D...) to the
// dead-letter store.
func WithTenant(orgID string) Option { return func(c *config) { c.tenant = orgID } }

// WithClientID names the engine's writes: changes whose origin carries this
// client id (Salesforce's changeOrigin "client=<id>") are echoes of its own
// writes and are not written back, and origin alone decides for changes
// from Salesforce.
//
// It is rarely needed: by default the engine takes the id its Salesforce
// sinks write with (a sink implementing [ClientIdentifier], as
// salesforce.Sink does: "sfsync" unless salesforce.WithClientID says
// otherwise), and New fails if WithClientID contradicts it. With neither
// (no Salesforce sink, or one that reports no id), Salesforce echoes are
// recognised only by the fingerprints of the values written (see
// [WithEchoStore]). Give it when the engine writes to Salesforce through a sink
// of its own that sets the client id.
func WithClientID(id string) Option { return func(c *config) { c.clientID = id } }

// WithIntegrationUser treats changes committed by this user (Salesforce
// commitUser, 005...) as echoes of the engine's own writes.
func WithIntegrationUser(userID string) Option { return func(c *config) { c.integrationUser = userID } }

// WithIgnoredFields adds fields that systems maintain themselves (audit
// stamps) and that never count as a change of data, for echo and no-op
// detection. LastModifiedDate, SystemModstamp and the other audit fields are
// ignored by default.
func WithIgnoredFields(fields ...string) Option {
	return func(c *config) {
		for _, f := range fields {
			c.ignoredFields[f] = true
		}
	}
}

// WithValidator adds a schema check run on every change before anything
// else; an error rejects the change to the dead-letter store.
func WithValidator(check func(sfsync.Change) error) Option {
	return func(c *config) { c.validate = check }
}

// WithSource adds another event source; every source has its own
// checkpoint watermark.
func WithSource(src sfsync.EventSource) Option {
	return func(c *config) { c.sources = append(c.sources, src) }
}

// WithRoute adds a route. Routes are tried in the order added, before the
// default route of [New]'s sink.
func WithRoute(r Route) Option { return func(c *config) { c.routes = append(c.routes, r) } }

// WithMapping registers the field mapping of an object.
func WithMapping(m *Mapping) Option { return func(c *config) { c.mappings = append(c.mappings, m) } }

// WithPolicy sets the conflict policy of routes that have none. Without
// one, every change applies (subject to ordering and no-op checks).
func WithPolicy(p sfsync.ConflictPolicy) Option { return func(c *config) { c.policy = p } }

// WithReconciler sets the reconciler used for gap events (one record),
// overflow events (a whole object) and backfills.
func WithReconciler(r sfsync.Reconciler) Option { return func(c *config) { c.reconciler = r } }

// WithBackfill names the objects to backfill through the reconciler when a
// source cannot resume (its position is past retention) or has no
// checkpoint yet.
func WithBackfill(objects ...string) Option {
	return func(c *config) { c.backfill = append(c.backfill, objects...) }
}

// DefaultWindowMargin is how far before a lost or overflowed window a
// windowed backfill reaches back by default.
const DefaultWindowMargin = 10 * time.Minute

// WithWindowMargin sets how far before a window of lost changes a windowed
// backfill reaches back (default [DefaultWindowMargin]): the clock skew
// between the org and the events' commit times, plus the length of the
// longest transaction, whose records are modified before it commits. A
// backfill after an outage past retention covers what changed since the
// last committed event less the margin; one after an overflow event what
// changed since the event's commit less the margin.
func WithWindowMargin(d time.Duration) Option {
	return func(c *config) { c.windowMargin = max(d, 0) }
}

// WithBackfillProgress calls f with each backfill's progress: when it
// pins the stream, after each page or batch whose records all have
// outcomes, and when it finishes or fails. f runs on the backfill's
// goroutine: keep it short.
func WithBackfillProgress(f func(BackfillProgress)) Option {
	return func(c *config) { c.backfillProgress = f }
}

// Store is what [WithStore] takes: a state store that keeps at least the
// checkpoints, the one part without which a restarted engine cannot resume.
// Every other part is optional and found by type assertion, so a store
// grows into one without a change of signature:
//
//   - [sfsync.DedupStore]: idempotency keys
//   - [sfsync.Ledger]: the outcome ledger
//   - [sfsync.DeadLetterStore]: dead letters
//   - [sfsync.EchoStore]: write fingerprints
//   - [sfsync.VersionStore]: the durable version map
//   - [sfsync.StateCommitter]: group commit of all of them with the
//     checkpoints in one transaction
//   - [sfsync.Leaser]: leases that fence commits (see [WithLease])
//
// store/memory, store/sqlite and store/postgres implement all of them.
type Store interface {
	sfsync.CheckpointStore
}

// WithStore uses store for every kind of state it implements (see
// [Store]): dedup keys, checkpoints, the outcome ledger, dead letters, echo
// fingerprints, the version map, and group commit through
// [sfsync.StateCommitter]. Parts it lacks stay in memory. Parts overridden
// by the options below are written before the store's own commit, which
// carries the checkpoints last. A nil store is the same as none.
func WithStore(store Store) Option { return func(c *config) { c.stateOpts.store = store } }

// WithDedupStore overrides the store of idempotency keys.
func WithDedupStore(s sfsync.DedupStore) Option { return func(c *config) { c.stateOpts.dedup = s } }

// WithCheckpointStore overrides the checkpoint store.
func WithCheckpointStore(s sfsync.CheckpointStore) Option {
	return func(c *config) { c.stateOpts.checkpoints = s }
}

// WithLedger overrides the outcome ledger.
func WithLedger(s sfsync.Ledger) Option { return func(c *config) { c.stateOpts.ledger = s } }

// WithDeadLetterStore overrides the dead-letter store.
func WithDeadLetterStore(s sfsync.DeadLetterStore) Option {
	return func(c *config) { c.stateOpts.deadLetters = s }
}

// WithEchoStore overrides the store of write fingerprints.
func WithEchoStore(s sfsync.EchoStore) Option { return func(c *config) { c.stateOpts.echoes = s } }

// WithVersionStore overrides the durable version map (see
// [sfsync.VersionStore]).
func WithVersionStore(s sfsync.VersionStore) Option {
	return func(c *config) { c.stateOpts.versions = s }
}

// WithLease makes the engine hold an exclusive lease named name (one per
// subscription) while it runs: it waits to acquire it, renews it at a third
// of ttl, fences every checkpoint commit with its token, and stops with an
// error matching [sfsync.ErrFenced] if another instance takes over.
func WithLease(leaser sfsync.Leaser, name, holder string, ttl time.Duration) Option {
	return func(c *config) { c.lease = &leaseConfig{leaser: leaser, name: name, holder: holder, ttl: ttl} }
}
