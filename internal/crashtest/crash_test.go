package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
	"github.com/sfsync/sfsync/store/sqlite"
)

// event is one source event: a change event the fake org emitted for an
// insert or a UI edit, as the parent read it back from the org's Pub/Sub
// API.
type event struct {
	replay []byte // its replay id
	key    string // the idempotency key pubsub's decoder gives it
	record string
	update int // 0 for the insert, u for the edit of round u
}

// industry is the value a record's Industry gets in round u.
func industry(u int) string { return fmt.Sprintf("industry-%d", u) }

// eventKeyOf returns the key of the event of round u of record id ("" when
// there is none).
func eventKeyOf(events []event, id string, u int) string {
	for _, ev := range events {
		if ev.record == id && ev.update == u {
			return ev.key
		}
	}
	return ""
}

// readSource subscribes once to the org's topic from the earliest retained
// event and reads want events, in replay order. Their keys are the ones the
// child's decoder gives them, since the org makes up the transaction keys,
// and their replay ids are what the checkpoint check compares against. Each
// event must carry one change of one record, and a record's events must
// carry its rounds' values in order.
func readSource(t *testing.T, addr string, tlsConfig *tls.Config, creds pubsub.Credentials, want int) []event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := pubsub.Dial(addr, pubsub.StaticToken(creds), pubsub.WithTLSConfig(tlsConfig), pubsub.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sub := client.Subscribe(topic, pubsub.WithFallback(pubsub.ReplayEarliest))
	defer sub.Close()
	rounds := map[string]int{}
	var events []event
	for len(events) < want {
		changes, err := sub.Receive(ctx)
		if err != nil {
			t.Fatalf("reading the source events (%d of %d): %v", len(events), want, err)
		}
		if len(changes) != 1 {
			t.Fatalf("an event carries %d changes, want 1: %+v", len(changes), changes)
		}
		c := changes[0]
		u := rounds[c.RecordID]
		rounds[c.RecordID]++
		wantOp := sfsync.OpUpdate
		if u == 0 {
			wantOp = sfsync.OpCreate
		}
		if c.Object != object || c.Op != wantOp || c.Fields["Industry"] != industry(u) ||
			c.Position.Stream != topic || len(c.Position.Token) == 0 || c.Key == "" {
			t.Fatalf("source event %d: %s %v of %s %s at %q %x with key %q and Industry %v, want %v with %s",
				len(events), c.Object, c.Op, c.RecordID, c.Origin.ChangeOrigin, c.Position.Stream, c.Position.Token, c.Key, c.Fields["Industry"], wantOp, industry(u))
		}
		if c.Key != fmt.Sprintf("%s:%s:%d", c.RecordID, c.Origin.Transaction, c.Version.Seq) {
			t.Fatalf("source event %d has key %q, want RecordID:transactionKey:sequenceNumber", len(events), c.Key)
		}
		if c.Origin.ChangeOrigin != salesforcetest.UIOrigin {
			t.Fatalf("source event %d has change origin %q, want the UI's", len(events), c.Origin.ChangeOrigin)
		}
		if n := len(events); n > 0 && bytes.Compare(c.Position.Token, events[n-1].replay) <= 0 {
			t.Fatalf("source event %d: replay id %x is not after %x", n, c.Position.Token, events[n-1].replay)
		}
		events = append(events, event{replay: c.Position.Token, key: c.Key, record: c.RecordID, update: u})
	}
	return events
}

// killPoint says when the parent kills a child run.
type killPoint struct {
	on string // "opening", "applied" or "checkpoint"; "" for the final run
	n  int    // the n-th line of that kind
}

func (k killPoint) String() string {
	if k.on == "" {
		return "never"
	}
	return fmt.Sprintf("%s #%d", k.on, k.n)
}

// runReport is what the parent learned from one child run.
type runReport struct {
	kill      killPoint
	killed    bool
	completed bool
	applied   int // changes the sink applied in this run
	skipped   int // re-offered changes the sink recognised by key
	writes    int
	commits   int
}

