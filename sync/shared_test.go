package sync_test

import (
	"context"
	"reflect"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/memory"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// keepingSource delivers its changes one at a time, as the very values it
// keeps (maps and slices shared), and closes done once the last one's
// position is committed.
type keepingSource struct {
	mu      stdsync.Mutex
	changes []sfsync.Change
	next    int
	closed  bool
	done    chan struct{}
}

func (s *keepingSource) Receive(ctx context.Context) ([]sfsync.Change, error) {
	s.mu.Lock()
	if s.next < len(s.changes) {
		c := s.changes[s.next]
		s.next++
		s.mu.Unlock()
		return []sfsync.Change{c}, nil
	}
	s.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s *keepingSource) Commit(_ context.Context, pos sfsync.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The engine commits the newest position that has every earlier
	// outcome behind it, not necessarily each one.
	last := s.changes[len(s.changes)-1].Position
	if !s.closed && string(pos.Token) == string(last.Token) {
		s.closed = true
		close(s.done)
	}
	return nil
}

// The engine shares the maps and slices of the changes a source hands it
// instead of copying each one, so none of its steps may change them: not
// the mapping dropping unmapped fields, not flattening compound names, not
// the decision dropping fields that newer data already covers. A source
// that redelivers what it keeps, and the dead letter that shows a change as
// received, depend on it.
func TestEngineLeavesDeliveredChangesAlone(t *testing.T) {
	newer := sfsync.Change{
		Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate,
		Fields: map[string]any{"Phone": "2"}, Version: at(2 * time.Second), Key: "003A:2",
		Position: sfsync.Position{Stream: "s", Token: []byte{1}},
	}
	older := sfsync.Change{
		Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate,
		Fields: map[string]any{"Phone": "1", "Email": "e@x", "Unmapped": "u", "MailingAddress.Street": "Main St"},
		Nulled: []string{"MailingAddress.City"}, Reread: nil,
		Version: at(time.Second), Key: "003A:1",
		Position: sfsync.Position{Stream: "s", Token: []byte{2}},
	}
	// Only mapped, flat fields: the decision works on the delivered map.
	mid := sfsync.Change{
		Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate,
		Fields: map[string]any{"Phone": "1.5", "Email": "g@x"}, Version: at(1500 * time.Millisecond), Key: "003A:1.5",
		Position: sfsync.Position{Stream: "s", Token: []byte{3}},
	}
	src := &keepingSource{changes: []sfsync.Change{newer, older, mid}, done: make(chan struct{})}
	want := make([]sfsync.Change, len(src.changes))
	for i, c := range src.changes {
		want[i] = c.Clone()
	}
	m := &sfsyncsync.Mapping{Object: "Contact", External: "contact", Fields: []sfsyncsync.Field{
		{Salesforce: "Phone", External: "phone"}, {Salesforce: "Email", External: "email"},
		{Salesforce: "MailingStreet", External: "street"}, {Salesforce: "MailingCity", External: "city"},
	}}
	sink := synctest.NewSystem(erp)
	store := memory.New()
	e, err := sfsyncsync.New(src, sink, sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org),
		sfsyncsync.WithStore(store), sfsyncsync.WithMapping(m))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	select {
	case <-src.done:
	case <-time.After(30 * time.Second):
		t.Fatal("changes not committed within 30s")
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	for i, c := range src.changes {
		if !reflect.DeepEqual(c, want[i]) {
			t.Errorf("delivered change %d changed by the engine:\n got %+v\nwant %+v", i, c, want[i])
		}
	}
	// The decision did drop the stale field, from its own copy.
	if got := field(t, sink, "contact", "003A", "phone"); got != "2" {
		t.Errorf("phone = %v, want 2 (the older change's value is stale)", got)
	}
	if got := field(t, sink, "contact", "003A", "email"); got != "g@x" {
		t.Errorf("email = %v, want g@x", got)
	}
	if got := field(t, sink, "contact", "003A", "street"); got != "Main St" {
		t.Errorf("street = %v, want Main St", got)
	}
}
