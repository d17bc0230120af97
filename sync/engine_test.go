package sync_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	sfsyncsync "github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

func TestBadInputIsDeadLetteredAndTheEngineGoesOn(t *testing.T) {
	log := synctest.NewLog("/data/ChangeEvents")
	ext := synctest.NewSystem(erp, synctest.WithSchema("Contact", "Phone", "Email"))
	store := newState(t)
	src := log.Source()
	e, err := sfsyncsync.New(src, nil,
		sfsyncsync.WithLogger(quiet()), sfsyncsync.WithTenant(org), sfsyncsync.WithStore(store),
		sfsyncsync.WithRoute(sfsyncsync.Route{From: sfsync.Salesforce, Object: "Contact", Sink: ext}),
		fastRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	base := sfsync.Change{Source: sfsync.Salesforce, Tenant: org, Object: "Contact", RecordID: "003A", Op: sfsync.OpUpdate, Version: at(0)}
	with := func(key string, f func(*sfsync.Change)) sfsync.Change {
		c := base.Clone()
		c.Key = key
		c.Fields = map[string]any{"Phone": "111"}
		f(&c)
		return c
	}
	bad := map[string]string{
		"no-id":          "has no record id",
		"bad-op":         "unknown operation",
		"foreign-org":    "belongs to org",
		"unknown-object": "no route",
		"missing-field":  `no field "Fax"`,
	}
	log.Append(with("no-id", func(c *sfsync.Change) { c.RecordID = "" }))
	log.Append(with("bad-op", func(c *sfsync.Change) { c.Op = "merge" }))
	log.Append(with("foreign-org", func(c *sfsync.Change) { c.Tenant = "00D000000000002AAA" }))
	log.Append(with("unknown-object", func(c *sfsync.Change) { c.Object = "Lead" }))
	log.Append(with("missing-field", func(c *sfsync.Change) { c.Fields["Fax"] = "1" }))
	log.Append(with("good", func(c *sfsync.Change) {}))

	r := start(t, e)
	settle(t, log, src)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for key, want := range bad {
		d, err := store.DeadLetter(context.Background(), key)
		if err != nil {
			t.Errorf("dead letter %s: %v", key, err)
			continue
		}
		if !strings.Contains(d.Err, want) {
			t.Errorf("dead letter %s: reason %q does not say %q", key, d.Err, want)
		}
		if d.Kind != sfsync.KindPermanent {
			t.Errorf("dead letter %s: kind %s, want permanent", key, d.Kind)
		}
	}
	if got := field(t, ext, "Contact", "003A", "Phone"); got != "111" {
		t.Errorf("good change: Phone = %v, want 111", got)
	}
	st := statusByKey(t, store)
	if len(st) != 6 || st["good"] != sfsync.StatusApplied {
		t.Errorf("outcomes = %v, want 5 dead letters and good applied", st)
	}
	if s := e.Stats(); s.DeadLetters != 5 || s.Applied != 1 || s.InFlight != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestLostAcknowledgementIsAppliedOnce(t *testing.T) {
	b := newBidi(t, synctest.WithoutKeyIdempotency())
	c := b.sf.Edit("Contact", "003A", map[string]any{"Phone": "333"}, at(0))
	b.ext.InjectFault(synctest.Fault{AfterApply: true, Err: synctest.ErrTimeout})
	sfSrc, extSrc := b.sfLog.Source(), b.extLog.Source()
	e, err := sfsyncsync.New(sfSrc, nil, append(b.options(nil), sfsyncsync.WithSource(extSrc))...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, e)
	settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
	r.stop(t)
	if n := b.ext.Applications(c.Key); n != 1 {
		t.Errorf("change applied %d times to the external system, want 1", n)
	}
	o := outcomes(t, b.store, sfsync.OutcomeQuery{Key: c.Key})
	if len(o) != 1 || o[0].Status != sfsync.StatusApplied || !strings.Contains(o[0].Reason, "acknowledgement was lost") {
		t.Errorf("outcomes of %s = %+v", c.Key, o)
	}
	if s := e.Stats(); s.Retries != 1 || s.Echoes != 1 {
		t.Errorf("stats = %+v, want 1 retry and 1 echo", s)
	}
}

// scenario makes n seeded random edits of a few contacts on both sides.
func scenario(b *bidi, seed uint64, n int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range n {
		id := fmt.Sprintf("003%03d", rng.IntN(5))
		fields := map[string]any{}
		switch rng.IntN(3) {
		case 0:
			fields["Phone"] = fmt.Sprintf("%03d", rng.IntN(1000))
		case 1:
			fields["Email"] = fmt.Sprintf("u%d@example.com", rng.IntN(100))
		default:
			fields["Phone"], fields["Title"] = fmt.Sprintf("%03d", rng.IntN(1000)), nil
		}
		v := at(time.Duration(i+1) * time.Minute)
		if rng.IntN(2) == 0 {
			b.sf.Edit("Contact", id, fields, v)
		} else {
			b.ext.Edit("Contact", id, fields, v)
		}
	}
}

func TestDuplicateDeliveryGivesTheSameStateAndLedger(t *testing.T) {
	run := func(twice bool) (*bidi, *sfsyncsync.Engine) {
		b := newBidi(t)
		scenario(b, 42, 60)
		var opts []synctest.SourceOption
		if twice {
			opts = append(opts, synctest.DeliverTwice())
		}
		sfSrc, extSrc := b.sfLog.Source(opts...), b.extLog.Source(opts...)
		e, err := sfsyncsync.New(sfSrc, nil, append(b.options(nil), sfsyncsync.WithSource(extSrc))...)
		if err != nil {
			t.Fatal(err)
		}
		r := start(t, e)
		settle(t, b.sfLog, sfSrc, b.extLog, extSrc)
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
		return b, e
	}
	once, _ := run(false)
	twice, e := run(true)
	for i := range 5 {
		id := fmt.Sprintf("003%03d", i)
		for _, pair := range [][2]*synctest.System{{once.sf, twice.sf}, {once.ext, twice.ext}} {
			a, aok := pair[0].Record("Contact", id)
			b, bok := pair[1].Record("Contact", id)
			if aok != bok || !maps.Equal(a.Fields, b.Fields) {
				t.Errorf("%s %s: delivered once %v, twice %v", pair[0].System(), id, a.Fields, b.Fields)
			}
		}
	}
	if a, b := statusByKey(t, once.store), statusByKey(t, twice.store); !maps.Equal(a, b) {
		t.Errorf("ledgers differ:\nonce  %v\ntwice %v", a, b)
	}
	if !maps.Equal(once.ext.AppliedKeys(), twice.ext.AppliedKeys()) || !maps.Equal(once.sf.AppliedKeys(), twice.sf.AppliedKeys()) {
		t.Error("the systems saw different writes")
	}
	if s := e.Stats(); s.Duplicates == 0 || s.DedupHitRate() <= 0 {
		t.Errorf("stats = %+v: duplicates were not recognised", s)
	}
}
