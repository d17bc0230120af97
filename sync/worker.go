package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sfsync/sfsync"
)

// worker owns the records whose ids hash to its lane, so changes to one
// record are handled one after another, in arrival order.
func (e *Engine) worker(ctx context.Context, lane int) {
	vc := e.versions
	in := e.lanes[lane]
	var carry *item
	// Reused batch after batch: processBatch keeps neither.
	var batch []*item
	seen := map[string]bool{}
	for {
		first := carry
		carry = nil
		if first == nil {
			var ok bool
			if first, ok = <-in; !ok {
				return
			}
		}
		clear(batch)
		clear(seen)
		batch = append(batch[:0], first)
		seen[first.recordKey()] = true
	fill:
		for len(batch) < e.cfg.maxBatch {
			select {
			case it, ok := <-in:
				if !ok {
					break fill
				}
				// A second change to a record waits for the first to finish,
				// so that it is decided against the state the first left.
				if seen[it.recordKey()] {
					carry = it
					break fill
				}
				seen[it.recordKey()] = true
				batch = append(batch, it)
			default:
				break fill
			}
		}
		e.processBatch(ctx, vc, batch)
	}
}

// processBatch takes items through validation, deduplication,
// transformation, routing and loop prevention, then writes the survivors
// grouped by route. A change that needs a re-read of some fields finishes
// only after it: its outcome waits, and a failed re-read retries and ends
// in a dead letter like a failed write.
func (e *Engine) processBatch(ctx context.Context, vc *versionCache, items []*item) {
	// The batch's changes are in their lane until it ends: decided,
	// parked, or left to a redelivery (see queuedFrom).
	defer func() {
		for _, it := range items {
			e.queue(it, -1)
		}
	}()
	if ctx.Err() != nil {
		// Stopping without draining (fenced, failed, drain timeout): no
		// write starts; the changes keep no outcome and are redelivered.
		return
	}
	var groups [][]*work
	byRoute := map[*Route]int{}
	// Taken before any dedup lookup of the batch (see parkBehind).
	lookedAt := e.leftParkCount()
	known := e.seenMany(ctx, items)
	// The versions of the batch's records in one read; prepare reads the
	// few whose canonical key differs.
	keys := make([]string, 0, len(items))
	for _, it := range items {
		keys = append(keys, it.recordKey())
	}
	if !e.loadVersions(ctx, vc, keys) {
		return
	}
	// Keys taken up by earlier items of this batch: their outcomes are not
	// on their way yet, so a redelivery in the same batch is caught here.
	taken := make(map[string]bool, len(items))
	var ready []*work
	var gates []string
	for _, it := range items {
		w, res := e.prepare(ctx, vc, it, known, taken)
		if res != nil {
			e.emit(*res)
			continue
		}
		if w == nil {
			return
		}
		switch w.c.Op {
		case sfsync.OpGap:
			e.reread(ctx, vc, w)
			continue
		case sfsync.OpOverflow:
			e.resync.push(w, e.cfg.windowMargin)
			continue
		}
		ready = append(ready, w)
	}
	if ctx, gates = e.gates.enterFor(ctx, e.gated(ready, nil)); ctx == nil {
		return
	}
	defer e.gates.leave(gates)
	for _, w := range ready {
		// Asked under the records' gates: another lane, holding one, may
		// park a change of w's record from w's source until it leaves it
		// (a repair is the winner's change, decided in the losing change's
		// lane, under the other id of a linked record), and w, written
		// first, would overtake it (seed 103548). A redelivery parkBehind finds is final at once: only then does the
		// change's outcome wait for its re-read.
		if e.parkBehind(ctx, w, lookedAt) {
			// An earlier change of the record waits: this one waits behind it.
			continue
		}
		if len(w.c.Reread) > 0 {
			w.it.hold = new([]result)
		}
		g, ok := byRoute[w.route]
		if !ok {
			g = len(groups)
			byRoute[w.route] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], w)
	}
	for _, g := range groups {
		parked := e.write(ctx, vc, g)
		e.park(parked)
		for _, w := range g {
			if !slices.Contains(parked, w) {
				e.finish(ctx, vc, w)
			}
		}
	}
}

// finish completes a written change: its repair, then its re-read.
func (e *Engine) finish(ctx context.Context, vc *versionCache, w *work) {
	e.runRepair(ctx, vc, w)
	if len(w.c.Reread) > 0 && w.it.hold != nil {
		e.rereadFields(ctx, vc, w)
	}
}

