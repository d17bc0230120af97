package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/reconcile"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/store/postgres"
	"github.com/sfsync/sfsync/store/sqlite"
	"github.com/sfsync/sfsync/sync/synctest"
)

// Options changes how a scenario runs without changing the scenario.
type Options struct {
	// Policy, when set, replaces the engine's conflict policy; the model
	// keeps the scenario's. It is how a test proves that the simulator
	// notices a broken policy.
	Policy sfsync.ConflictPolicy
	// Dedup, when set, wraps the dedup store the engine uses, for the same
	// purpose.
	Dedup func(sfsync.DedupStore) sfsync.DedupStore
	// Authority, when set, wraps the authority the engine's reconciler
	// reads (its backfills and re-reads by id), for the same purpose.
	Authority func(reconcile.PagedAuthority) reconcile.PagedAuthority
	// Postgres is a PostgreSQL DSN; scenarios drawn with the "postgres"
	// store use it, others may be moved to it. Empty: never PostgreSQL.
	Postgres string
	// ExternalPostgres makes the ERP package pgmirror's tables and outbox
	// in the Postgres database (a schema per run) instead of the
	// in-memory synctest.System; see the package docs for what changes.
	ExternalPostgres bool
	// Wait bounds each wait for quiescence (default 20 s).
	Wait time.Duration
	// MaxSteps, when positive, cuts every scenario's workload to that many
	// steps (the final settle, requeue and checks still run).
	MaxSteps int

	// handover, when set, is called by each source with every delivery
	// it hands over, after the simulator recorded it and before the
	// engine has it; judged is called with every verdict of quiet. Tests
	// widen the window between the two with them.
	handover func(context.Context, []sfsync.Change)
	judged   func(state string, ok bool)
}

// run is one scenario being executed.
type run struct {
	sc    *Scenario
	opt   Options
	ctx   context.Context
	clock *clock
	log   *slog.Logger

	org    *salesforcetest.Org
	tokens salesforce.TokenSource
	// sf is the engine's REST client (client id sfsync); user is a
	// Salesforce user's integration that creates and bulk-edits records;
	// pinger writes as the engine, to mark positions in the CDC streams.
	sf, user, pinger *salesforce.Client
	sentinel         map[string]string // object -> id of the sentinel record pinged for quiescence

	ext    external
	store  *watchedStore
	closer func()
	prog   *synctest.Progress

	toSF, toExt *writes
	keepalives  atomic.Int32
	schemaFails atomic.Int32
	// backfill counts the points a backfill passed, for crashes aimed at
	// them (Step.Backfill).
	backfill backfillPoints

	cur     *instance
	zombies []*instance // frozen instances a takeover left behind
	nInst   int
	holder  string
	stopped time.Time // virtual time of the last clean stop

	mu         stdsync.Mutex
	deliveries []delivery
	pingSeen   map[string]int
	sfIDs      map[int]string // record -> last Salesforce id seen
	history    []edit
	seq        [2]int
	extCounter int64
	ping       int
	trace      []string
	violations []Violation
	faults     map[FaultKind]int
	requeued   map[string]bool
	// aim, when set, is closed by the next read of local edits from the
	// ERP's outbox, which also kills the reading instance (a crash between
	// the read and its commit).
	aim atomic.Pointer[chan struct{}]
}

