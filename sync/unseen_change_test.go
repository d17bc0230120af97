package sync_test

import (
	"context"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// A change decided against a target whose record changed in an event the
// engine has not seen waits for that event a while, then decides without
// it. The version map still knows when each field's data there was made:
// the unseen change may have touched others only. Taking the record's
// version for every field instead made an edit lose to data older than
// itself, for good. (Had the unseen change set the field, its event,
// arriving before our write's echo, shows the crossing, and it is decided
// and written back in its turn.)
func TestUnseenTargetChangeDoesNotAgeEveryField(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	r, settled := b.startBoth(t, conflict.LastWriteWins())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N4", "Phone": "p4"}, at(4*time.Second))
	settled()

	// Salesforce changes the phone at 8s; its event is late. The ERP
	// renames the contact at 7s.
	late := b.sf.EditSilently("Contact", "003A", map[string]any{"Phone": "p8"}, at(8*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E7"}, at(7*time.Second))
	settled()
	b.sfLog.Append(late)
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "LastName", "E7", "the ERP's rename (7s) is newer than Salesforce's name (4s)")
	b.bothHold(t, "Contact", "003A", "Phone", "p8", "Salesforce's phone")
}

// gatedSource holds back what its source delivers while its gate is
// closed, in order: a stream that stalls.
type gatedSource struct {
	*synctest.Source
	mu   stdsync.Mutex
	open chan struct{}
}

func newGatedSource(s *synctest.Source) *gatedSource {
	g := &gatedSource{Source: s, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	cs, err := g.Source.Receive(ctx)
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return cs, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gatedSource) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gatedSource) reopen() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

// The other case: the unseen change did set the field. Our write, decided
// without it, overwrote it there; its event comes before our write's echo
// in Salesforce's stream, shows the crossing, and, newer than the ERP's
// edit, wins and is written back.
func TestUnseenTargetChangeOfTheFieldIsWrittenBack(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	sfLogSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	sfSrc := newGatedSource(sfLogSrc)
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(conflict.LastWriteWins()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settled := func() {
		t.Helper()
		settle(t, b.sfLog, sfLogSrc, b.extLog, extSrc)
	}
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "N4", "Phone": "p4"}, at(4*time.Second))
	settled()

	// Salesforce's stream stalls; a user renames the contact there at 8s,
	// and the ERP renames it at 7s.
	sfSrc.close()
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "S8"}, at(8*time.Second))
	b.ext.Edit("Contact", "003A", map[string]any{"LastName": "E7"}, at(7*time.Second))
	settle(t, b.extLog, extSrc)
	sfSrc.reopen()
	settled()
	r.stop(t)
	logOutcomes(t, b)
	b.bothHold(t, "Contact", "003A", "LastName", "S8", "Salesforce's rename (8s) is newer than the ERP's (7s)")
}