// loadVersions reads the version map entries of records that the lane does
// not hold, retrying while the store fails: deciding without them could let
// an older change overwrite newer data. It reports false when the engine
// stops first.
func (e *Engine) loadVersions(ctx context.Context, vc *versionCache, records []string) bool {
	var bo lazyBackOff
	for {
		err := vc.load(ctx, records)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := bo.next(e)
		if wait < 0 || sfsync.IsPermanent(err) {
			e.fail(fmt.Errorf("sync: the version map cannot be read; stopping so that no change is decided without it: %w", err))
			return false
		}
		e.log.Warn("sfsync: reading applied versions failed; retrying", "err", err, "wait", wait)
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// prepare returns the change in canonical shape with its route, or the
// final result when the change stops before the write-back decision. It
// returns neither when the engine stops before the change is decided.
func (e *Engine) prepare(ctx context.Context, vc *versionCache, it *item, known, taken map[string]bool) (w *work, res *result) {
	defer func() {
		// A panic in a user's validator, converter or link reader, or in
		// decoding what a source handed over, dead-letters the change and
		// leaves the engine running.
		if p := recover(); p != nil {
			w, res = nil, e.deadLetter(it, it.c, "", fmt.Errorf("%w: panic while preparing the change: %v", sfsync.ErrInvalid, p), 0)
		}
	}()
	// c shares it.c's maps and slices: the engine's own steps replace what
	// they change (checkSalesforce, flattenSalesforce, decide), so it.c
	// stays as received for dead letters without a copy of every change.
	c := it.c
	if err := e.validate(&c); err != nil {
		return nil, e.deadLetter(it, c, "", err, 0)
	}
	if it.c.Key == "" {
		it.c.Key = c.Key
	}
	if taken[c.Key] {
		return nil, e.final(it, c, "", sfsync.StatusDuplicate, "delivered twice in one batch; the first delivery decides", false)
	}
	if dup, err := e.seen(ctx, c.Key, known); err != nil {
		e.log.Warn("sfsync: dedup lookup failed; processing the change (writes are idempotent by key)", "key", c.Key, "err", err)
	} else if dup {
		return nil, e.final(it, c, "", sfsync.StatusDuplicate, "idempotency key already has an outcome", false)
	}
	taken[c.Key] = true
	if it.repair {
		// Built by the engine in canonical shape.
	} else if err := e.transform(ctx, &c); err != nil {
		return nil, e.deadLetter(it, c, "", err, 0)
	}
	record := recordKeyOf(it, &c)
	if c.Op == sfsync.OpUpdate && len(c.Fields) == 0 && len(c.Nulled) == 0 && len(c.Reread) == 0 {
		if !e.loadVersions(ctx, vc, []string{record}) {
			return nil, nil
		}
		res := e.final(it, c, "", sfsync.StatusSkipped, "no mapped field changed", true)
		// It still moved its system's record version: it explains it,
		// though it changed no data (see fieldUnmapped).
		res.versions = vc.rememberUnmapped(&c, record)
		return nil, res
	}
	r := e.route(&c)
	if r == nil {
		err := fmt.Errorf("%w: no route for %s changes of %s; add one with WithRoute", sfsync.ErrInvalid, c.Source, c.Object)
		return nil, e.deadLetter(it, c, "", err, 0)
	}
	if c.Op.NeedsReread() || c.Op == sfsync.OpEvent || it.repair || c.Origin.Client == repairClient {
		// A repair is the engine's own change, built from the winner's
		// values, which may be values the engine wrote there: never an
		// echo, requeued from the dead letters too.
		return newWork(it, c, r), nil
	}
	if !e.loadVersions(ctx, vc, []string{record}) {
		return nil, nil
	}
	var why string
	var err error
	if it.requeue == nil || it.requeue.Destination == "" {
		// A change that failed after its routing was told from an echo
		// then, before any write of ours since: requeued, it is the
		// source's own change still, whatever our writes since put in
		// the record (their fingerprints are their echoes' to take).
		why, err = e.echo(ctx, vc, &c, record)
	}
	if err != nil {
		e.log.Warn("sfsync: echo lookup failed; deciding without it", "key", c.Key, "err", err)
	} else if why != "" {
		res := e.final(it, c, r.To, sfsync.StatusEcho, why, true)
		// Our own data came back: the source changed the record at this
		// version, with values whose versions the map already has.
		res.versions = vc.rememberEchoAfter(&c, record, e.parkedDelete(c.Source, record))
		e.crossing.echoed(record, &c)
		return nil, res
	}
	it.crossing = e.crossing.open(record, &c)
	e.crossing.landed(ctx, it.crossing)
	return newWork(it, c, r), nil
}

// newWork makes the work item of it, in room it has for one: an item is
// prepared once, and its work lives no longer than it does.
func newWork(it *item, c sfsync.Change, r *Route) *work {
	w := &it.work
	if w.it != nil {
		w = new(work)
	}
	*w = work{it: it, c: c, route: r}
	w.notes = w.notesRoom[:0]
	return w
}

func (e *Engine) validate(c *sfsync.Change) error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", sfsync.ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Source == "":
		return invalid("change has no source system")
	case !c.Op.Valid():
		return invalid("unknown operation %q", c.Op)
	case c.Op == sfsync.OpUndecodable:
		reason := "no reason given"
		if c.Raw != nil {
			reason = c.Raw.Reason
		}
		return fmt.Errorf("%w: the source could not decode this event (schema %q): %s; it is kept whole here: fix the cause and requeue it", sfsync.ErrInvalid, c.Schema, reason)
	case c.Object == "":
		return invalid("change has no object")
	case c.RecordID == "" && c.Op != sfsync.OpOverflow && c.Op != sfsync.OpEvent:
		return invalid("%s change of %s has no record id", c.Op, c.Object)
	}
	if e.cfg.tenant != "" && c.Source.IsSalesforce() && !sfsync.SameID(c.Tenant, e.cfg.tenant) {
		if c.Tenant == "" {
			return invalid("Salesforce change has no org id; expected %s", e.cfg.tenant)
		}
		return invalid("change belongs to org %s, not %s", c.Tenant, e.cfg.tenant)
	}
	if c.Key == "" {
		if c.Version.IsZero() {
			return invalid("change has neither an idempotency key nor a version to derive one from")
		}
		c.Key = fmt.Sprintf("%s:%s:%s:%s", c.Source, c.Object, c.RecordID, c.Version)
	}
	if bad := unwritableValues(c); len(bad) > 0 {
		return invalid("values no system can store: %s", strings.Join(bad, "; "))
	}
	if e.cfg.validate != nil {
		// The validator is the user's code: it gets a copy to look at.
		*c = c.Clone()
		if err := e.cfg.validate(*c); err != nil {
			return fmt.Errorf("%w: %w", sfsync.ErrInvalid, err)
		}
	}
	return nil
}

