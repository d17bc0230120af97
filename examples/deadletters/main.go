// Command deadletters walks through the life of dead letters: changes the
// engine could not apply, kept with why, for an operator to inspect, fix,
// requeue or purge.
//
// The story: five Contacts go from Salesforce to an ERP, with engine state
// in SQLite. The ERP rejects two of them permanently (its phone-format rule
// wrongly refuses international numbers, and one contact duplicates an ERP
// customer), and times out on a third until the engine gives up. The ERP's
// API has no read-back, only writes keyed by an idempotency key, and that
// timed-out write did in fact take effect. The operator lists the dead
// letters, inspects one, has the ERP team fix the rule, requeues the
// fixable ones through the running engine with their original keys (so the
// timed-out write is not applied a second time), and purges the duplicate.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/sqlite"
	"github.com/sfsync/sfsync/sync"
	"github.com/sfsync/sfsync/sync/synctest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "deadletters:", err)
		os.Exit(1)
	}
}

// erpAPI is the ERP as the engine sees it: writes carry the change's
// idempotency key, and there is no read-back, so the engine cannot tell a
// lost acknowledgement from a failed write; only the key makes retries and
// requeues safe.
type erpAPI struct {
	erp *synctest.System

	mu   stdsync.Mutex
	sent map[string]int // writes sent per idempotency key
}

func (a *erpAPI) Write(ctx context.Context, changes []sfsync.Change) error {
	a.mu.Lock()
	for _, c := range changes {
		a.sent[c.Key]++
	}
	a.mu.Unlock()
	return a.erp.Write(ctx, changes)
}

func (a *erpAPI) System() sfsync.System { return a.erp.System() }

func (a *erpAPI) Sent(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent[key]
}

