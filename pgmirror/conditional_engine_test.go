package pgmirror

import (
	"context"
	"slices"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// hookedMirror is the mirror as the engine's sink, with an edit that runs
// once, right after the engine's next read of one record: a local
// transaction that commits between the engine's read and its write. It
// counts the reads of that record and the conflicts WriteIf reports.
type hookedMirror struct {
	*Mirror
	mu        stdsync.Mutex
	id        string
	edit      func()
	reads     int
	conflicts int
}

func (h *hookedMirror) arm(id string, edit func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.id, h.edit, h.reads = id, edit, 0
}

func (h *hookedMirror) counts() (reads, conflicts int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reads, h.conflicts
}

func (h *hookedMirror) Read(ctx context.Context, entity string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := h.Mirror.Read(ctx, entity, ids)
	h.mu.Lock()
	var edit func()
	if h.id != "" && slices.Contains(ids, h.id) {
		h.reads++
		edit, h.edit = h.edit, nil
	}
	h.mu.Unlock()
	if edit != nil {
		edit()
	}
	return recs, err
}

func (h *hookedMirror) WriteIf(ctx context.Context, changes []sfsync.Change, read []sfsync.Record) error {
	err := h.Mirror.WriteIf(ctx, changes, read)
	h.mu.Lock()
	for i := range changes {
		if sfsync.KindOf(sfsync.ErrorAt(err, i)) == sfsync.KindConflict {
			h.conflicts++
		}
	}
	h.mu.Unlock()
	return err
}

// TestEngineKeepsALocalEditMadeBetweenReadAndWrite: a local UPDATE that
// commits after the engine read the row for a Salesforce change, and
// before it writes the change, is not overwritten. The write fails as a
// conflict, the engine reads the row again and decides again (last write
// wins: the local edit is newer), and the local edit reaches Salesforce:
// both systems end with the local value.
func TestEngineKeepsALocalEditMadeBetweenReadAndWrite(t *testing.T) {
	m := openMirror(t, WithPruneInterval(0))
	q, _ := m.Table("person")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const id = "003000000000001AAA"

	feed := synctest.NewLog("/data/ContactChangeEvent")
	sf := synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(feed))
	local := m.Source()
	defer local.Close()
	prog := synctest.NewProgress()
	state := memory.New()
	sink := &hookedMirror{Mirror: m}
	e, err := sync.New(prog.Watch(feed.Source()), nil, sync.WithSource(prog.Watch(local)),
		sync.WithLogger(quiet), sync.WithStore(state), sync.WithClientID("sfsync"), sync.WithMapping(personMapping()),
		sync.WithPolicy(conflict.LastWriteWins()),
		sync.WithRoute(sync.Route{From: sfsync.Salesforce, Sink: sink}),
		sync.WithRoute(sync.Route{From: m.System(), Sink: sf}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Error(err)
		}
	}()
	outcomes := func() []sfsync.Outcome {
		all, err := state.Outcomes(ctx, sfsync.OutcomeQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	decided := func(key string) bool {
		return slices.ContainsFunc(outcomes(), func(o sfsync.Outcome) bool { return o.Key == key })
	}

	// Salesforce's clock is an hour behind the database's, so that every
	// local edit is newer than every Salesforce change.
	base := time.Now().Add(-time.Hour)
	created := sf.Edit("Contact", id, map[string]any{"LastName": "Lovelace", "Phone": "111"}, sfsync.Version{Time: base, Commit: 1})
	if err := prog.Until(ctx, "the contact mirrored", func() bool { return decided(created.Key) }); err != nil {
		t.Fatal(err)
	}
	wantName(t, m, id, "Lovelace")

	local2 := connect(t)
	sink.arm(id, func() {
		mustExec(t, local2, `UPDATE `+q+` SET name = 'Lovelace (local)' WHERE sfid = $1`, id)
	})
	updated := sf.Edit("Contact", id, map[string]any{"LastName": "Lovelace (Salesforce)"}, sfsync.Version{Time: base.Add(time.Minute), Commit: 2})
	err = prog.Until(ctx, "the Salesforce change decided and the local edit written to Salesforce", func() bool {
		r, _ := sf.Record("Contact", id)
		return decided(updated.Key) && r.Fields["LastName"] == "Lovelace (local)"
	})
	if err != nil {
		t.Fatal(err)
	}
	// The write to Salesforce comes back as its echo, decided too.
	err = prog.Until(ctx, "every Salesforce change decided", func() bool {
		for _, c := range feed.Changes() {
			if !decided(c.Key) {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}

	wantName(t, m, id, "Lovelace (local)")
	if r, _ := sf.Record("Contact", id); r.Fields["LastName"] != "Lovelace (local)" {
		t.Errorf("Salesforce LastName = %#v, want the local edit", r.Fields["LastName"])
	}
	reads, conflicts := sink.counts()
	if conflicts == 0 || reads < 2 {
		t.Errorf("%d conflicts, %d reads of the row; want the write refused and the row read again", conflicts, reads)
	}
	if t.Failed() {
		for _, o := range outcomes() {
			t.Logf("%s %s %s → %s %s: %s", o.Source, o.Op, o.RecordID, o.Destination, o.Status, o.Reason)
		}
	}
}