// seen reports whether key already has an outcome: on its way to the
// store, held until its repair or re-read finishes, or stored. known, when not nil, holds the stored answer for the
// keys of the current batch.
func (e *Engine) seen(ctx context.Context, key string, known map[string]bool) (bool, error) {
	e.pendingMu.Lock()
	pending := e.keys[key].inFlight() // on its way, or decided and held
	e.pendingMu.Unlock()
	if pending {
		return true, nil
	}
	if known != nil {
		if dup, asked := known[key]; asked {
			return dup, nil
		}
	}
	return e.st.dedup.Seen(ctx, key)
}

// seenMany asks the store about every keyed item of a batch at once, when it
// can answer so. The answers stay valid for the batch: only this worker
// processes changes of these records.
func (e *Engine) seenMany(ctx context.Context, items []*item) map[string]bool {
	b, ok := e.st.dedup.(sfsync.SeenBatcher)
	if !ok || len(items) < 2 {
		return nil
	}
	// Keys with an outcome on its way count as seen, and are read before the
	// store: an outcome committed between the two reads moves from pending
	// to stored, and is found in one or the other.
	known := make(map[string]bool, len(items))
	keys := make([]string, 0, len(items))
	e.pendingMu.Lock()
	for _, it := range items {
		if k := it.c.Key; k != "" {
			if e.keys[k].inFlight() {
				known[k] = true
			} else {
				keys = append(keys, k)
			}
		}
	}
	e.pendingMu.Unlock()
	seen, err := b.SeenMany(ctx, keys)
	if err != nil {
		e.log.Warn("sfsync: batched dedup lookup failed; looking keys up one by one", "err", err)
		return nil
	}
	for _, k := range keys {
		known[k] = seen[k]
	}
	return known
}

