package pgmirror

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
)

// SourceOption configures a [Source].
type SourceOption func(*Source)

// DefaultConsumer is the consumer name of a source given none. Its
// progress is what the outbox's state column shows.
const DefaultConsumer = "engine"

// WithConsumer names the source's consumer (default [DefaultConsumer]).
// Consumers with different names read the outbox independently, each with
// its own checkpoint stream; only the default consumer moves rows to
// pending and done. Rows are pruned only once every consumer named in
// sfsync_consumers has read them: delete a consumer's row there when it is
// gone for good.
func WithConsumer(name string) SourceOption { return func(s *Source) { s.name = name } }

// Source captures local edits of the mirrored tables, recorded by the
// capture trigger in the outbox, as an [sfsync.EventSource] and
// [sfsync.Resumer]. See the package documentation for the order it
// delivers them in and why none is ever skipped.
type Source struct {
	m      *Mirror
	name   string
	stream string

	mu        stdsync.Mutex
	ready     bool // the start position is known
	cur       cursor
	open      bool // cur names a window still being read
	committed cursor

	wake       chan struct{}
	closed     chan struct{}
	closeOnce  stdsync.Once
	listening  stdsync.Once
	stopListen context.CancelFunc
	listenDone chan struct{}
}

// cursor is a source position: the window of transaction ids [lo, hi)
// being read and the last outbox id delivered from it.
type cursor struct {
	lo, hi uint64
	last   int64
}

func (c cursor) after(d cursor) bool { return c.hi > d.hi || (c.hi == d.hi && c.last > d.last) }

func (c cursor) token() []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, c.lo)
	binary.BigEndian.PutUint64(b[8:], c.hi)
	binary.BigEndian.PutUint64(b[16:], uint64(c.last))
	return b
}

func parseToken(b []byte) (cursor, error) {
	if len(b) != 24 {
		return cursor{}, fmt.Errorf("pgmirror: position token of %d bytes is not one of ours: %w", len(b), sfsync.ErrInvalid)
	}
	return cursor{lo: binary.BigEndian.Uint64(b), hi: binary.BigEndian.Uint64(b[8:]), last: int64(binary.BigEndian.Uint64(b[16:]))}, nil
}

