package sync_test

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	sfsyncsync "github.com/sfsync/sfsync/sync"
)

// A record known to the ERP by its own id keeps that id when Salesforce
// changes it: from the link field a change carries, from a link learned
// earlier, or read from Salesforce when an update does not carry it.
func TestLinkedRecordsKeepTheirExternalID(t *testing.T) {
	b := newBidi(t)
	mapping := &sfsyncsync.Mapping{Object: "Contact", LinkField: "External_Id__c", Fields: []sfsyncsync.Field{
		{Salesforce: "Email", External: "email"},
	}}
	// Salesforce already holds a contact linked to ERP person P-9; the
	// engine has never seen it.
	b.sf.EditSilently("Contact", "003000000000009AAA", map[string]any{"Email": "old@example.com", "External_Id__c": "P-9"}, at(0))
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, b.options(conflict.LastWriteWins(),
		sfsyncsync.WithSource(extSrc), sfsyncsync.WithMapping(mapping), sfsyncsync.WithLinkReader(b.sf))...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)

	// An update without the link field: the engine reads the link.
	b.sf.Edit("Contact", "003000000000009AAA", map[string]any{"Email": "new@example.com"}, at(time.Minute))
	// A create carrying it, and a create of an unlinked record.
	b.sf.Edit("Contact", "003000000000010AAA", map[string]any{"Email": "ten@example.com", "External_Id__c": "P-10"}, at(2*time.Minute))
	b.sf.Edit("Contact", "003000000000011AAA", map[string]any{"Email": "eleven@example.com"}, at(3*time.Minute))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)

	for id, want := range map[string]string{"P-9": "new@example.com", "P-10": "ten@example.com", "003000000000011AAA": "eleven@example.com"} {
		rec, ok := b.ext.Record("Contact", id)
		if !ok || rec.Fields["email"] != want {
			t.Errorf("ERP record %s = %v (exists %v), want email %s", id, rec.Fields, ok, want)
		}
	}
	for _, sfID := range []string{"003000000000009AAA", "003000000000010AAA"} {
		if _, ok := b.ext.Record("Contact", sfID); ok {
			t.Errorf("linked record %s reached the ERP under its Salesforce id", sfID)
		}
	}
	// The ERP's echo of its write to P-9 is recognised, not written back.
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{}) {
		if o.Source == erp && o.Status != sfsync.StatusEcho {
			t.Errorf("ERP change %s: %s (%s), want an echo", o.Key, o.Status, o.Reason)
		}
	}
}
