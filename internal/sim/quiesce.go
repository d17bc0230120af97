package sim

import (
	"context"
	"errors"
	"fmt"
	"time"
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
// flight, and a further round finds nothing new. Salesforce streams are
// marked by pinging each object's sentinel record (written as the engine,
// so its change events are skipped as echoes): once the ping is delivered,
// so is everything the org emitted before it.
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
	for k, d := range r.deliveredKeys() {
		if !r.store.hasOutcome(k) {
			return fmt.Sprintf("no outcome yet for %s", d.Desc), false
		}
	}
	if s := in.eng.Stats(); s.InFlight > 0 {
		return fmt.Sprintf("%d changes in flight", s.InFlight), false
	}
	return "", true
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
