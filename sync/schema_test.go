package sync_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

// observingSink records the schema ids it is told of.
type observingSink struct {
	*synctest.System
	mu   sync.Mutex
	seen []string
}

func (o *observingSink) ObserveSchema(object, schemaID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, object+":"+schemaID)
	return true
}

// A route's sink that caches metadata hears of each new schema id of an
// object once, not of every event.
func TestSinksHearOfNewSchemaIDs(t *testing.T) {
	b := newBidi(t)
	for i, schema := range []string{"s1", "s1", "s2", "s2"} {
		b.sfLog.Append(sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate,
			Key: string(rune('a' + i)), Schema: schema, Fields: map[string]any{"Phone": string(rune('1' + i))}, Version: at(time.Duration(i) * time.Second)})
	}
	sink := &observingSink{System: b.ext}
	src := b.sfLog.Source()
	var _ sfsyncsync.SchemaObserver = sink
	e, err := sfsyncsync.New(src, nil, sfsyncsync.WithRoute(sfsyncsync.Route{To: erp, Sink: sink}),
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithStore(b.store))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settle(t, b.sfLog, src)
	r.stop(t)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.seen) != 2 || sink.seen[0] != "Contact:s1" || sink.seen[1] != "Contact:s2" {
		t.Errorf("the sink heard of %v, want Contact:s1 then Contact:s2", sink.seen)
	}
}