// Source returns a new reader of the outbox. Close it when done.
func (m *Mirror) Source(opts ...SourceOption) *Source {
	s := &Source{m: m, name: DefaultConsumer, wake: make(chan struct{}, 1), closed: make(chan struct{}), listenDone: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.stream = "pgmirror/" + m.cfg.schema + "/" + s.name
	return s
}

// Stream returns the checkpoint stream of the source's consumer.
func (s *Source) Stream() string { return s.stream }

func (s *Source) primary() bool { return s.name == DefaultConsumer }

// Resume continues after the engine's checkpoint of the source's stream;
// without one, after the consumer's position recorded in the database, or
// from the oldest outbox row.
func (s *Source) Resume(ctx context.Context, cps sfsync.CheckpointStore) error {
	pos, err := cps.LoadCheckpoint(ctx, s.stream)
	if errors.Is(err, sfsync.ErrNotFound) {
		return s.resumeOwn(ctx)
	}
	if err != nil {
		return fmt.Errorf("pgmirror: loading the checkpoint of %s: %w", s.stream, err)
	}
	c, err := parseToken(pos.Token)
	if err != nil {
		return err
	}
	// The checkpoint is durable, but the source may never have been told:
	// an engine that stored it and stopped before its Commit leaves the
	// rows up to it pending, and no later commit need ever pass them.
	// Record it now; should that fail, the next commit does (it covers
	// every earlier row).
	if err := s.record(ctx, c); err != nil {
		s.m.log.Warn("pgmirror: marking the outbox rows up to the engine's checkpoint done failed; the next commit marks them", "stream", s.stream, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setStart(c)
	return nil
}

func (s *Source) setStart(c cursor) {
	s.cur, s.committed, s.ready = c, c, true
	s.open = c.hi > c.lo
}

func (s *Source) resumeOwn(ctx context.Context) error {
	var c cursor
	var lo, hi string
	err := s.m.db.Conn(ctx, "load the consumer position", func(conn *pgx.Conn) error {
		err := conn.QueryRow(ctx, `SELECT lo::text, hi::text, last_id FROM `+ident(s.m.cfg.schema)+`.sfsync_consumers WHERE name = $1`, s.name).Scan(&lo, &hi, &c.last)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if lo != "" {
		if c.lo, err = strconv.ParseUint(lo, 10, 64); err == nil {
			c.hi, err = strconv.ParseUint(hi, 10, 64)
		}
		if err != nil {
			return fmt.Errorf("pgmirror: consumer %s has an unreadable position: %w", s.name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setStart(c)
	return nil
}

// Close stops the source: a blocked Receive returns an error matching
// [sfsync.ErrClosed].
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		// Waits for a listener starting in Receive, or keeps one from
		// starting.
		s.listening.Do(func() {})
		if s.stopListen != nil {
			s.stopListen()
			<-s.listenDone
		}
	})
	return nil
}

func (s *Source) errClosed() error {
	return fmt.Errorf("pgmirror: source %s is closed: %w", s.stream, sfsync.ErrClosed)
}

// Receive returns the next local changes, blocking until there are some,
// ctx ends or the source is closed.
func (s *Source) Receive(ctx context.Context) ([]sfsync.Change, error) {
	select {
	case <-s.closed:
		return nil, s.errClosed()
	default:
	}
	s.listening.Do(s.startListening)
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if !ready {
		if err := s.resumeOwn(ctx); err != nil {
			return nil, err
		}
	}
	poll := time.NewTimer(s.m.cfg.poll)
	defer poll.Stop()
	// After a notification that found nothing readable (a transaction
	// still running holds the horizon), look again soon, backing off to
	// the poll interval: such transactions are usually short.
	var soon time.Duration
	for {
		changes, err := s.next(ctx)
		if err != nil || len(changes) > 0 {
			return changes, err
		}
		wait := s.m.cfg.poll
		if soon > 0 {
			wait, soon = min(soon, wait), 2*soon
		}
		poll.Reset(wait)
		select {
		case <-s.closed:
			return nil, s.errClosed()
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.wake:
			soon = 2 * time.Millisecond
		case <-poll.C:
		}
	}
}

// next reads the next page of the current window, or opens the next
// window; it returns nothing when nothing is ready.
func (s *Source) next(ctx context.Context) ([]sfsync.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 3 {
		if s.open {
			rows, err := s.page(ctx, s.cur)
			if err != nil {
				return nil, err
			}
			if len(rows) > 0 {
				s.cur.last = rows[len(rows)-1].id
				return s.deliver(ctx, rows)
			}
			s.open = false
			s.cur = cursor{lo: s.cur.hi, hi: s.cur.hi}
		}
		hi, err := s.horizon(ctx, s.cur.lo)
		if err != nil {
			return nil, err
		}
		if hi <= s.cur.lo {
			return nil, nil
		}
		s.cur = cursor{lo: s.cur.lo, hi: hi}
		s.open = true
	}
	return nil, nil
}

// horizon returns the upper end of the next window: the oldest transaction
// still running, lowered below any transaction whose rows would otherwise
// overtake an earlier change of the same row (see the package docs).
func (s *Source) horizon(ctx context.Context, lo uint64) (uint64, error) {
	var hi uint64
	sch := ident(s.m.cfg.schema)
	err := s.m.db.Conn(ctx, "read the transaction horizon", func(c *pgx.Conn) error {
		var text string
		if err := c.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&text); err != nil {
			return err
		}
		var err error
		if hi, err = strconv.ParseUint(text, 10, 64); err != nil {
			return err
		}
		for hi > lo {
			var lower *string
			err := c.QueryRow(ctx, `SELECT min(r.xid)::text FROM `+sch+`.sfsync_outbox r
				JOIN `+sch+`.sfsync_outbox p ON p.tbl = r.tbl AND p.row_id = r.row_id AND p.id < r.id
				WHERE r.xid >= $1::text::xid8 AND r.xid < $2::text::xid8 AND p.xid >= $2::text::xid8`,
				strconv.FormatUint(lo, 10), strconv.FormatUint(hi, 10)).Scan(&lower)
			if err != nil {
				return err
			}
			if lower == nil {
				break
			}
			if hi, err = strconv.ParseUint(*lower, 10, 64); err != nil {
				return err
			}
		}
		return nil
	})
	return hi, err
}

// outboxRow is one recorded local change.
type outboxRow struct {
	id, version int64
	xid         string
	tbl, op     string
	record, by  string
	newv, oldv  []byte
	at          time.Time
}

// page reads the next rows of window c after c.last, in id order, and
// marks them pending for the default consumer.
func (s *Source) page(ctx context.Context, c cursor) ([]outboxRow, error) {
	sch := ident(s.m.cfg.schema)
	q := `SELECT id, xid::text, tbl, COALESCE(record_id, ''), op, new, old, at, by_user, COALESCE(retry_of, id)
		FROM ` + sch + `.sfsync_outbox
		WHERE xid >= $1::text::xid8 AND xid < $2::text::xid8 AND id > $3 AND state NOT IN ('ignored', 'retried')
		ORDER BY id LIMIT $4`
	if s.primary() {
		q = `WITH page AS (` + q + `), mark AS (UPDATE ` + sch + `.sfsync_outbox o SET state = 'pending'
			FROM page WHERE o.id = page.id AND o.state = 'new') SELECT * FROM page ORDER BY id`
	}
	var out []outboxRow
	err := s.m.db.Conn(ctx, "read the outbox", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, q, strconv.FormatUint(c.lo, 10), strconv.FormatUint(c.hi, 10), c.last, s.m.cfg.maxBatch)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r outboxRow
			if err := rows.Scan(&r.id, &r.xid, &r.tbl, &r.record, &r.op, &r.newv, &r.oldv, &r.at, &r.by, &r.version); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// deliver turns a page into one delivery at the position of its last row.
func (s *Source) deliver(ctx context.Context, rows []outboxRow) ([]sfsync.Change, error) {
	pos := sfsync.Position{Stream: s.stream, Token: s.cur.token()}
	var out []sfsync.Change
	for _, r := range rows {
		c, ok, err := s.change(r)
		if err != nil {
			return nil, err
		}
		if ok {
			c.Position = pos
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		// Rows of tables no longer mirrored: move the checkpoint past them.
		out = append(out, sfsync.Change{Source: s.m.System(), Op: sfsync.OpAdvance, Position: pos})
	}
	return out, ctx.Err()
}

// maxOutboxDepth bounds the JSON nesting of an outbox row's values: the
// row is one object of column values, and only jsonb columns nest, as
// deeply as local writers make them. PostgreSQL takes far deeper jsonb.
const maxOutboxDepth = 128

// change describes one outbox row as a change of the mirrored entity, in
// the table's column names; false for a table no longer mirrored.
func (s *Source) change(r outboxRow) (sfsync.Change, bool, error) {
	t, ok := s.m.byName[r.tbl]
	if !ok {
		return sfsync.Change{}, false, nil
	}
	c := sfsync.Change{
		Source: s.m.System(), Object: t.entity, RecordID: r.record, Op: sfsync.Op(r.op),
		Key:     "pgmirror:" + s.m.cfg.schema + ":" + strconv.FormatInt(r.id, 10),
		Version: sfsync.Version{Time: r.at.UTC(), Counter: r.version},
		Origin:  sfsync.Origin{User: r.by, Transaction: r.xid},
	}
	for _, v := range [][]byte{r.newv, r.oldv} {
		if err := bounded.JSONDepth(v, maxOutboxDepth); err != nil {
			// Decoding it would cost more than its size; it is handed
			// over whole, to be dead-lettered in its place.
			c.Op = sfsync.OpUndecodable
			c.Raw = &sfsync.RawEvent{Payload: slices.Clone(r.newv), Reason: fmt.Sprintf("pgmirror: outbox row %d: %v", r.id, err)}
			return c, true, nil
		}
	}
	var newv, oldv map[string]json.RawMessage
	if len(r.newv) > 0 {
		if err := json.Unmarshal(r.newv, &newv); err != nil {
			return c, false, fmt.Errorf("pgmirror: outbox row %d: %w", r.id, err)
		}
	}
	if len(r.oldv) > 0 {
		if err := json.Unmarshal(r.oldv, &oldv); err != nil {
			return c, false, fmt.Errorf("pgmirror: outbox row %d: %w", r.id, err)
		}
	}
	if c.Op == sfsync.OpDelete {
		return c, true, nil
	}
	c.Fields = map[string]any{}
	for _, col := range t.columns {
		nv, ov := newv[col.name], oldv[col.name]
		isNull := len(nv) == 0 || bytes.Equal(nv, []byte("null"))
		if c.Op == sfsync.OpUpdate {
			if bytes.Equal(nv, ov) {
				continue
			}
		} else if isNull {
			continue // a create carries the values it sets
		}
		if isNull {
			c.Nulled = append(c.Nulled, col.name)
			continue
		}
		v, err := fromJSON(nv, col.typ)
		if err != nil {
			return c, false, fmt.Errorf("pgmirror: outbox row %d, column %s: %w", r.id, col.name, err)
		}
		c.Fields[col.name] = v
	}
	return c, true, nil
}

// Commit records that every change up to pos has an outcome: the
// consumer's position in sfsync_consumers and, for the default consumer,
// its rows done. An older position than one committed changes nothing.
func (s *Source) Commit(ctx context.Context, pos sfsync.Position) error {
	c, err := parseToken(pos.Token)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if !c.after(s.committed) {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.record(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	if c.after(s.committed) {
		s.committed = c
	}
	s.mu.Unlock()
	return nil
}

// record stores position c as the consumer's in sfsync_consumers (unless
// a later one is there) and, for the default consumer, marks the rows up
// to it done.
func (s *Source) record(ctx context.Context, c cursor) error {
	sch := ident(s.m.cfg.schema)
	lo, hi := strconv.FormatUint(c.lo, 10), strconv.FormatUint(c.hi, 10)
	return s.m.db.Tx(ctx, "commit the outbox position", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO `+sch+`.sfsync_consumers AS c (name, lo, hi, last_id, at)
			VALUES ($1, $2::text::xid8, $3::text::xid8, $4, now())
			ON CONFLICT (name) DO UPDATE SET lo = EXCLUDED.lo, hi = EXCLUDED.hi, last_id = EXCLUDED.last_id, at = EXCLUDED.at
			WHERE (c.hi, c.last_id) < (EXCLUDED.hi, EXCLUDED.last_id)`, s.name, lo, hi, c.last)
		if err != nil || !s.primary() {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE `+sch+`.sfsync_outbox SET state = 'done', done_at = now()
			WHERE state IN ('new', 'pending') AND xid < $2::text::xid8 AND (xid < $1::text::xid8 OR id <= $3)`, lo, hi, c.last)
		return err
	})
}

// startListening starts the LISTEN connection that wakes Receive when a
// local change commits; polling covers the time it is down.
func (s *Source) startListening() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopListen = cancel
	go func() {
		defer close(s.listenDone)
		wait := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := s.listen(ctx)
			if ctx.Err() != nil {
				return
			}
			s.m.log.Debug("pgmirror: LISTEN connection lost; polling until it is back", "err", err, "wait", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 30*time.Second)
		}
	}()
}

func (s *Source) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.m.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+ident(channel(s.m.cfg.schema))); err != nil {
		return err
	}
	s.poke() // changes committed while not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.poke()
	}
}

func (s *Source) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// System says whose changes the source delivers: the database's, as the
// engine's external system (sync.SystemSource).
func (s *Source) System() sfsync.System { return s.m.System() }