// TestCrashRecovery runs against a fake Salesforce org
// (salesforcetest.Org): it inserts records and edits them in the UI, so the
// org emits real change events on its Pub/Sub API, reads them back once to
// learn each event's replay id and idempotency key, and then runs the
// engine in child processes subscribed to the org's topic. It kills the
// engine with SIGKILL at seeded random points, injects redeliveries through
// the org's Pub/Sub server, and restarts it, and proves that its durable state survives every kill:
// (1) every source event ends with exactly one deciding outcome (anything
// but a recognised duplicate), (2) the external system applied every
// change exactly once, keyed by the change's idempotency key, and (3) after
// every kill, the stored checkpoint covers only events that have an
// outcome and never moves back; and finally that the external system
// holds the last update of every record, applied in source order.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("this is a child process")
	}
	start := time.Now()
	const records, updates = 40, 15
	kills := 40
	if testing.Short() {
		kills = 8
	}
	rng := rand.New(rand.NewPCG(1, 0))

	org := salesforcetest.NewOrg()
	t.Cleanup(org.Close)
	srv := org.PubSub()
	creds := pubsub.Credentials{AccessToken: org.AccessToken(), InstanceURL: org.URL(), TenantID: org.OrgID()}
	// The source: each record is inserted with its first value and then
	// edited in the UI once per further round, one transaction (so one
	// change event) per write.
	ids := make([]string, records)
	for r := range records {
		ids[r] = org.Insert(object, map[string]any{"Name": fmt.Sprintf("crash-%02d", r), "Industry": industry(0)})
	}
	for u := 1; u < updates; u++ {
		for _, id := range ids {
			if err := org.EditAsUser(object, id, map[string]any{"Industry": industry(u)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	events := readSource(t, srv.Addr(), org.ClientTLSConfig(), creds, records*updates)
	byKey := map[string]event{}
	for _, ev := range events {
		if _, dup := byKey[ev.key]; dup {
			t.Fatalf("the org emitted two events with the key %s", ev.key)
		}
		byKey[ev.key] = ev
	}
	for _, id := range ids {
		if eventKeyOf(events, id, updates-1) == "" {
			t.Fatalf("record %s has no event of its last update", id)
		}
	}
	last := events[len(events)-1].replay

	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := childConfig{Addr: srv.Addr(), Creds: creds, CA: string(ca), Topic: topic, DB: filepath.Join(dir, "state.db"), Sink: filepath.Join(dir, "sink.jsonl"), Last: hex.EncodeToString(last)}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}

	var reports []runReport
	var prevCheckpoint []byte
	totalDups := 0
	for run := 0; ; run++ {
		final := run >= kills
		var kp killPoint
		if !final {
			switch x := rng.IntN(8); {
			case x == 0:
				kp = killPoint{on: "opening", n: 1}
			case x <= 2:
				kp = killPoint{on: "checkpoint", n: 1 + rng.IntN(5)}
			default:
				kp = killPoint{on: "applied", n: 1 + rng.IntN(20)}
			}
		}
		// Every run sees a few redeliveries on top of the replays after a kill.
		dups := 2 + rng.IntN(6)
		totalDups += dups
		srv.InjectFault(pubsubtest.Fault{DuplicateNext: dups})
		rep := runChild(t, rawCfg, kp)
		reports = append(reports, rep)
		t.Logf("run %2d: kill at %-14s killed=%-5v applied=%3d skipped=%3d writes=%3d checkpoints=%3d",
			run, kp, rep.killed, rep.applied, rep.skipped, rep.writes, rep.commits)
		cp := checkState(t, cfg, events, byKey, prevCheckpoint, fmt.Sprintf("after run %d (kill at %s)", run, kp))
		if prevCheckpoint != nil && bytes.Compare(cp, prevCheckpoint) < 0 {
			t.Errorf("after run %d the checkpoint went back from %x to %x", run, prevCheckpoint, cp)
		}
		if cp != nil {
			prevCheckpoint = cp
		}
		if t.Failed() {
			t.FailNow()
		}
		if rep.completed {
			break
		}
	}

	// The final state.
	store, err := sqlite.Open(context.Background(), cfg.DB, sqlite.WithLogger(quietLogger()), sqlite.WithCompactionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cp, err := store.LoadCheckpoint(context.Background(), topic)
	if err != nil || !bytes.Equal(cp.Token, last) {
		t.Errorf("final checkpoint %x (%v), want the last replay id %x", cp.Token, err, last)
	}
	outcomes, err := store.Outcomes(context.Background(), sfsync.OutcomeQuery{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	deciding, duplicates, statuses := map[string]int{}, 0, map[sfsync.Status]int{}
	for _, o := range outcomes {
		statuses[o.Status]++
		if o.Status == sfsync.StatusDuplicate {
			duplicates++
			continue
		}
		deciding[o.Key]++
	}
	// (1) exactly one deciding outcome per source event.
	for _, ev := range events {
		if n := deciding[ev.key]; n != 1 {
			t.Errorf("(1) event %x (%s) has %d deciding outcomes, want 1", ev.replay, ev.key, n)
		}
	}
	for k := range deciding {
		if _, ok := byKey[k]; !ok {
			t.Errorf("(1) the ledger decided a change %q that is no source event", k)
		}
	}
	// (2) the external system applied each change exactly once, and its
	// keys are exactly the source events'.
	lines, torn, err := readApplied(cfg.Sink)
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string]int{}
	lastOf := map[string]applied{}
	updateOf := map[string][]int{}
	for _, a := range lines {
		perKey[a.Key]++
		lastOf[a.ID] = a
		if ev, ok := byKey[a.Key]; ok {
			updateOf[a.ID] = append(updateOf[a.ID], ev.update)
		}
	}
	for _, ev := range events {
		if n := perKey[ev.key]; n != 1 {
			t.Errorf("(2) change %s took effect %d times, want 1", ev.key, n)
		}
	}
	for k := range perKey {
		if _, ok := byKey[k]; !ok {
			t.Errorf("(2) the external system applied key %q, which names no source event", k)
		}
	}
	// The final external state is the last update of every record, and each
	// record's updates took effect in source order.
	for _, id := range ids {
		want := industry(updates - 1)
		if a, ok := lastOf[id]; !ok || a.Object != "company" || a.Fields["industry"] != want {
			t.Errorf("record %s in the external system = %+v, want industry %s", id, lastOf[id], want)
		}
		if !slices.IsSorted(updateOf[id]) {
			t.Errorf("record %s: updates took effect out of order: %v", id, updateOf[id])
		}
	}

	killed, skipped := 0, 0
	for _, rep := range reports {
		if rep.killed {
			killed++
		}
		skipped += rep.skipped
	}
	if killed == 0 {
		t.Error("no run was killed")
	}
	if duplicates == 0 {
		t.Error("no redelivery was recognised as a duplicate; the faults did not bite")
	}
	t.Logf("%d runs, %d killed with SIGKILL; %d events, %d effects in the external system (torn tail at %d), "+
		"%d re-offered writes absorbed by the sink's key check, %d redeliveries injected, %d recognised as duplicates in the ledger; outcomes by status %v; %s",
		len(reports), killed, len(events), len(lines), torn, skipped, totalDups, duplicates, statuses, time.Since(start).Round(time.Millisecond))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runChild starts a child, kills it at kp (never when kp.on is empty) and
// waits for it to end.
func runChild(t *testing.T, rawCfg []byte, kp killPoint) runReport {
	t.Helper()
	rep := runReport{kill: kp}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(rawCfg))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	watchdog := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()

	var other []string
	counts := map[string]int{}
	doneSeen := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		msg, ok := strings.CutPrefix(line, "crash: ")
		if !ok {
			other = append(other, line)
			continue
		}
		kind, _, _ := strings.Cut(msg, " ")
		counts[kind]++
		switch kind {
		case "applied":
			var n, s int
			if _, err := fmt.Sscanf(msg, "applied %d skipped %d", &n, &s); err != nil {
				t.Errorf("bad line %q: %v", line, err)
			}
			rep.applied += n
			rep.skipped += s
			rep.writes++
		case "checkpoint":
			rep.commits++
		case "done":
			doneSeen = true
		}
		if kp.on != "" && !rep.killed && kind == kp.on && counts[kind] == kp.n {
			// SIGKILL: no deferred function, no flush, no graceful close.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
			rep.killed = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil && doneSeen:
		rep.completed, rep.killed = true, false
	case errors.As(err, &exit) && rep.killed:
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, not by our SIGKILL\nstdout:\n%s\nstderr:\n%s", err, strings.Join(other, "\n"), stderr.String())
		}
	default:
		t.Fatalf("child ended with %v (killed=%v, done=%v)\nstdout:\n%s\nstderr:\n%s", err, rep.killed, doneSeen, strings.Join(other, "\n"), stderr.String())
	}
	return rep
}

// checkState inspects the durable state of a dead child: the SQLite file
// and the sink file. It returns the stored checkpoint (nil when none).
func checkState(t *testing.T, cfg childConfig, events []event, byKey map[string]event, prev []byte, when string) []byte {
	t.Helper()
	ctx := context.Background()
	lines, _, err := readApplied(cfg.Sink)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	effects := map[string]int{}
	for _, a := range lines {
		effects[a.Key]++
		if _, ok := byKey[a.Key]; !ok {
			t.Errorf("%s: (2) the external system applied key %q, which names no source event", when, a.Key)
		}
	}
	for k, n := range effects {
		if n != 1 {
			t.Errorf("%s: (2) change %s took effect %d times", when, k, n)
		}
	}
	if _, err := os.Stat(cfg.DB); errors.Is(err, os.ErrNotExist) {
		return nil // killed before the store was created
	}
	store, err := sqlite.Open(ctx, cfg.DB, sqlite.WithLogger(quietLogger()), sqlite.WithCompactionInterval(0))
	if err != nil {
		t.Fatalf("%s: reopening the state: %v", when, err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			t.Errorf("%s: closing the state: %v", when, err)
		}
	}()
	outcomes, err := store.Outcomes(ctx, sfsync.OutcomeQuery{Limit: 1 << 30})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	deciding := map[string]sfsync.Outcome{}
	for _, o := range outcomes {
		if o.Status == sfsync.StatusDuplicate {
			continue
		}
		if prev, ok := deciding[o.Key]; ok {
			t.Errorf("%s: (1) change %s has two deciding outcomes: %s at %x and %s at %x", when, o.Key, prev.Status, prev.Position.Token, o.Status, o.Position.Token)
		}
		deciding[o.Key] = o
		// An outcome that claims the change was applied must be backed by a
		// durable effect.
		if o.Status == sfsync.StatusApplied && effects[o.Key] == 0 {
			t.Errorf("%s: the ledger says %s was applied, but the external system has no such effect", when, o.Key)
		}
	}
	pos, err := store.LoadCheckpoint(ctx, topic)
	if errors.Is(err, sfsync.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	// (3) the checkpoint never passes an event without an outcome.
	var missing []string
	for _, ev := range events {
		if bytes.Compare(ev.replay, pos.Token) > 0 {
			break
		}
		if _, ok := deciding[ev.key]; !ok {
			missing = append(missing, fmt.Sprintf("%x (%s)", ev.replay, ev.key))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: (3) checkpoint %x is past %d events without an outcome: %v", when, pos.Token, len(missing), missing)
	}
	return pos.Token
}