func (e *Engine) transform(ctx context.Context, c *sfsync.Change) error {
	if c.Op == sfsync.OpEvent {
		return nil
	}
	if c.Source.IsSalesforce() {
		flattenSalesforce(c)
		if m := e.maps.bySF[c.Object]; m != nil {
			if err := e.link(ctx, m, c); err != nil {
				return err
			}
			return m.checkSalesforce(c)
		}
		return nil
	}
	if m := e.maps.forExternal(c.Source, c.Object); m != nil {
		return m.toCanonical(c)
	}
	return nil
}

// provesOrigin reports whether every change from sys says whether the
// engine made it: Salesforce with a client id, whose writes carry
// changeOrigin client=<id>. For such a source origin alone decides, and no
// fingerprint is kept or consulted.
func (e *Engine) provesOrigin(sys sfsync.System) bool {
	return sys.IsSalesforce() && e.cfg.clientID != ""
}

// echo reports why c is the echo of our own write, or "" when it is not.
func (e *Engine) echo(ctx context.Context, vc *versionCache, c *sfsync.Change, record string) (string, error) {
	byOrigin := e.echoByOrigin(c)
	if e.provesOrigin(c.Source) {
		return byOrigin, nil
	}
	// The first change of a field after our write uses the write's
	// fingerprint up, echo or not, so it is consulted even when origin
	// already tells.
	byPrint, err := e.echoByFingerprint(ctx, vc, c, record, byOrigin != "")
	if byOrigin != "" {
		return byOrigin, nil
	}
	return byPrint, err
}

func (e *Engine) echoByOrigin(c *sfsync.Change) string {
	if e.cfg.clientID != "" && c.Origin.Client == e.cfg.clientID {
		return fmt.Sprintf("echo of our own write (origin client %s)", c.Origin.Client)
	}
	if e.cfg.integrationUser != "" && c.Origin.User == e.cfg.integrationUser {
		return fmt.Sprintf("echo of our own write (committed by integration user %s)", c.Origin.User)
	}
	return ""
}

// echoByFingerprint reports a change whose every value is one the engine
// itself wrote to the change's source system. Each value it reports
// consumes the oldest write remembered for its field, whatever the answer,
// unless the change is older than data of another system already applied
// to that field: such a change was made before our write (its events can
// arrive after we wrote), so it is neither the write's echo nor a later edit
// that proves the write will have none. An echo its origin proves ours
// (ours) uses them up whatever its version: it is the write, and its
// version is the written change's, which data applied since may be newer
// than.
func (e *Engine) echoByFingerprint(ctx context.Context, vc *versionCache, c *sfsync.Change, record string, ours bool) (string, error) {
	if !e.mayEcho(c.Source) {
		return "", nil
	}
	fps := fingerprintsOf(c.Source, c, e.cfg.ignoredFields)
	if len(fps) == 0 {
		return "", nil
	}
	all := true
	for _, p := range fps {
		if !ours && vc.olderThanOthers(c, record, p.field) {
			all = false
			continue
		}
		ok, err := e.st.echoes.MatchWrite(ctx, p.fp)
		if err != nil {
			return "", err
		}
		all = all && ok
	}
	if !all {
		return "", nil
	}
	return fmt.Sprintf("echo of our own write (all %d values match our writes)", len(fps)), nil
}

// mayEcho reports whether changes from sys can be echoes of our writes:
// some route writes to sys, or to a destination the engine cannot name.
func (e *Engine) mayEcho(sys sfsync.System) bool {
	for i := range e.routes {
		if to := e.routes[i].To; to == "" || to == sys {
			return true
		}
	}
	return false
}

func (e *Engine) final(it *item, c sfsync.Change, dest sfsync.System, st sfsync.Status, reason string, claim bool) *result {
	o := e.outcome(it, c, dest, st, reason, 0)
	return &result{it: it, outcome: o, claim: claim && o.Key != ""}
}

func (e *Engine) outcome(it *item, c sfsync.Change, dest sfsync.System, st sfsync.Status, reason string, attempts int) sfsync.Outcome {
	return sfsync.Outcome{
		Key: it.c.Key, Tenant: c.Tenant, Object: c.Object, RecordID: c.RecordID,
		Source: c.Source, Destination: dest, Op: c.Op, Status: st, Reason: reason,
		Attempts: attempts, Version: c.Version, Position: it.c.Position, At: e.cfg.clock(),
	}
}

