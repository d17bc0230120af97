package pgmirror

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/sync"
)

// LearnIDs wraps the event source of Salesforce changes (a Pub/Sub
// subscription) so that rows linked by their link column get their
// Salesforce id written into sfid. A row created here is created in
// Salesforce by an upsert on its link; the change event of that create
// comes back with the new Salesforce id and the link, and is the engine's
// own echo, which never reaches the sink: this is where the id is learned.
// The wrapper keeps the source's Resume, Stream, Close, Err, System and
// Pin (sync.Pinner), which an engine with backfills needs to pin the
// stream before it queries Salesforce.
func (m *Mirror) LearnIDs(src sfsync.EventSource) sfsync.EventSource {
	l := &learner{EventSource: src, m: m}
	if p, ok := src.(sync.Pinner); ok {
		return &pinningLearner{learner: l, p: p}
	}
	return l
}

// pinningLearner is a learner of a source that pins its stream: it must
// stay one, or the engine would backfill without pinning.
type pinningLearner struct {
	*learner
	p sync.Pinner
}

func (l *pinningLearner) Pin(ctx context.Context) (sfsync.Position, error) { return l.p.Pin(ctx) }

// GapFreeSince forwards the pinning source's (sync.GapFree).
func (l *pinningLearner) GapFreeSince() (time.Time, bool) {
	if g, ok := l.p.(sync.GapFree); ok {
		return g.GapFreeSince()
	}
	return time.Time{}, false
}

type learner struct {
	sfsync.EventSource
	m *Mirror
}

type learnedID struct {
	t          *table
	link, sfid string
}

func (l *learner) Receive(ctx context.Context) ([]sfsync.Change, error) {
	changes, err := l.EventSource.Receive(ctx)
	if err != nil {
		return changes, err
	}
	var ids []learnedID
	for i := range changes {
		c := &changes[i]
		if !c.Source.IsSalesforce() || !salesforce.IsID(c.RecordID) {
			continue
		}
		for _, t := range l.m.tables {
			if t.object != c.Object || t.linkSF == "" {
				continue
			}
			if link, _ := c.Fields[t.linkSF].(string); link != "" {
				ids = append(ids, learnedID{t, link, c.RecordID})
			}
		}
	}
	if len(ids) > 0 {
		if err := l.m.learn(ctx, ids); err != nil {
			// The change itself is not lost: the sink still writes it, and
			// the id is learned again from the record's next create or
			// link change.
			l.m.log.Warn("pgmirror: recording Salesforce ids of linked rows failed", "err", err)
		}
	}
	return changes, nil
}

// learn records links and writes Salesforce ids into the rows that hold
// the links and have none yet, as the mirror's own writes.
func (m *Mirror) learn(ctx context.Context, ids []learnedID) error {
	s := ident(m.cfg.schema)
	return m.db.Tx(ctx, "record Salesforce ids", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('sfsync.origin', $1, true)`, m.cfg.clientID)
		for _, id := range ids {
			q := s + "." + ident(id.t.name)
			b.Queue(`INSERT INTO `+s+`.sfsync_links (tbl, link, sfid) VALUES ($1, $2, $3)
				ON CONFLICT (tbl, link) DO UPDATE SET sfid = EXCLUDED.sfid`, id.t.name, id.link, id.sfid)
			b.Queue(`UPDATE `+q+` SET sfid = $2 WHERE `+ident(id.t.link)+` = $1 AND sfid IS NULL
				AND NOT EXISTS (SELECT 1 FROM `+q+` WHERE sfid = $2)`, id.link, id.sfid)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

func (l *learner) Resume(ctx context.Context, cps sfsync.CheckpointStore) error {
	if r, ok := l.EventSource.(sfsync.Resumer); ok {
		return r.Resume(ctx, cps)
	}
	return nil
}

func (l *learner) Stream() string {
	if s, ok := l.EventSource.(interface{ Stream() string }); ok {
		return s.Stream()
	}
	return ""
}

func (l *learner) Close() error {
	if c, ok := l.EventSource.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

func (l *learner) Err() error {
	if e, ok := l.EventSource.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// Track wraps the sink local changes are written to (the Salesforce sink)
// so that a change it refuses permanently shows where operators look: its
// outbox row becomes failed, with the error's code and message, and the
// mirrored row's sfsync_last_error says why. Setting the outbox row's state
// back to 'new' retries it. The wrapper keeps the sink's System, Read and
// Err.
func (m *Mirror) Track(sink sfsync.Sink) sfsync.Sink {
	t := &tracker{Sink: sink, m: m}
	if r, ok := sink.(sfsync.StateReader); ok {
		return &readingTracker{tracker: t, r: r}
	}
	return t
}

// readingTracker is a tracker of a sink that reads state, which the engine
// must keep seeing.
type readingTracker struct {
	*tracker
	r sfsync.StateReader
}

func (t *readingTracker) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	return t.r.Read(ctx, object, ids)
}

type tracker struct {
	sfsync.Sink
	m *Mirror
}

func (t *tracker) Write(ctx context.Context, changes []sfsync.Change) error {
	err := t.Sink.Write(ctx, changes)
	if err == nil {
		return nil
	}
	prefix := "pgmirror:" + t.m.cfg.schema + ":"
	type failure struct {
		id         int64
		code, text string
	}
	var fs []failure
	for i, c := range changes {
		e := sfsync.ErrorAt(err, i)
		if e == nil || !sfsync.IsPermanent(e) || !strings.HasPrefix(c.Key, prefix) {
			continue
		}
		id, perr := strconv.ParseInt(strings.TrimPrefix(c.Key, prefix), 10, 64)
		if perr != nil {
			continue
		}
		f := failure{id: id, text: e.Error()}
		var se *sfsync.Error
		if errors.As(e, &se) {
			f.code = se.Code
		}
		fs = append(fs, f)
	}
	if len(fs) > 0 {
		s := ident(t.m.cfg.schema)
		ctx := context.WithoutCancel(ctx) // the failure is known; record it
		terr := t.m.db.Tx(ctx, "mark failed outbox rows", func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`SELECT set_config('sfsync.origin', $1, true)`, t.m.cfg.clientID)
			for _, f := range fs {
				b.Queue(`UPDATE `+s+`.sfsync_outbox SET state = 'failed', error_code = NULLIF($2, ''), error_message = $3 WHERE id = $1`, f.id, f.code, f.text)
				for _, tb := range t.m.tables {
					b.Queue(`UPDATE `+s+`.`+ident(tb.name)+` r SET sfsync_last_error = $2 FROM `+s+`.sfsync_outbox o
						WHERE o.id = $1 AND o.tbl = $3 AND r.id = o.row_id`, f.id, f.text, tb.name)
				}
			}
			return tx.SendBatch(ctx, b).Close()
		})
		if terr != nil {
			t.m.log.Warn("pgmirror: marking failed outbox rows failed", "err", terr)
		}
	}
	return err
}

func (t *tracker) System() sfsync.System {
	if d, ok := t.Sink.(interface{ System() sfsync.System }); ok {
		return d.System()
	}
	return sfsync.Salesforce
}

func (t *tracker) Err() error {
	if e, ok := t.Sink.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// System forwards the wrapped source's system (sync.SystemSource), or ""
// when it does not say.
func (l *learner) System() sfsync.System {
	if s, ok := l.EventSource.(interface{ System() sfsync.System }); ok {
		return s.System()
	}
	return ""
}
