package sync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// contactPolicy is the worked example's: Salesforce owns Email, Phone (and
// anything else) is last write wins.
func contactPolicy() sfsync.ConflictPolicy {
	return conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins())
}

// TestWorkedExample: Contact C-001; T0 Salesforce sets Phone=111 (and
// Email), T1 the external system sets Phone=222 (and tries Email), T2
// Salesforce sets Phone=333. Salesforce's events arrive out of order, the
// subscriber crashes before recording any outcome and replays everything.
// Both sides end with Phone=333 and Salesforce's Email, and no change took
// effect twice.
func TestWorkedExample(t *testing.T) {
	b := newBidi(t, synctest.WithoutKeyIdempotency())
	b.sf = synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(b.sfLog), synctest.WithTenant(org), synctest.WithoutKeyIdempotency())
	c0 := b.sf.EditSilently("Contact", "C-001", map[string]any{"Phone": "111", "Email": "ann@sf.example"}, at(0))
	c1 := b.ext.EditSilently("Contact", "C-001", map[string]any{"Phone": "222", "Email": "ann@erp.example"}, at(time.Minute))
	c2 := b.sf.EditSilently("Contact", "C-001", map[string]any{"Phone": "333"}, at(2*time.Minute))
	b.sfLog.Append(c2)
	b.sfLog.Append(c0)
	b.extLog.Append(c1)

	// First run: the process dies before its first state commit, after its
	// writes may have happened.
	crashing := &failingCommits{stateStore: b.store}
	opts := append(b.options(contactPolicy()), sfsyncsync.WithStore(crashing), sfsyncsync.WithSource(b.extLog.Source()))
	e1, err := sfsyncsync.New(b.sfLog.Source(), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r1 := start(t, e1)
	select {
	case err := <-r1.done:
		close(r1.done)
		if !errors.Is(err, errCrash) {
			t.Fatalf("first run ended with %v, want the simulated crash", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the crashing engine kept running")
	}
	if _, err := b.store.LoadCheckpoint(context.Background(), b.sfLog.Stream()); !errors.Is(err, sfsync.ErrNotFound) {
		t.Fatalf("a checkpoint survived a run that recorded no outcome: %v", err)
	}

	// Second run replays both streams from the start.
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e2, err := sfsyncsync.New(sfSrc, nil, append(b.options(contactPolicy()), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r2 := start(t, e2)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}

	for _, side := range []*synctest.System{b.sf, b.ext} {
		if got := field(t, side, "Contact", "C-001", "Phone"); got != "333" {
			t.Errorf("%s Phone = %v, want 333", side.System(), got)
		}
		if got := field(t, side, "Contact", "C-001", "Email"); got != "ann@sf.example" {
			t.Errorf("%s Email = %v, want Salesforce's", side.System(), got)
		}
		for key, n := range side.AppliedKeys() {
			if n > 1 {
				t.Errorf("%s applied %s %d times", side.System(), key, n)
			}
		}
	}
	ledger := statusByKey(t, b.store)
	for _, log := range []*synctest.Log{b.sfLog, b.extLog} {
		for _, c := range log.Changes() {
			if _, ok := ledger[c.Key]; !ok {
				t.Errorf("%s has no outcome", c.Key)
			}
		}
	}
	if ledger[c1.Key] != sfsync.StatusConflictLost {
		t.Errorf("the external Phone=222 at T1: %s, want conflict lost (Salesforce's T2 is newer, Email is Salesforce's)", ledger[c1.Key])
	}
	for _, v := range append(b.sfLog.Source().Violations(), sfSrc.Violations()...) {
		t.Error(v)
	}
}

// TestFailureWalkthrough: a write whose acknowledgement is lost is applied
// once; a concurrent external edit of another field wins where it is newer;
// the echoes of both write-backs are recognised, so each side is written
// exactly once.
func TestFailureWalkthrough(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clientID string
	}{{"echoes by origin", "sfsync"}, {"echoes by fingerprint", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBidi(t, synctest.WithoutKeyIdempotency())
			b.ext.EditSilently("Contact", "C-001", map[string]any{"Phone": "111", "Title": "Engineer"}, at(0))
			b.sf.EditSilently("Contact", "C-001", map[string]any{"Phone": "111", "Title": "Engineer"}, at(0))
			sfEdit := b.sf.Edit("Contact", "C-001", map[string]any{"Phone": "333", "Title": "Manager"}, at(2*time.Minute))
			extEdit := b.ext.Edit("Contact", "C-001", map[string]any{"Title": "Director"}, at(3*time.Minute))
			b.ext.InjectFault(synctest.Fault{AfterApply: true, Err: synctest.ErrTimeout})

			sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
			opts := append(b.options(contactPolicy()), sfsyncsync.WithSource(extSrc), sfsyncsync.WithClientID(tc.clientID))
			e, err := sfsyncsync.New(sfSrc, nil, opts...)
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, e)
			settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			for _, side := range []*synctest.System{b.sf, b.ext} {
				if p, ti := field(t, side, "Contact", "C-001", "Phone"), field(t, side, "Contact", "C-001", "Title"); p != "333" || ti != "Director" {
					t.Errorf("%s ends with Phone=%v Title=%v, want 333 and Director", side.System(), p, ti)
				}
			}
			if n := b.ext.Applications(sfEdit.Key); n != 1 {
				t.Errorf("the Salesforce edit took effect %d times in the external system", n)
			}
			if n := b.sf.Applications(extEdit.Key); n != 1 {
				t.Errorf("the external edit took effect %d times in Salesforce", n)
			}
			extWrites, _ := b.ext.Writes()
			sfWrites, _ := b.sf.Writes()
			if extWrites != 1 || sfWrites != 1 {
				t.Errorf("writes: %d to the external system, %d to Salesforce; want 1 each (echoes must not be written back)", extWrites, sfWrites)
			}
			s := e.Stats()
			if s.Echoes != 2 || s.Retries != 1 {
				t.Errorf("stats = %+v, want 2 echoes and 1 retry", s)
			}
		})
	}
}