func (e *Engine) deadLetter(it *item, c sfsync.Change, dest sfsync.System, err error, attempts int) *result {
	now := e.cfg.clock()
	kept := it.c
	if it.rereadAs != nil {
		// An event re-read by id in its place (see handOff): what failed
		// is the record as read, decided just after what was applied,
		// and the version map holds it so. Requeued as the event, at its
		// own commit time, it would be stale against that; as a row, it
		// is read again.
		kept = *it.rereadAs
	}
	d := sfsync.DeadLetter{
		Change: kept, Destination: dest, Err: err.Error(), Kind: sfsync.KindOf(err),
		Attempts: attempts, FirstFailed: now, LastFailed: now,
	}
	if prev := it.requeue; prev != nil {
		// The store adds the attempts up when it replaces prev.
		d.FirstFailed = prev.FirstFailed
	}
	if d.Kind == sfsync.KindUnknown && attempts > 0 {
		d.Kind = sfsync.KindRetryable
	}
	o := e.outcome(it, c, dest, sfsync.StatusDeadLettered, err.Error(), attempts)
	return &result{it: it, outcome: o, dead: &d}
}

// emit hands a result to the committer. Keys with an outcome on the way
// count as seen, so a redelivery in the same batch is a duplicate.
func (e *Engine) emit(r result) {
	if r.it.hold != nil {
		// The change is not finished: its re-read or repair comes first.
		// Its decision is made, though: a redelivery waiting in the park
		// must see it (see unparkRecord).
		e.countDeciding(&r)
		*r.it.hold = append(*r.it.hold, r)
		return
	}
	keyed := r.outcome.Key != "" && r.outcome.Status != sfsync.StatusDeadLettered
	if keyed || len(r.versions) > 0 {
		e.pendingMu.Lock()
		if keyed {
			// Counted as pending, and as deciding as countDeciding would,
			// in one update under one lock.
			k := e.keys[r.outcome.Key]
			k.pending++
			if decides(&r) {
				k.deciding++
				r.deciding = true
			}
			e.keys[r.outcome.Key] = k
		}
		// A result's entries are one record's, field after field: one
		// count per run of a record, matched in flush, keeps the map
		// work per result, not per field.
		for i, v := range r.versions {
			if i == 0 || v.Record != r.versions[i-1].Record {
				e.unsaved[v.Record]++
			}
		}
		e.pendingMu.Unlock()
	}
	e.results <- r
	if after := r.it.after; after != nil {
		r.it.after = nil
		e.emitAll(*after)
	}
}

// countDeciding counts r in Engine.deciding when it decides its change,
// once.
func (e *Engine) countDeciding(r *result) {
	if !decides(r) {
		return
	}
	e.pendingMu.Lock()
	k := e.keys[r.outcome.Key]
	k.deciding++
	e.keys[r.outcome.Key] = k
	e.pendingMu.Unlock()
	r.deciding = true
}

// decides reports whether r decides its change and is not counted in
// Engine.keys as deciding yet.
func decides(r *result) bool {
	return !r.deciding && r.claim && r.outcome.Key != "" && r.outcome.Status != sfsync.StatusDeadLettered
}

// settleKeyLocked takes back a result's counts of key once it is
// committed (pending) or dropped, and forgets the key when none is left.
func (e *Engine) settleKeyLocked(key string, pending, deciding bool) {
	k := e.keys[key]
	if pending {
		k.pending--
	}
	if deciding {
		k.deciding--
	}
	if !k.inFlight() {
		delete(e.keys, key)
		return
	}
	k.pending, k.deciding = max(k.pending, 0), max(k.deciding, 0)
	e.keys[key] = k
}

// uncountDeciding undoes countDeciding for held results that are dropped.
func (e *Engine) uncountDeciding(rs []result) {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	for i := range rs {
		if rs[i].deciding {
			e.settleKeyLocked(rs[i].outcome.Key, false, true)
		}
	}
}

// isUnsaved reports whether record has version map entries on their way to
// the store.
func (e *Engine) isUnsaved(record string) bool {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	return e.unsaved[record] > 0
}

func joinNotes(base string, notes []string) string {
	if len(notes) == 0 {
		return base
	}
	return base + "; " + strings.Join(notes, "; ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
