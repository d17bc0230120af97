package sync_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// checkingSink is a Salesforce-side sink whose metadata knows some fields.
type checkingSink struct {
	*synctest.System
	known   map[string]bool
	failing error // the metadata cannot be read
	checked []string
}

func (c *checkingSink) CheckFields(_ context.Context, object string, write []string) error {
	c.checked = append(c.checked, object)
	if c.failing != nil {
		return c.failing
	}
	var errs []error
	for _, f := range write {
		if !c.known[f] {
			errs = append(errs, fmt.Errorf("%s.%s: no such field: %w", object, f, sfsync.ErrInvalid))
		}
	}
	return errors.Join(errs...)
}

func checkedEngine(t *testing.T, b *bidi, sink *checkingSink) *sfsyncsync.Engine {
	t.Helper()
	m := &sfsyncsync.Mapping{Object: "Contact", External: "person", Fields: []sfsyncsync.Field{
		{Salesforce: "LastName", External: "last_name"}, {Salesforce: "Emial", External: "email"}}}
	e, err := sfsyncsync.New(b.extLog.Source(), nil, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithStore(b.store),
		sfsyncsync.WithMapping(m), sfsyncsync.WithRoute(sfsyncsync.Route{From: erp, Sink: sink}))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A mapping naming a field the target does not have stops Run at start,
// with an error that names the field.
func TestRunRefusesAMappingWithAnUnknownField(t *testing.T) {
	b := newBidi(t)
	sink := &checkingSink{System: b.sf, known: map[string]bool{"LastName": true, "Email": true}}
	err := checkedEngine(t, b, sink).Run(context.Background())
	if !errors.Is(err, sfsync.ErrInvalid) || !strings.Contains(err.Error(), "Contact.Emial") {
		t.Fatalf("Run = %v, want an invalid mapping naming Contact.Emial", err)
	}
}

// Metadata that cannot be read does not stop the engine: the check is a
// help, not a dependency.
func TestRunGoesOnWhenTheMetadataCannotBeRead(t *testing.T) {
	b := newBidi(t)
	sink := &checkingSink{System: b.sf, failing: sfsync.Retryable(errors.New("describe timed out"))}
	r := start(t, checkedEngine(t, b, sink))
	if err := r.e.WaitUntil(context.Background(), func() bool { return len(r.e.Streams()) == 1 && r.e.Streams()[0].Phase == sfsyncsync.StreamStreaming }); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if len(sink.checked) != 1 || sink.checked[0] != "Contact" {
		t.Errorf("checked %v, want Contact once", sink.checked)
	}
}