// clock is the demo's time: fixed, and moved on by the story, so that the
// output is the same on every run.
type clock struct {
	mu  stdsync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func run(ctx context.Context, out io.Writer) error {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	clk := &clock{now: t0}
	at := func(minutes int) sfsync.Version {
		return sfsync.Version{Time: t0.Add(-time.Hour + time.Duration(minutes)*time.Minute)}
	}

	dir, err := os.MkdirTemp("", "sfsync-deadletters-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	state, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"), sqlite.WithClock(clk.Now))
	if err != nil {
		return err
	}
	defer state.Close()

	feed := synctest.NewLog("/data/ContactChangeEvent")
	salesforce := synctest.NewSystem(sfsync.Salesforce, synctest.WithFeed(feed))
	erp := synctest.NewSystem(sfsync.External("erp")) // applies each idempotency key once

	contacts := []struct {
		id     string
		fields map[string]any
	}{
		{"C-001", map[string]any{"LastName": "Okafor", "Email": "ada@example.com", "Phone": "(415) 555-0101"}},
		{"C-002", map[string]any{"LastName": "Lindqvist", "Email": "britt@example.se", "Phone": "+46 8 555 0102"}},
		{"C-003", map[string]any{"LastName": "Moreau", "Email": "claire@example.fr", "Phone": "(415) 555-0103"}},
		{"C-004", map[string]any{"LastName": "Nakamura", "Email": "dai@example.jp", "Phone": "(415) 555-0104"}},
		{"C-005", map[string]any{"LastName": "Pereira", "Email": "eva@example.pt", "Phone": "(415) 555-0105"}},
	}
	keyOf := map[string]string{} // record id → idempotency key
	for i, c := range contacts {
		ch := salesforce.Edit("Contact", c.id, c.fields, at(i))
		keyOf[c.id] = ch.Key
	}

	// The ERP's failures. The phone rule is a bug on the ERP side that its
	// team fixes below; the duplicate and the timeouts are not.
	var ruleFixed, networkFixed atomic.Bool
	is := func(id string) func(sfsync.Change) bool {
		return func(c sfsync.Change) bool { return c.RecordID == id }
	}
	erp.InjectFault(synctest.Fault{
		Match: func(c sfsync.Change) bool { return !ruleFixed.Load() && c.RecordID == "C-002" },
		Err:   sfsync.Permanent(errors.New("erp: validation rule Phone_Format: phone must look like (NNN) NNN-NNNN")),
		Times: -1,
	})
	erp.InjectFault(synctest.Fault{
		Match: is("C-004"),
		Err:   sfsync.Permanent(errors.New("erp: duplicate of customer P-0042 (same email)")),
		Times: -1,
	})
	erp.InjectFault(synctest.Fault{
		// The write lands, and its acknowledgement is lost, every time.
		Match:      func(c sfsync.Change) bool { return !networkFixed.Load() && c.RecordID == "C-005" },
		Err:        synctest.ErrTimeout,
		AfterApply: true,
		Times:      -1,
	})

	api := &erpAPI{erp: erp, sent: map[string]int{}}
	engine, err := sync.New(feed.Source(), api,
		sync.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		sync.WithStore(state),
		sync.WithClock(clk.Now),
		// Retry a failed write twice more, at once, then dead-letter it.
		sync.WithBackOff(func() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 2) }),
	)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- engine.Run(runCtx) }()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-done
		}
	}()

	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// Every contact has an outcome once the engine has processed as many
	// changes as were published; a dead letter is an outcome too.
	if err := engine.WaitUntil(waitCtx, func() bool { return engine.Stats().Processed >= int64(feed.Len()) }); err != nil {
		return fmt.Errorf("waiting for the first sync: %w", err)
	}

	fmt.Fprintf(out, "== sync at %s: %d contacts from Salesforce to the ERP\n", clk.Now().Format("15:04"), len(contacts))
	all, err := state.Outcomes(ctx, sfsync.OutcomeQuery{})
	if err != nil {
		return err
	}
	slices.SortStableFunc(all, func(a, b sfsync.Outcome) int { return strings.Compare(a.Key, b.Key) })
	for _, o := range all {
		fmt.Fprintf(out, "%-20s %-13s %s\n", o.Key, o.Status, o.Reason)
	}

	if err := listDeadLetters(ctx, out, state); err != nil {
		return err
	}

	key := keyOf["C-002"]
	fmt.Fprintf(out, "\n== inspect %s\n", key)
	d, err := state.DeadLetter(ctx, key)
	if err != nil {
		return err
	}
	c := d.Change
	fmt.Fprintf(out, "change:      %s %s %s, version %s, from %s\n", c.Op, c.Object, c.RecordID, c.Version.Time.Format("15:04"), c.Source)
	for _, f := range slices.Sorted(maps.Keys(c.Fields)) {
		fmt.Fprintf(out, "  %-10s %v\n", f, c.Fields[f])
	}
	fmt.Fprintf(out, "destination: %s\n", d.Destination)
	fmt.Fprintf(out, "error:       %s\n", d.Err)
	fmt.Fprintf(out, "kind:        %s\n", d.Kind)
	fmt.Fprintf(out, "attempts:    %d, failed first %s, last %s\n", d.Attempts, d.FirstFailed.Format("15:04"), d.LastFailed.Format("15:04"))
	_, inERP := erp.Record("Contact", "C-002")
	fmt.Fprintf(out, "in the ERP:  %v\n", inERP)
	rec, inERP := erp.Record("Contact", "C-005")
	fmt.Fprintf(out, "meanwhile C-005, dead-lettered after timeouts, is in the ERP: %v (Phone %v), applied %d time(s)\n",
		inERP, rec.Fields["Phone"], erp.Applications(keyOf["C-005"]))

	clk.Set(t0.Add(time.Hour))
	fmt.Fprintf(out, "\n== fix at %s: the ERP team relaxes Phone_Format; the network is back\n", clk.Now().Format("15:04"))
	ruleFixed.Store(true)
	networkFixed.Store(true)

	requeued := []string{keyOf["C-002"], keyOf["C-005"]}
	fmt.Fprintln(out, "\n== requeue, with the original idempotency keys")
	for _, k := range requeued {
		o, err := engine.Requeue(ctx, k)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-20s %-13s %s\n", k, o.Status, o.Reason)
	}
	if _, err := engine.Requeue(ctx, keyOf["C-002"]); errors.Is(err, sfsync.ErrNotFound) {
		fmt.Fprintf(out, "%-20s no longer dead-lettered; a second requeue finds nothing\n", keyOf["C-002"])
	} else {
		return fmt.Errorf("second requeue of %s: %v, expected ErrNotFound", keyOf["C-002"], err)
	}

	drop := keyOf["C-004"]
	fmt.Fprintf(out, "\n== purge %s: C-004 duplicates ERP customer P-0042; merge by hand, do not sync\n", drop)
	if err := state.DeleteDeadLetter(ctx, drop); err != nil {
		return err
	}

	if err := listDeadLetters(ctx, out, state); err != nil {
		return err
	}

	fmt.Fprintln(out, "\n== ledger of the requeued keys")
	for _, k := range requeued {
		lines, err := state.Outcomes(ctx, sfsync.OutcomeQuery{Key: k})
		if err != nil {
			return err
		}
		for _, o := range lines {
			fmt.Fprintf(out, "%s  %-20s %-13s attempts %d  %s\n", o.At.Format("15:04"), o.Key, o.Status, o.Attempts, o.Reason)
		}
	}

	fmt.Fprintln(out, "\n== ERP: writes sent and taken effect per key")
	for _, c := range contacts {
		k := keyOf[c.id]
		fmt.Fprintf(out, "%s %-20s sent %d, took effect %d\n", c.id, k, api.Sent(k), erp.Applications(k))
	}

	stop()
	stopped = true
	return <-done
}

func listDeadLetters(ctx context.Context, out io.Writer, state sfsync.DeadLetterStore) error {
	dls, err := state.DeadLetters(ctx, sfsync.DeadLetterQuery{})
	if err != nil {
		return err
	}
	slices.SortFunc(dls, func(a, b sfsync.DeadLetter) int { return strings.Compare(a.Key(), b.Key()) })
	fmt.Fprintf(out, "\n== dead letters: %d\n", len(dls))
	for _, d := range dls {
		fmt.Fprintf(out, "%-20s %-7s %-10s attempts %d  %s\n", d.Key(), d.Change.RecordID, d.Kind, d.Attempts, d.Err)
	}
	return nil
}
