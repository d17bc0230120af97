package sync_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// identifiedSink is a Salesforce sink that says which client id its writes
// carry, as salesforce.Sink does.
type identifiedSink struct {
	*testSystem // not *synctest.System: a field named System would hide its System method
	id          string
}

type testSystem = synctest.System

func (s identifiedSink) ClientID() string { return s.id }

// optionsWithSalesforceSink is b.options without WithClientID, the Salesforce route writing
// through sf.
func (b *bidi) optionsWithSalesforceSink(sf sfsync.Sink, extra ...sfsyncsync.Option) []sfsyncsync.Option {
	return append([]sfsyncsync.Option{
		sfsyncsync.WithLogger(quiet()),
		sfsyncsync.WithTenant(org),
		sfsyncsync.WithStore(b.store),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Sink: b.ext}),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: sf}),
		fastRetries(5),
	}, extra...)
}

// Without WithClientID the engine takes the client id from the Salesforce
// sink it writes with, so origin decides echoes (the outcome says so; by
// fingerprint it would say the values are ours), and a user's revert to
// the value the engine wrote is still not swallowed as an echo.
func TestClientIDComesFromTheSalesforceSink(t *testing.T) {
	b := newBidi(t)
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	opts := b.optionsWithSalesforceSink(identifiedSink{b.sf, "sfsync"}, sfsyncsync.WithSource(extSrc))
	e, err := sfsyncsync.New(sfSrc, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	b.ext.Edit("Contact", "003A", map[string]any{"Email": "a@example.com"}, at(0))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "b@example.com"}, at(time.Minute))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	b.sf.Edit("Contact", "003A", map[string]any{"Email": "a@example.com"}, at(2*time.Minute))
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	r.stop(t)
	byOrigin := false
	for _, o := range outcomes(t, b.store, sfsync.OutcomeQuery{Object: "Contact", RecordID: "003A"}) {
		byOrigin = byOrigin || strings.Contains(o.Reason, "origin client sfsync")
	}
	if !byOrigin {
		t.Error("no echo was recognised by origin client sfsync: the engine did not take the sink's client id")
	}
	if sfv, extv := field(t, b.sf, "Contact", "003A", "Email"), field(t, b.ext, "Contact", "003A", "Email"); sfv != extv {
		t.Errorf("systems diverged: Salesforce Email=%v, ERP Email=%v", sfv, extv)
	}
}

// A client id the engine cannot recognise its own writes by is refused at
// New, not found out as a loop of echoes.
func TestClientIDContradictionsAreRefused(t *testing.T) {
	b := newBidi(t)
	src := b.extLog.Source()
	if _, err := sfsyncsync.New(src, nil, b.optionsWithSalesforceSink(identifiedSink{b.sf, "sfsync"}, sfsyncsync.WithClientID("other"))...); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("WithClientID contradicting the sink's id: New returned %v, want ErrInvalid", err)
	}
	if _, err := sfsyncsync.New(src, nil, b.optionsWithSalesforceSink(identifiedSink{b.sf, "sfsync"}, sfsyncsync.WithClientID("sfsync"))...); err != nil {
		t.Errorf("WithClientID repeating the sink's id: %v", err)
	}
	second := sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.External("crm"), Sink: identifiedSink{b.sf, "crm-sync"}})
	if _, err := sfsyncsync.New(src, nil, b.optionsWithSalesforceSink(identifiedSink{b.sf, "sfsync"}, second)...); !errors.Is(err, sfsync.ErrInvalid) {
		t.Errorf("two Salesforce sinks with different ids: New returned %v, want ErrInvalid", err)
	}
}
