package sync_test

import (
	"context"
	"errors"
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
	b.userEditsAfterRead(t, conflict.LastWriteWins(), func() {
		b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second))
	})
	b.bothHold(t, "Contact", "003A", "Phone", "sf", "the Salesforce user's newer value")
}

// lostAckThenEdit is a target whose first write takes effect but fails
// with a timeout, after which one of its users edits the record: the retry
// then finds values that differ from the write, and only the write's echo
// says it took effect. (It does not wait in Write for the engine to decide
// the echo: the echo is of the same record, decided in the same lane.)
type lostAckThenEdit struct {
	*target
	once stdsync.Once
	edit func()
}

func (s *lostAckThenEdit) Write(ctx context.Context, cs []sfsync.Change) error {
	err := s.target.Write(ctx, cs)
	if err != nil {
		s.once.Do(func() {
			s.edit()
		})
	}
	return err
}

// A write whose acknowledgement was lost is not written again when the
// target changed the field before the retry: its echo says it took
// effect. The target's edit then loses in its turn (the ERP wins), and its
// repair, not a second write of the change, brings the value back.
func TestLostAcknowledgementIsConfirmedByTheEcho(t *testing.T) {
	b := newBidi(t)
	b.salesforceByRecord(synctest.WithoutKeyIdempotency())
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true,
		Match: func(c sfsync.Change) bool { return c.Source == erp }})
	write := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second))
	sf := &lostAckThenEdit{target: b.sf}
	sf.edit = func() { b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, at(12*time.Second)) }
	_, settled := b.startThrough(t, conflict.ExternalWins(), sf)
	settled()
	if n := b.sf.Applications(write.Key); n != 1 {
		t.Errorf("the ERP's edit took effect %d times in Salesforce, want once", n)
	}
	if st := statusByKey(t, b.store)[write.Key]; st != sfsync.StatusApplied {
		t.Errorf("the ERP's edit ended %s, want applied", st)
	}
	b.bothHold(t, "Contact", "003A", "Phone", "erp", "the ERP's, which wins")
	if t.Failed() {
		logOutcomes(t, b)
	}
}

// startThrough starts an engine syncing b both ways under policy, writing
// to Salesforce through sf (a wrapper of b.sf), stopped when t ends;
// settled waits until the engine has committed both logs whole.
func (b *bidi) startThrough(t *testing.T, policy sfsync.ConflictPolicy, sf sfsync.Sink) (*sfsyncsync.Engine, func()) {
	t.Helper()
	r, settled := b.startSinks(t, policy, b.ext, sf)
	return r.e, settled
}

// startSinks is startBoth with the sinks the engine writes the ERP (toExt)
// and Salesforce (toSF) through.
func (b *bidi) startSinks(t *testing.T, policy sfsync.ConflictPolicy, toExt, toSF sfsync.Sink) (*running, func()) {
	t.Helper()
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithClientID("sfsync"),
		sfsyncsync.WithStore(b.store), sfsyncsync.WithPolicy(policy),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: toExt}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: toSF}),
		sfsyncsync.WithSource(extSrc), fastRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	return r, func() {
		t.Helper()
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	}
}

// lateEcho is a target whose first write takes effect but fails with a
// timeout, after which one of its users edits the record; its change
// stream (held) reaches the engine only when the record is read a second
// time after the failure: the write's echo comes late.
type lateEcho struct {
	*target
	mu      stdsync.Mutex
	failed  bool
	reads   int
	edit    func()
	forward func()
}

func (s *lateEcho) Write(ctx context.Context, cs []sfsync.Change) error {
	err := s.target.Write(ctx, cs)
	if err != nil {
		s.mu.Lock()
		first := !s.failed
		s.failed = true
		s.mu.Unlock()
		if first {
			s.edit()
		}
	}
	return err
}

