package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/salesforce"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

var (
	_ sfsyncsync.VersionLister     = (*countingAuthority)(nil)
	_ sfsyncsync.LinkVersionLister = (*salesforce.Authority)(nil)
	_ sfsyncsync.LinkVersionLister = (*synctest.System)(nil)
)

// A drift check re-reads only the records whose authoritative version is
// newer than what the engine applied: changes no event brought.
func TestCheckDriftRereadsOnlyDriftedRecords(t *testing.T) {
	b := newBidi(t)
	for i := range 6 {
		b.sf.Edit("Contact", fmt.Sprintf("003%02d", i), map[string]any{"LastName": fmt.Sprint("N", i)}, at(time.Duration(i)*time.Second))
	}
	auth := &countingAuthority{System: b.sf}
	src := b.sfLog.Source()
	e := oneWay(t, b, src)
	r := start(t, e)
	settle(t, b.sfLog, src)

	// Two changes no event announces.
	b.sf.EditSilently("Contact", "00302", map[string]any{"LastName": "Drifted2"}, at(time.Minute))
	b.sf.EditSilently("Contact", "00305", map[string]any{"LastName": "Drifted5"}, at(time.Minute))
	report, err := e.CheckDrift(context.Background(), auth, "Contact", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if report.Checked != 6 || report.Drifted != 2 {
		t.Errorf("report %+v, want 6 checked, 2 drifted", report)
	}
	if got := field(t, b.ext, "Contact", "00302", "LastName"); got != "Drifted2" {
		t.Errorf("00302 LastName = %v after the drift check", got)
	}
	if got := field(t, b.ext, "Contact", "00305", "LastName"); got != "Drifted5" {
		t.Errorf("00305 LastName = %v after the drift check", got)
	}
	// A second pass finds nothing: the re-read versions are in the map.
	again, err := e.CheckDrift(context.Background(), auth, "Contact", time.Time{})
	if err != nil || again.Drifted != 0 {
		t.Errorf("second pass %+v (%v), want nothing drifted", again, err)
	}
	r.stop(t)
	if n := len(outcomes(t, b.store, sfsync.OutcomeQuery{Object: "Contact", Status: sfsync.StatusApplied})); n != 8 {
		t.Errorf("%d applied outcomes, want 6 events and 2 drift re-reads", n)
	}
}

// The version map knows linked records by their link (Mapping.LinkField),
// so a drift check lists the link beside each version and compares by it:
// otherwise every linked record looks never applied, and every pass
// re-reads the whole object.
func TestCheckDriftComparesLinkedRecordsByTheirLink(t *testing.T) {
	b := newBidi(t)
	mapping := &sfsyncsync.Mapping{Object: "Contact", LinkField: "External_Id__c", Fields: []sfsyncsync.Field{
		{Salesforce: "LastName", External: "last_name"},
	}}
	for i := range 4 {
		b.sf.Edit("Contact", fmt.Sprintf("0030000000000%02dAAA", i), map[string]any{"LastName": fmt.Sprint("N", i), "External_Id__c": fmt.Sprint("P-", i)}, at(time.Duration(i)*time.Second))
	}
	src := b.sfLog.Source()
	e := oneWay(t, b, src, sfsyncsync.WithMapping(mapping))
	start(t, e)
	settle(t, b.sfLog, src)
	b.sf.EditSilently("Contact", "003000000000002AAA", map[string]any{"LastName": "Drifted"}, at(time.Minute))
	report, err := e.CheckDrift(context.Background(), b.sf, "Contact", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if report.Checked != 4 || report.Drifted != 1 {
		t.Errorf("report %+v, want 4 checked, 1 drifted", report)
	}
	if got := field(t, b.ext, "Contact", "P-2", "last_name"); got != "Drifted" {
		t.Errorf("P-2 last_name = %v after the drift check", got)
	}
}
