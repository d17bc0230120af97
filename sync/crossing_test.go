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

// editAfterRead is a target that, once, lets one of its users edit the
// record right after the engine read it to decide a write: the write then
// lands on top of an edit it was not decided against.
type editAfterRead struct {
	*target // an alias, so that the target's System method is promoted
	once    stdsync.Once
	edit    func()
}

type target = synctest.System

func (s *editAfterRead) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := s.target.Read(ctx, object, ids)
	s.once.Do(s.edit)
	return recs, err
}

// A Salesforce user edits a field just after the engine read the record to
// write the ERP's older edit of it. The write overwrites the user's value;
// the user's edit, newer, wins in the ERP. Salesforce's stream shows the
// user's change before our write's echo, so the engine writes the winning
// value back to Salesforce, and both systems agree.
func TestWriteThatCrossesATargetEditIsResynced(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord()
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	var user sfsync.Change
	sf := &editAfterRead{target: b.sf}
	sf.edit = func() { user = b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, at(12*time.Second)) }
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(conflict.LastWriteWins()),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: sf}),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	if user.Key == "" {
		t.Fatal("the Salesforce user never edited: the engine did not read Salesforce")
	}
	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "003A", "Phone"); got != "sf" {
			t.Errorf("%s holds Phone=%v, want the Salesforce user's newer value", side.System(), got)
		}
	}
}