func (s *lateEcho) Read(ctx context.Context, object string, ids []string) (map[string]sfsync.Record, error) {
	recs, err := s.target.Read(ctx, object, ids)
	s.mu.Lock()
	if s.failed {
		s.reads++
		if s.reads == 2 {
			s.forward()
		}
	}
	s.mu.Unlock()
	return recs, err
}

// heldSalesforceLosingAnAck is b with Salesforce versioning whole records,
// its contact 003A (made at 1s) already in its stream, and its later
// changes held in held until a test forwards them; the first write of an
// ERP change to it takes effect and fails with a timeout.
func heldSalesforceLosingAnAck(t *testing.T) (*bidi, *synctest.Log) {
	t.Helper()
	b := newBidi(t)
	held := synctest.NewLog("held")
	b.salesforceByRecord(synctest.WithoutKeyIdempotency(), synctest.WithFeed(held))
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	b.sfLog.Append(held.Changes()...)
	b.sf.InjectFault(synctest.Fault{Err: sfsync.Retryable(errors.New("timeout")), AfterApply: true,
		Match: func(c sfsync.Change) bool { return c.Source == erp }})
	return b, held
}

// A write whose acknowledgement was lost, and whose record the target
// changed after it landed, is not written again when its echo comes after
// the retry's first re-read: the retry waits for the echo.
func TestLostAcknowledgementWaitsForALateEcho(t *testing.T) {
	b, held := heldSalesforceLosingAnAck(t)
	sf := &lateEcho{target: b.sf}
	sf.edit = func() { b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, at(12*time.Second)) }
	sf.forward = func() { b.sfLog.Append(held.Changes()[1:]...) }
	_, settled := b.startThrough(t, conflict.ExternalWins(), sf)
	write := b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(10*time.Second))
	settled()
	if n := b.sf.Applications(write.Key); n != 1 {
		t.Errorf("the ERP's edit took effect %d times in Salesforce, want once", n)
	}
	b.bothHold(t, "Contact", "003A", "Phone", "erp", "the ERP's, which wins")
}

// The same crossing, with the ERP's clock ahead: its edit carries a time
// after the Salesforce user's, and the user's edit wins the tie inside the
// skew tolerance (Salesforce is the system of record). The resync writes
// the user's value back to Salesforce as a change of the ERP's with the
// user's version, on Salesforce's clock; judged stale against the ERP's
// own edit, later on the ERP's clock but the very data the user's edit
// beat, it was dropped, and the systems parted.
func TestResyncIsNotStaleAgainstTheDataItsChangeBeat(t *testing.T) {
	b := newBidi(t)
	b.userEditsAfterRead(t, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)), func() {
		b.ext.Edit("Contact", "003A", map[string]any{"Phone": "erp"}, at(12*time.Second+500*time.Millisecond))
	})
	b.bothHold(t, "Contact", "003A", "Phone", "sf", "the Salesforce user's value, which won the tie")
}

// userEditsAfterRead runs b, with Salesforce versioning whole records and
// its contact 003A (LastName n, Phone 0, made at 1 s), under policy, while
// erp makes the ERP's change: a Salesforce user sets Phone to "sf" at 12 s
// right after the engine reads 003A in Salesforce to write that change, on
// top of which the write then lands. It fails t if the user never edited.
// opts configure Salesforce further.
func (b *bidi) userEditsAfterRead(t *testing.T, policy sfsync.ConflictPolicy, erp func(), opts ...synctest.SystemOption) {
	t.Helper()
	b.salesforceByRecord(opts...)
	b.sf.Edit("Contact", "003A", map[string]any{"LastName": "n", "Phone": "0"}, at(time.Second))
	var user sfsync.Change
	sf := &editAfterRead{target: b.sf}
	sf.edit = func() { user = b.sf.Edit("Contact", "003A", map[string]any{"Phone": "sf"}, at(12*time.Second)) }
	_, settled := b.startThrough(t, policy, sf)
	settled()
	erp()
	settled()
	if user.Key == "" {
		t.Fatal("the Salesforce user never edited: the engine did not read Salesforce")
	}
}
