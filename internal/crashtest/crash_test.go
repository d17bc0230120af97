package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
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
	"github.com/sfsync/sfsync/internal/cdcschema"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/store/sqlite"
)

// event is one source event the parent appended.
type event struct {
	replay []byte
	key    string // the idempotency key pubsub's decoder gives it
	record string
	update int
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

// TestCrashRecovery kills the engine with SIGKILL at seeded random points
// and restarts it, and proves that its durable state survives every kill:
// (1) every source event ends with exactly one deciding outcome (anything
// but a recognised duplicate), (2) the external system applied every
// change exactly once, keyed by the change's idempotency key, and (3) after
// every kill, the stored checkpoint covers only events that have an
// outcome; and finally that the external system holds the last update of
// every record.
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

	srv := pubsubtest.NewServer()
	t.Cleanup(srv.Close)
	account, err := cdcschema.New("Account", cdcschema.AccountFields()...)
	if err != nil {
		t.Fatal(err)
	}
	schemaID, err := srv.AddTopic(topic, account.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var events []event
	byKey := map[string]event{}
	for u := range updates {
		for r := range records {
			id, tx := fmt.Sprintf("001%015d", r), fmt.Sprintf("tx-%d-%d", u, r)
			at := int64(1714156703000 + u*1000)
			payload, err := account.Encode(cdcschema.Header{
				RecordIDs: []string{id}, ChangeType: "UPDATE",
				ChangeOrigin: "com/salesforce/api/soap/62.0;client=SfdcInternalAPI/", TransactionKey: tx,
				SequenceNumber: 1, CommitTimestamp: at, CommitUser: "005000000000009AAA",
				ChangedFields: []string{"Industry", "LastModifiedDate"},
			}, map[string]any{"Industry": fmt.Sprintf("industry-%d", u), "LastModifiedDate": at})
			if err != nil {
				t.Fatal(err)
			}
			replay, err := srv.AppendEncoded(topic, schemaID, payload)
			if err != nil {
				t.Fatal(err)
			}
			ev := event{replay: replay, key: id + ":" + tx + ":1", record: id, update: u}
			events = append(events, ev)
			byKey[ev.key] = ev
		}
	}
	last := events[len(events)-1].replay

	dir := t.TempDir()
	cfg := childConfig{Addr: srv.Addr(), Topic: topic, DB: filepath.Join(dir, "state.db"), Sink: filepath.Join(dir, "sink.jsonl"), Last: hex.EncodeToString(last)}
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
	for r := range records {
		id := fmt.Sprintf("001%015d", r)
		want := fmt.Sprintf("industry-%d", updates-1)
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
