// Command contactsync plays a two-way Contact sync between Salesforce and an
// ERP on in-memory stand-ins and prints every decision the engine takes, and
// why.
//
// The story (Contact C-001): Salesforce is the system of record for Email;
// Phone is last write wins. At T0 Salesforce creates the contact with Phone
// 111; at T1 the ERP sets phone 222 and tries to change the email; at T2
// Salesforce sets Phone 333. Salesforce's events arrive out of order, the
// first subscriber crashes before it records any outcome, and a second one
// replays everything. Both sides end with Phone 333 and Salesforce's Email.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
	"github.com/sfsync/sfsync/store/memory"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

const orgID = "00D5e000000DEMOEAA"

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "contactsync:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	erp := sfsync.External("erp")
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	at := func(minutes int) sfsync.Version {
		return sfsync.Version{Time: t0.Add(time.Duration(minutes) * time.Minute)}
	}

	// Each side is a stand-in with a change feed, as Salesforce CDC and the
	// ERP's outbox would be.
	sfFeed, erpFeed := synctest.NewLog("/data/ContactChangeEvent"), synctest.NewLog("erp/person")
	salesforce := synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(sfFeed), synctest.WithTenant(orgID))
	ledger := synctest.NewSystem(erp, synctest.WithFeed(erpFeed))

	// The ERP calls a contact a person and names its fields its own way.
	mapping := &sync.Mapping{Object: "Contact", External: "person", System: erp, Fields: []sync.Field{
		{Salesforce: "Phone", External: "phone"},
		{Salesforce: "Email", External: "email"},
		{Salesforce: "MailingStreet", External: "street"},
	}}
	policy := conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce}, conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)))

	fmt.Fprintln(out, "== edits")
	t0Edit := salesforce.EditSilently("Contact", "C-001", map[string]any{"Phone": "111", "Email": "ann@sf.example", "MailingAddress.Street": "1 Market St"}, at(0))
	t1Edit := ledger.EditSilently("person", "C-001", map[string]any{"phone": "222", "email": "ann@erp.example"}, at(1))
	t2Edit := salesforce.EditSilently("Contact", "C-001", map[string]any{"Phone": "333"}, at(2))
	for _, c := range []sfsync.Change{t0Edit, t1Edit, t2Edit} {
		fmt.Fprintf(out, "%s  %-10s %s\n", c.Version.Time.Format("15:04"), c.Source, fields(c))
	}
	// Salesforce's events arrive out of order.
	sfFeed.Append(t2Edit)
	sfFeed.Append(t0Edit)
	erpFeed.Append(t1Edit)

	state := memory.New()
	options := func(store sync.Store, sources ...sfsync.EventSource) []sync.Option {
		opts := []sync.Option{
			sync.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			sync.WithTenant(orgID),
			sync.WithClientID("sfsync"),
			sync.WithStore(store),
			sync.WithMapping(mapping),
			sync.WithPolicy(policy),
			sync.WithRoute(sync.Route{From: sfsync.Salesforce, Sink: ledger}),
			sync.WithRoute(sync.Route{From: erp, Sink: salesforce}),
		}
		for _, s := range sources {
			opts = append(opts, sync.WithSource(s))
		}
		return opts
	}

	fmt.Fprintln(out, "\n== first subscriber: writes, then crashes before recording any outcome")
	// It takes one Salesforce event at a time, so that it crashes at the
	// same point on every run.
	first, err := sync.New(sfFeed.Source(), nil, append(options(crashingStore{state}), sync.WithMaxInFlight(1))...)
	if err != nil {
		return err
	}
	if err := first.Run(ctx); !errors.Is(err, errCrash) {
		return fmt.Errorf("first subscriber: %v, expected the simulated crash", err)
	}
	fmt.Fprintf(out, "crashed: %d change(s) received, none recorded\n", first.Stats().Received)

	fmt.Fprintln(out, "\n== second subscriber: replays from the last checkpoint (none)")
	second, err := sync.New(sfFeed.Source(), nil, options(state, erpFeed.Source())...)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(runCtx) }()
	if err := settle(ctx, second, sfFeed, erpFeed); err != nil {
		stop()
		return err
	}
	stop()
	if err := <-done; err != nil {
		return err
	}

	outcomes, err := state.Outcomes(ctx, sfsync.OutcomeQuery{})
	if err != nil {
		return err
	}
	// The two feeds are processed concurrently, so the ledger's order varies
	// from run to run; print it in the order of the changes' own versions.
	slices.SortStableFunc(outcomes, func(a, b sfsync.Outcome) int {
		if c := a.Version.Compare(b.Version); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	fmt.Fprintln(out, "\n== decisions (the outcome ledger, in version order)")
	for _, o := range outcomes {
		fmt.Fprintf(out, "%-10s → %-10s %-40s %-13s %s\n", o.Source, o.Destination, o.Key, o.Status, o.Reason)
	}

	fmt.Fprintln(out, "\n== final state")
	sfRec, _ := salesforce.Record("Contact", "C-001")
	erpRec, _ := ledger.Record("person", "C-001")
	fmt.Fprintf(out, "salesforce Contact C-001: Phone=%v Email=%v MailingStreet=%v\n", sfRec.Fields["Phone"], sfRec.Fields["Email"], sfRec.Fields["MailingAddress.Street"])
	fmt.Fprintf(out, "erp person C-001:         phone=%v email=%v street=%v\n", erpRec.Fields["phone"], erpRec.Fields["email"], erpRec.Fields["street"])
	s := second.Stats()
	fmt.Fprintf(out, "\nstats: processed %d, applied %d, no-ops %d, echoes %d, conflicts %d, stale %d, duplicates %d, dead letters %d\n",
		s.Processed, s.Applied, s.Noops, s.Echoes, s.Conflicts, s.Stale, s.Duplicates, s.DeadLetters)
	return nil
}

func fields(c sfsync.Change) string {
	var s string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range c.Fields {
			if !yield(k) {
				return
			}
		}
	}) {
		s += fmt.Sprintf("%s=%v ", k, c.Fields[k])
	}
	return s
}

// settle waits until the engine has taken every change the two feeds hold
// and each has a durable outcome. The stand-ins publish a write's event
// before the engine records the write's outcome, so no echo is still to
// come once nothing is in flight.
func settle(ctx context.Context, engine *sync.Engine, a, b *synctest.Log) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := engine.WaitUntil(ctx, func() bool {
		s := engine.Stats()
		return s.InFlight == 0 && s.Received == int64(a.Len()+b.Len())
	})
	if err != nil {
		return fmt.Errorf("waiting for both feeds to be synced: %w", err)
	}
	return nil
}

var errCrash = errors.New("simulated crash")

// crashingStore fails every state commit, like a process that dies after
// its writes but before it records their outcomes.
type crashingStore struct{ *memory.Store }

func (crashingStore) CommitState(context.Context, sfsync.Commit) error {
	return sfsync.Permanent(errCrash)
}