// delivery is one change an engine instance received.
type delivery struct {
	Key  string
	Pos  sfsync.Position
	Inst int
	Desc string
	// Source, Record, At and Fields say which system's change of which
	// record, at which version time and with which values, was delivered.
	Source sfsync.System
	Record string
	At     time.Time
	Fields map[string]any
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setup starts the fakes and the state store of a scenario.
func (r *run) setup(dir string) error {
	r.org = salesforcetest.NewOrg(salesforcetest.WithClock(r.clock.Now))
	r.tokens = salesforce.StaticToken(salesforce.Token{AccessToken: r.org.AccessToken(), InstanceURL: r.org.URL(),
		OrgID: r.org.OrgID(), UserID: r.org.IntegrationUserID()})
	client := func(id string) *salesforce.Client {
		return salesforce.New(r.tokens, salesforce.WithHTTPClient(r.org.Client()), salesforce.WithLogger(r.log), salesforce.WithClientID(id))
	}
	r.sf, r.user, r.pinger = client("sfsync"), client("simuser"), client("sfsync")
	if r.opt.ExternalPostgres {
		erp, err := newPgERP(r.ctx, r.opt.Postgres, fmt.Sprintf("simerp_%d_%d", os.Getpid(), r.sc.Seed), r.sc.Objects, r.log)
		if err != nil {
			return err
		}
		r.ext = erp
	} else {
		r.ext = newMemERP()
	}
	r.prog = synctest.NewProgress()
	r.toSF, r.toExt = newWrites(r.editCount), newWrites(r.editCount)
	var base baseStore
	switch r.sc.Store {
	case "memory":
		base = memory.New(memory.WithClock(r.clock.Now))
		r.closer = func() {}
	case "postgres":
		// A schema of its own per run, so that parallel seeds share a
		// server but no state.
		schema := fmt.Sprintf("sim_%d_%d", os.Getpid(), r.sc.Seed)
		st, err := postgres.Open(r.ctx, r.opt.Postgres, postgres.WithClock(r.clock.Now), postgres.WithSchema(schema), postgres.WithMaxConns(4))
		if err != nil {
			return fmt.Errorf("opening PostgreSQL state: %w", err)
		}
		base, r.closer = st, func() { st.Close(); dropSchema(r.opt.Postgres, schema) }
	default:
		st, err := sqlite.Open(r.ctx, filepath.Join(dir, "state.db"), sqlite.WithClock(r.clock.Now), sqlite.WithLogger(r.log))
		if err != nil {
			return fmt.Errorf("opening SQLite state: %w", err)
		}
		base, r.closer = st, func() { st.Close() }
	}
	r.store = newWatchedStore(base, r)
	// The sentinels are written as the engine, so their change events are
	// echoes the engine skips; pinging them marks how far each stream is.
	r.sentinel = map[string]string{}
	for _, o := range r.sc.Objects {
		res, err := r.pinger.CreateRecords(r.ctx, o.Name, []map[string]any{{o.Fields[0].SF: "sentinel"}}, false)
		if err != nil || len(res) != 1 || !res[0].Success {
			return fmt.Errorf("creating the %s sentinel: %v %v", o.Name, err, res)
		}
		r.sentinel[o.Name] = res[0].ID
	}
	return nil
}

func (r *run) teardown() {
	if r.toSF != nil {
		r.release()
	}
	if r.cur != nil {
		r.crash(r.cur)
	}
	for _, z := range r.zombies {
		r.crash(z)
	}
	if r.closer != nil {
		r.closer()
	}
	if r.ext != nil {
		r.ext.close()
	}
	if r.org != nil {
		r.org.Close()
	}
}

// tempDir makes a directory for a scenario's SQLite file.
func tempDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "sfsync-sim-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func (r *run) tracef(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trace = append(r.trace, fmt.Sprintf("[t+%s] ", r.clock.Now().Sub(epoch))+fmt.Sprintf(format, args...))
}

func (r *run) count(k FaultKind) {
	r.mu.Lock()
	r.faults[k]++
	r.mu.Unlock()
}

// delivered records the changes an engine instance received.
func (r *run) delivered(cs []sfsync.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst := 0
	if r.cur != nil {
		inst = r.cur.n
	}
	for _, c := range cs {
		if c.Op == sfsync.OpAdvance || c.Key == "" {
			continue
		}
		if c.Source.IsSalesforce() {
			if id, ok := c.Fields[linkField].(string); ok && id != "" {
				for rec, rs := range r.sc.Records {
					if rs.ExtID == id {
						r.sfIDs[rec] = c.RecordID
					}
				}
			}
			if obj := r.sentinelObject(c.RecordID); obj != "" {
				for _, v := range c.Fields {
					var n int
					if s, ok := v.(string); ok {
						if _, err := fmt.Sscanf(s, "ping-%d", &n); err == nil && n > r.pingSeen[obj] {
							r.pingSeen[obj] = n
						}
					}
				}
				continue
			}
		}
		r.deliveries = append(r.deliveries, delivery{Key: c.Key, Pos: c.Position, Inst: inst, Desc: c.String(),
			Source: c.Source, Record: c.RecordID, At: c.Version.Time, Fields: maps.Clone(c.Fields)})
	}
}

func (r *run) sentinelObject(id string) string {
	for obj, sid := range r.sentinel {
		if sid == id {
			return obj
		}
	}
	return ""
}

// deliveriesUpTo returns the deliveries at or before cp in its stream.
func (r *run) deliveriesUpTo(cp sfsync.Position) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.deliveries {
		if d.Pos.Stream == cp.Stream && string(d.Pos.Token) <= string(cp.Token) {
			out = append(out, d)
		}
	}
	return out
}

func (r *run) deliveredKeys() map[string]delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]delivery{}
	for _, d := range r.deliveries {
		if _, ok := out[d.Key]; !ok {
			out[d.Key] = d
		}
	}
	return out
}

// sourceStream reports whether stream is one the engine's sources read.
func (r *run) sourceStream(stream string) bool {
	if stream == r.ext.stream() {
		return true
	}
	for _, o := range r.sc.Objects {
		if stream == salesforcetest.Topic(o.Name) {
			return true
		}
	}
	return false
}

// dropSchema removes a run's PostgreSQL schema.
func dropSchema(dsn, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}
