package sync_test

import (
	"context"
	"errors"
	"log/slog"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
	"github.com/sfsync/sfsync/throttle"
)

// captured keeps the records logged through it, with their attributes
// flattened to dotted keys.
type captured struct {
	mu      stdsync.Mutex
	records []capturedRecord
}

type capturedRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

type captureHandler struct {
	c      *captured
	prefix string
	attrs  []slog.Attr
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := capturedRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				add(prefix+a.Key+".", g)
			}
			return
		}
		rec.attrs[prefix+a.Key] = a.Value.String()
	}
	for _, a := range h.attrs {
		add(h.prefix, a)
	}
	r.Attrs(func(a slog.Attr) bool { add(h.prefix, a); return true })
	h.c.mu.Lock()
	h.c.records = append(h.c.records, rec)
	h.c.mu.Unlock()
	return nil
}

func (h captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return h
}

func (h captureHandler) WithGroup(name string) slog.Handler {
	h.prefix += name + "."
	return h
}

func (c *captured) logger() *slog.Logger { return slog.New(captureHandler{c: c}) }

// with returns the records with message msg.
func (c *captured) with(msg string) []capturedRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []capturedRecord
	for _, r := range c.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// Every outcome is logged at Debug with its key, record, source,
// destination, status and reason; a dead letter at Warn; and a summary at
// Info at most once a minute, with counts by status, lag and API headroom.
// Outcomes are counted per minute.
func TestOutcomesAreLoggedAndCountedPerMinute(t *testing.T) {
	logs := &captured{}
	clock := newFakeClock(t0.Add(30 * time.Second))
	log := synctest.NewLog("erp/contacts")
	headroom := throttle.Headroom{Used: 120, Max: 5000, Reserve: 500, Concurrency: 4}
	var paused bool
	var mu stdsync.Mutex
	usage := func() throttle.Headroom {
		mu.Lock()
		defer mu.Unlock()
		h := headroom
		h.Paused = paused
		return h
	}
	e, err := sfsyncsync.New(log.Source(), &openSink{}, sfsyncsync.WithLogger(logs.logger()), sfsyncsync.WithStore(newState(t)),
		clock.option(), sfsyncsync.WithAPIUsage(org, usage))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	ctx := ctxFor(t)
	const (
		outcomeMsg = "sfsync: outcome"
		deadMsg    = "sfsync: change dead-lettered; fix the cause and requeue it"
		summaryMsg = "sfsync: summary"
	)
	// processed waits for n outcomes to be logged; the engine wakes its
	// waiters after a commit's logs are written.
	processed := func(n int) {
		t.Helper()
		if err := e.WaitUntil(ctx, func() bool { return len(logs.with(outcomeMsg))+len(logs.with(deadMsg)) >= n }); err != nil {
			t.Fatal(err)
		}
	}

	log.Append(erpChange("C1", t0, map[string]any{"Phone": "1"}))
	bad := erpChange("", t0, map[string]any{"Phone": "2"}) // no record id: dead-lettered
	bad.Key = "erp:no-id"
	log.Append(bad)
	processed(2)

	debug := logs.with(outcomeMsg)
	if len(debug) != 1 {
		t.Fatalf("debug outcome records: %+v", debug)
	}
	d := debug[0]
	if d.level != slog.LevelDebug || d.attrs["record"] != "Contact/C1" || d.attrs["source"] != string(erp) ||
		d.attrs["status"] != "applied" || d.attrs["key"] == "" || d.attrs["reason"] == "" {
		t.Errorf("outcome record: %+v", d)
	}
	if _, ok := d.attrs["destination"]; !ok {
		t.Errorf("outcome record without a destination attribute: %+v", d)
	}
	warn := logs.with(deadMsg)
	if len(warn) != 1 || warn[0].level != slog.LevelWarn || warn[0].attrs["status"] != "dead_lettered" || warn[0].attrs["reason"] == "" {
		t.Errorf("dead letter records: %+v", warn)
	}

	if st := e.Streams()[0]; st.DeadLetters != 1 || !st.LastDeadLetter.Equal(clock.Now()) || st.Phase != sfsyncsync.StreamStreaming {
		t.Errorf("stream after a dead letter: %+v", st)
	}

	// 59 s later: no summary yet (the count at the end tells).
	clock.Advance(59 * time.Second)
	log.Append(erpChange("C2", t0, map[string]any{"Phone": "3"}))
	processed(3)

	// A minute after the first outcome: the summary of the period.
	clock.Advance(time.Second)
	log.Append(erpChange("C3", t0.Add(time.Minute), map[string]any{"Phone": "4"}))
	processed(4)
	if err := e.WaitUntil(ctx, func() bool { return len(logs.with(summaryMsg)) > 0 }); err != nil {
		t.Fatal(err)
	}
	sums := logs.with(summaryMsg)
	if len(sums) != 1 {
		t.Fatalf("summaries: %+v", sums)
	}
	s := sums[0]
	want := map[string]string{
		"level": "INFO", "outcomes": "4", "by_status.applied": "3", "by_status.dead_lettered": "1",
		"api." + org + ".used": "120", "api." + org + ".max": "5000", "api." + org + ".remaining": "4880", "api." + org + ".paused": "false",
		"caught_up": "true", "period": "1m0s", "lag": "30s",
	}
	s.attrs["level"] = s.level.String()
	for k, v := range want {
		if s.attrs[k] != v {
			t.Errorf("summary %s = %q, want %q (all: %v)", k, s.attrs[k], v, s.attrs)
		}
	}

	// At most once a minute: the next outcome starts a new period, whose
	// summary is not due when the engine stops.
	log.Append(erpChange("C4", t0.Add(time.Minute), map[string]any{"Phone": "5"}))
	processed(5)
	r.stop(t)
	if n := len(logs.with(summaryMsg)); n != 1 {
		t.Errorf("%d summaries within a minute of the last", n)
	}

	// The engine's clock is at t0+1m30s: the minute before held two
	// outcomes (one applied, one dead-lettered), this one three.
	per := e.OutcomesPerMinute(3)
	if len(per) != 3 || !per[2].Minute.Equal(t0.Add(time.Minute)) {
		t.Fatalf("OutcomesPerMinute: %+v", per)
	}
	if len(per[0].Counts) != 0 || per[1].Counts[sfsync.StatusApplied] != 1 || per[1].Counts[sfsync.StatusDeadLettered] != 1 ||
		per[2].Counts[sfsync.StatusApplied] != 3 {
		t.Errorf("OutcomesPerMinute: %+v", per)
	}
	// An hour on, the ring has forgotten them.
	clock.Advance(time.Hour)
	for _, m := range e.OutcomesPerMinute(60) {
		if len(m.Counts) != 0 {
			t.Errorf("an hour later, minute %v still counts %v", m.Minute, m.Counts)
		}
	}

	// An org paused at its limit makes the engine unready.
	mu.Lock()
	paused = true
	mu.Unlock()
	if err := e.Health(); !errors.Is(err, sfsyncsync.ErrAPIPaused) {
		t.Errorf("Health with the org paused = %v", err)
	}
}
