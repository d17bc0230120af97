package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	ssync "github.com/sfsync/sfsync/sync"
)

// errNotQuiescent ends a scenario whose systems never went quiet.
var errNotQuiescent = errors.New("not quiescent")

// until waits for cond. It is woken by the engine's commits (through the
// watched sources) and, since some conditions change without a commit (a
// record appearing in a target), re-checks it every few milliseconds.
func (r *run) until(limit time.Duration, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(r.ctx, limit)
	defer cancel()
	for {
		tick, stop := context.WithTimeout(ctx, 5*time.Millisecond)
		err := r.prog.Until(tick, what, cond)
		stop()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting %s for %s: %w", limit, what, ctx.Err())
		}
	}
}

// settle waits until both systems are quiet: every stream has been read to
// its end, every delivered change has a durable outcome, nothing is in
// flight, the engine has no work of its own left (a backfill owed, running
// or waiting to run again, a change waiting for its target's event), and a
// further round finds nothing new. Salesforce streams are marked by
// pinging each object's sentinel record (written as the engine, so its
// change events are skipped as echoes): once the ping is delivered, so is
// everything the org emitted before it.
//
// Why that is enough: the engine writes only for a delivery it has taken
// (in flight until its outcome, repair included, is durable) or for work
// of its own, such as a backfill, whose records are no deliveries
// (Stats.Background counts it). It counts a delivery only once it has
// taken it, after the simulator saw it, so what each source handed over is
// compared with what the engine took (StreamState.Delivered). Both sinks
// count a write before the engine hears of it and both systems publish its
// echo before they answer, so a write made during a round changes the
// signature, and its echo is delivered before the next round's ping.
func (r *run) settle(why string) error {
	if r.cur == nil {
		return nil
	}
	r.release()
	deadline := time.Now().Add(r.opt.Wait)
	last := ""
	for round := 0; ; round++ {
		r.mu.Lock()
		r.ping++
		ping := r.ping
		r.mu.Unlock()
		for _, o := range r.sc.Objects {
			// A row update: injected faults aim at the collections calls
			// the engine's sink makes.
			ok, err := retry(func() (bool, error) {
				err := r.pinger.Update(r.ctx, o.Name, r.sentinel[o.Name], map[string]any{o.Fields[0].SF: fmt.Sprintf("ping-%d", ping)})
				return err == nil, err
			})
			if !ok {
				return fmt.Errorf("pinging the %s sentinel: %w", o.Name, err)
			}
		}
		var state string
		err := r.until(time.Until(deadline), "quiescence ("+why+")", func() bool {
			var ok bool
			state, ok = r.quiet(ping)
			if r.opt.judged != nil {
				r.opt.judged(state, ok)
			}
			return ok
		})
		if err != nil {
			r.violate(InvQuiescent, "", fmt.Sprintf("%s: not quiescent after %s: %s", why, r.opt.Wait, state))
			return errNotQuiescent
		}
		sig := r.signature()
		if sig == last {
			return nil
		}
		last = sig
		if round > 40 {
			r.violate(InvNoLoop, "", fmt.Sprintf("%s: still writing after %d rounds (%s)", why, round, sig))
			return errNotQuiescent
		}
	}
}

// quiet reports whether every stream is read up to ping and every
// delivered change has an outcome, and if not, what is missing.
func (r *run) quiet(ping int) (string, bool) {
	in := r.cur
	if in == nil {
		return "no engine", false
	}
	r.mu.Lock()
	for _, o := range r.sc.Objects {
		if r.pingSeen[o.Name] < ping {
			seen := r.pingSeen[o.Name]
			r.mu.Unlock()
			return fmt.Sprintf("%s stream read up to ping %d of %d", o.Name, seen, ping), false
		}
	}
	r.mu.Unlock()
	if b := r.ext.backlog(r); b != "" {
		return b, false
	}
	// A delivery is recorded (and a ping seen) before its source hands it
	// over, and the engine counts it (InFlight) only once it has taken it:
	// a delivery still on its way in shows only in what the source handed
	// over (counted before the delivery is recorded).
	streams := in.eng.Streams()
	if len(streams) != len(in.sources) {
		return fmt.Sprintf("the engine reports %d streams for %d sources", len(streams), len(in.sources)), false
	}
	for i, w := range in.sources {
		if n := w.handed.Load(); streams[i].Delivered < n || streams[i].InFlight > 0 {
			return fmt.Sprintf("stream %s: the engine has taken %d of the %d deliveries handed over, %d without an outcome",
				streams[i].Name, streams[i].Delivered, n, streams[i].InFlight), false
		}
	}
	for k, d := range r.deliveredKeys() {
		if !r.store.hasOutcome(k) {
			return fmt.Sprintf("no outcome yet for %s", d.Desc), false
		}
	}
	s := in.eng.Stats()
	if s.InFlight > 0 {
		return fmt.Sprintf("%d changes in flight", s.InFlight), false
	}
	if s.Background > 0 {
		return background(in.eng, s.Background), false
	}
	return "", true
}

// background says what work of the engine that no source delivered is
// left: n pieces, and the backfills that are not done.
func background(eng *ssync.Engine, n int64) string {
	what := fmt.Sprintf("%d pieces of background work (reconciliations, resyncs and backfills, changes waiting for their target's event)", n)
	for _, b := range eng.Backfills() {
		if b.Phase != ssync.PhaseDone {
			what += fmt.Sprintf("; backfill of %s %s (%d of %d records read)", b.Object, b.Phase, b.Read, b.Total)
			if b.Err != nil {
				what += fmt.Sprintf(", its last run failed and it runs again: %v", b.Err)
			}
		}
	}
	return what
}

// signature sums up everything that changes when either system does
// anything but answer pings.
func (r *run) signature() string {
	r.mu.Lock()
	n := len(r.deliveries)
	r.mu.Unlock()
	_, sf := r.toSF.counts()
	_, ext := r.toExt.counts()
	return fmt.Sprintf("deliveries=%d feed=%d writes to SF=%d to ERP=%d", n, r.ext.size(r.ctx), sf, ext)
}
