package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

var _ sfsyncsync.VersionLister = (*countingAuthority)(nil)

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
