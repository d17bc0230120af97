package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// The first change of a field after our write uses the write's fingerprint
// up, echo or not. A change that matches only some fingerprints of our
// write is not an echo; a change after it that repeats our values is no
// echo either (it may be a person setting them back), and is decided on
// its merits: Salesforce already holds those values, so nothing is written.
func TestFirstChangeAfterOurWriteConsumesItsFingerprints(t *testing.T) {
	sfLog, erpLog := synctest.NewLog("/data/ContactChangeEvent"), synctest.NewLog("erp/contacts")
	sf := synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(sfLog), synctest.WithTenant(org))
	ext := synctest.NewSystem(erp) // its outbox is written by hand below
	store := newState(t)
	sfSrc, erpSrc := sfLog.Source(), erpLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithSource(erpSrc), sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithStore(store),
		sfsyncsync.WithPolicy(conflict.LastWriteWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: sf}), fastRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sf.Edit("Contact", "C-1", map[string]any{"Email": "a@example.com", "Phone": "111"}, at(0))
	if err := sfSrc.WaitCommitted(ctx, sfLog.Len()); err != nil {
		t.Fatal(err)
	}
	// The ERP reports the email we wrote with a phone of its own: not an echo.
	erpLog.Append(sfsync.Change{Source: erp, Object: "Contact", RecordID: "C-1", Op: sfsync.OpUpdate, Key: "erp:1",
		Fields: map[string]any{"Email": "a@example.com", "Phone": "999"}, Version: at(time.Minute)})
	// Then the same values as our write.
	erpLog.Append(sfsync.Change{Source: erp, Object: "Contact", RecordID: "C-1", Op: sfsync.OpUpdate, Key: "erp:2",
		Fields: map[string]any{"Email": "a@example.com", "Phone": "111"}, Version: at(2 * time.Minute)})
	if err := erpSrc.WaitCommitted(ctx, erpLog.Len()); err != nil {
		t.Fatal(err)
	}
	status := map[string]sfsync.Status{}
	for _, o := range outcomes(t, store, sfsync.OutcomeQuery{}) {
		status[o.Key] = o.Status
	}
	if status["erp:1"] == sfsync.StatusEcho {
		t.Errorf("a change with a phone of its own was taken for an echo")
	}
	if status["erp:2"] == sfsync.StatusEcho {
		t.Errorf("a change after the first one was taken for the echo of a write already used up")
	}
	if status["erp:2"] == "" {
		t.Errorf("erp:2 has no outcome")
	}
}
