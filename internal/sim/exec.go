package sim

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// exec runs one step. Workload steps act on the systems as their users
// would, without waiting for the engine; a step that finds its record
// missing (not synced yet, or deleted) is skipped and says so, and only
// what took effect enters the model's history.
func (r *run) exec(i int, st Step) error {
	if st.Advance > 0 {
		r.clock.Advance(st.Advance)
	}
	r.tracef("step %d: %s", i, st.String())
	switch st.Kind {
	case StepCreate:
		r.create(st.Side, st.Rec, st.Fields)
	case StepCreateBoth:
		r.create(SF, st.Rec, st.Fields)
		r.create(Ext, st.Rec, st.Fields2)
	case StepBulkCreate:
		r.bulkCreate(st.Recs, st.Fields)
	case StepEdit:
		r.edit(st.Side, st.Rec, st.Fields)
	case StepBulk:
		r.bulk(st)
	case StepDelete:
		r.remove(st.Side, st.Rec)
	case StepUndelete:
		r.undelete(st.Rec)
	case StepSettle:
		if len(r.zombies) > 0 && r.cur != nil {
			if err := r.settle("before thawing the frozen engine"); err != nil {
				return err
			}
			r.thawZombies()
		}
		if r.cur != nil {
			return r.settle("settle step")
		}
	case StepFault:
		r.inject(st.Fault)
	case StepCrash:
		if r.cur == nil {
			return nil
		}
		if st.Progress > 0 {
			base := r.store.outcomes()
			// Not reaching it is fine: the crash then strikes earlier.
			_ = r.until(2*time.Second, "progress before a crash", func() bool { return r.store.outcomes() >= base+st.Progress })
		}
		if st.Backfill != "" {
			c := r.backfill.counter(st.Backfill)
			// Not reaching it is fine too: the backfill finished, or has
			// not started, and the crash strikes there.
			_ = r.until(2*time.Second, "the backfill reaching "+st.Backfill, func() bool { return c.Load() > 0 })
			r.count(FaultBackfill)
		}
		if st.Progress == 0 && st.Backfill == "" {
			r.aimAtOutbox()
		}
		r.count(FaultCrash)
		r.crash(r.cur)
		return r.start(st.DupExt)
	case StepTakeover:
		if r.cur == nil {
			return nil
		}
		r.count(FaultTakeover)
		return r.takeover()
	case StepStop:
		if r.cur == nil {
			return nil
		}
		if err := r.settle("before the outage"); err != nil {
			return err
		}
		r.stop(r.cur)
		r.stopped = r.clock.Now()
	case StepStart:
		if r.cur != nil {
			return nil
		}
		if r.clock.Now().Sub(r.stopped) > 72*time.Hour {
			r.count(FaultOutage)
		}
		return r.start(st.DupExt)
	case StepRequeue:
		r.count(FaultRequeue)
		return r.requeueAll()
	}
	return nil
}

// aimAtOutbox makes a plain crash strike between a read of local edits
// and its commit when the ERP has edits no source has read yet (only the
// pgmirror ERP tracks that): the next read kills the engine. Without such
// a read soon, the crash strikes as it is.
func (r *run) aimAtOutbox() {
	if !r.ext.unread(r.ctx) {
		return
	}
	ch := make(chan struct{})
	r.aim.Store(&ch)
	defer r.aim.Store(nil)
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-ch:
		r.count(FaultOutboxCrash)
		r.tracef("    the engine died right after reading local edits from the outbox")
	case <-t.C:
	case <-r.ctx.Done():
	}
}

func (r *run) obj(rec int) *objectSpec { return &r.sc.Objects[r.sc.Records[rec].Object] }

// record appends an edit that took effect to the model's history.
func (r *run) record(side Side, op string, rec int, fields map[string]any, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq[side]++
	e := edit{N: len(r.history) + 1, Side: side, Op: op, Rec: rec, Fields: maps.Clone(fields), T: t, Seq: r.seq[side]}
	r.history = append(r.history, e)
	r.trace = append(r.trace, fmt.Sprintf("    took effect: %s %s", r.sc.Records[rec].ExtID, e))
}

func (r *run) skip(rec int, why string) {
	r.tracef("    skipped (%s %s)", r.sc.Records[rec].ExtID, why)
}

// sfTime is the version the org stamps a write made now with.
func (r *run) sfTime() time.Time { return r.clock.Now().UTC().Truncate(time.Second) }

// extVersion is the version the ERP stamps an edit made now with: its own
// clock, off by the scenario's skew, and its row counter.
func (r *run) extVersion() sfsync.Version {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.extCounter++
	return sfsync.Version{Time: r.clock.Now().Add(r.sc.ExtSkew), Counter: r.extCounter}
}

func (r *run) extFields(rec int, fields map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range r.obj(rec).Fields {
		if v, ok := fields[f.SF]; ok {
			out[f.Ext] = v
		}
	}
	return out
}

func (r *run) create(side Side, rec int, fields map[string]any) {
	o, id := r.obj(rec), r.sc.Records[rec].ExtID
	if side == Ext {
		r.extEdit("create", rec, fields)
		return
	}
	row := maps.Clone(fields)
	row[linkField] = id
	t := r.sfTime()
	res, err := retry(func() (bool, error) {
		out, err := r.user.UpsertRecords(r.ctx, o.Name, linkField, []map[string]any{row}, false)
		return err == nil && len(out) == 1 && out[0].Success, err
	})
	if !res {
		r.skip(rec, fmt.Sprintf("upsert failed: %v", err))
		return
	}
	r.record(SF, "create", rec, fields, t)
}

// retry repeats a user's API call that an injected fault may have hit
// (faults come in runs of at most twelve).
func retry(f func() (bool, error)) (bool, error) {
	var err error
	for range 16 {
		var ok bool
		if ok, err = f(); ok {
			return true, nil
		}
	}
	return false, err
}

// allSaved reports whether a collection call saved every record. With
// allOrNone, one record's failure (an injected UNABLE_TO_LOCK_ROW) rolls
// the others back while the call itself succeeds: the edit did not take
// effect, and is tried again.
func allSaved(res []salesforce.SaveResult, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	for _, sr := range res {
		if err := sr.Err(); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (r *run) bulkCreate(recs []int, fields map[string]any) {
	o := r.obj(recs[0])
	var rows []map[string]any
	for _, rec := range recs {
		row := maps.Clone(fields)
		row[linkField] = r.sc.Records[rec].ExtID
		rows = append(rows, row)
	}
	t := r.sfTime()
	ok, err := retry(func() (bool, error) {
		return allSaved(r.user.UpsertRecords(r.ctx, o.Name, linkField, rows, true))
	})
	if !ok {
		r.tracef("    skipped (bulk upsert failed: %v)", err)
		return
	}
	for _, rec := range recs {
		r.record(SF, "create", rec, fields, t)
	}
}

// sfID returns the id of the live Salesforce record of rec.
func (r *run) sfID(rec int) (string, bool) {
	o, ext := r.obj(rec), r.sc.Records[rec].ExtID
	for _, row := range r.org.Records(o.Name) {
		if row[linkField] == ext {
			id, _ := row["Id"].(string)
			r.mu.Lock()
			r.sfIDs[rec] = id
			r.mu.Unlock()
			return id, true
		}
	}
	return "", false
}

// extEdit is a user's create or update in the ERP. Only the fields it
// changed enter the history: an edit that sets a field to the value it
// holds is no edit to the pgmirror ERP, whose trigger neither versions
// nor records it.
func (r *run) extEdit(op string, rec int, fields map[string]any) {
	o := r.obj(rec)
	v := r.extVersion()
	changed, err := r.ext.edit(r.ctx, o.Entity, r.sc.Records[rec].ExtID, r.extFields(rec, fields), v)
	if err != nil {
		r.skip(rec, err.Error())
		return
	}
	took := map[string]any{}
	for _, f := range o.Fields {
		if val, ok := fields[f.SF]; ok && slices.Contains(changed, f.Ext) {
			took[f.SF] = val
		}
	}
	if len(took) == 0 {
		r.skip(rec, "it changes nothing the ERP holds")
		return
	}
	r.record(Ext, op, rec, took, v.Time)
}

func (r *run) extLive(rec int) (exists, live bool) {
	got, ok := r.ext.record(r.ctx, r.obj(rec).Entity, r.sc.Records[rec].ExtID)
	return ok, ok && got.Exists && !got.Deleted
}

// present waits briefly for a record the other side has to reach side, as
// a user would only edit a record they can see. It gives up at once when
// no engine runs.
func (r *run) present(side Side, rec int) bool {
	check := func() bool {
		if side == SF {
			_, ok := r.sfID(rec)
			return ok
		}
		_, live := r.extLive(rec)
		return live
	}
	if check() {
		return true
	}
	other := func() bool {
		if side == SF {
			_, live := r.extLive(rec)
			return live
		}
		_, ok := r.sfID(rec)
		return ok
	}
	// Wait only for a record still on its way: not when no engine runs,
	// the other side lacks it too, or a delete may keep it away for good.
	if r.cur == nil || !other() || r.everDeleted(rec) {
		return false
	}
	return r.until(2*time.Second, "record to reach "+side.String(), check) == nil
}

func (r *run) edit(side Side, rec int, fields map[string]any) {
	if !r.present(side, rec) {
		r.skip(rec, "not live on "+side.String())
		return
	}
	o := r.obj(rec)
	if side == Ext {
		r.extEdit("update", rec, fields)
		return
	}
	id, _ := r.sfID(rec)
	t := r.sfTime()
	changed, err := r.org.ChangeAsUser(o.Name, id, fields)
	if err != nil {
		r.skip(rec, err.Error())
		return
	}
	// A field set to the value it holds is no change: its event does not
	// list it, and the model must not count it as set at t.
	if len(changed) < len(fields) {
		kept := make(map[string]any, len(changed))
		for _, f := range changed {
			kept[f] = fields[f]
		}
		if len(kept) == 0 {
			r.skip(rec, "every field already held its value in Salesforce")
			return
		}
		fields = kept
	}
	r.record(SF, "update", rec, fields, t)
}

func (r *run) bulk(st Step) {
	o := r.obj(st.Recs[0])
	var rows []map[string]any
	var done []int
	var vals []map[string]any
	for _, rec := range st.Recs {
		id, ok := r.sfID(rec)
		if !ok {
			continue
		}
		fields := maps.Clone(st.Fields)
		if v, ok := st.Fields2[fmt.Sprint(rec)]; ok {
			for k := range fields {
				fields[k] = v
			}
		}
		row := maps.Clone(fields)
		row["Id"] = id
		rows = append(rows, row)
		done = append(done, rec)
		vals = append(vals, r.unchanged(o.Name, id, fields))
	}
	if len(rows) == 0 {
		r.tracef("    skipped (no record live in Salesforce)")
		return
	}
	t := r.sfTime()
	ok, err := retry(func() (bool, error) {
		return allSaved(r.user.UpdateRecords(r.ctx, o.Name, rows, true))
	})
	if !ok {
		r.tracef("    skipped (bulk update failed: %v)", err)
		return
	}
	for i, rec := range done {
		if len(vals[i]) == 0 {
			r.skip(rec, "every field already held its value in Salesforce")
			continue
		}
		r.record(SF, "update", rec, vals[i], t)
	}
}

// unchanged drops from fields those the live Salesforce record id already
// holds: setting them changes nothing, and the edit's event does not list
// them. (Read just before a bulk update through the API, which does not
// say what it changed; a write of the engine in between is rare enough.)
func (r *run) unchanged(object, id string, fields map[string]any) map[string]any {
	cur, ok := r.org.Record(object, id)
	if !ok {
		return fields
	}
	out := make(map[string]any, len(fields))
	for f, v := range fields {
		if held, ok := cur[f]; !ok || fmt.Sprint(held) != fmt.Sprint(v) || (held == nil) != (v == nil) {
			out[f] = v
		}
	}
	return out
}

func (r *run) remove(side Side, rec int) {
	o := r.obj(rec)
	if side == Ext {
		if _, live := r.extLive(rec); !live {
			r.skip(rec, "not live on EXT")
			return
		}
		v := r.extVersion()
		ok, err := r.ext.remove(r.ctx, o.Entity, r.sc.Records[rec].ExtID, v)
		if err != nil || !ok {
			r.skip(rec, fmt.Sprintf("the ERP recorded no delete (%v)", err))
			return
		}
		r.record(Ext, "delete", rec, nil, v.Time)
		return
	}
	id, ok := r.sfID(rec)
	if !ok {
		r.skip(rec, "not live on SF")
		return
	}
	t := r.sfTime()
	if err := r.org.DeleteAsUser(o.Name, id); err != nil {
		r.skip(rec, err.Error())
		return
	}
	r.record(SF, "delete", rec, nil, t)
}

func (r *run) undelete(rec int) {
	r.mu.Lock()
	id, known := r.sfIDs[rec]
	r.mu.Unlock()
	if _, live := r.sfID(rec); live || !known {
		r.skip(rec, "nothing in the recycle bin")
		return
	}
	t := r.sfTime()
	if err := r.org.UndeleteAsUser(r.obj(rec).Name, id); err != nil {
		r.skip(rec, err.Error())
		return
	}
	r.record(SF, "undelete", rec, nil, t)
}

func (r *run) inject(f Fault) {
	r.count(f.Kind)
	ps := r.org.PubSub()
	patch := salesforcetest.Fault{Method: "PATCH", PathContains: "/composite/sobjects", Times: f.N}
	switch f.Kind {
	case FaultDupSF:
		ps.InjectFault(pubsubtest.Fault{DuplicateNext: f.N})
	case FaultDisconnect:
		ps.InjectFault(pubsubtest.Fault{DisconnectAfter: f.N})
	case FaultKeepalive:
		r.keepalives.Add(int32(f.N))
	case FaultSchema:
		r.schemaFails.Add(int32(f.N))
	case FaultExtRetry:
		r.toExt.inject(func(s *sinkFaults) { s.retry += f.N })
	case FaultExtPerm:
		r.toExt.inject(func(s *sinkFaults) { s.perm++ })
	case FaultExtTimeout:
		r.toExt.inject(func(s *sinkFaults) { s.lostAck += f.N })
	case FaultSFRetry:
		patch.Code = "UNABLE_TO_LOCK_ROW"
		r.org.InjectFault(patch)
	case FaultSFLimit:
		patch.Code, patch.Status = "REQUEST_LIMIT_EXCEEDED", 403
		r.org.InjectFault(patch)
	case FaultSFPerm:
		r.toSF.inject(func(s *sinkFaults) { s.perm++ })
	case FaultSFTimeout:
		r.toSF.inject(func(s *sinkFaults) { s.lostAck += f.N })
	case FaultStall:
		w := r.toSF
		if f.N%2 == 0 {
			w = r.toExt
		}
		w.inject(func(s *sinkFaults) {
			s.stall = make(chan struct{})
			w.stalls = append(w.stalls, s.stall)
		})
	}
}

// clearFaults ends every injected fault, as an operator fixing the cause
// would before requeueing.
func (r *run) clearFaults() {
	r.org.ClearFaults()
	r.org.PubSub().InjectFault(pubsubtest.Fault{})
	r.release()
	r.toSF.inject(func(s *sinkFaults) { *s = sinkFaults{} })
	r.toExt.inject(func(s *sinkFaults) { *s = sinkFaults{} })
	r.keepalives.Store(0)
	r.schemaFails.Store(0)
}

// requeueAll sends every dead letter through the running engine again.
func (r *run) requeueAll() error {
	if r.cur == nil {
		return nil
	}
	dls, err := r.store.base.DeadLetters(r.ctx, sfsync.DeadLetterQuery{})
	if err != nil {
		return err
	}
	for _, d := range dls {
		r.mu.Lock()
		r.requeued[d.Key()] = true
		r.mu.Unlock()
		var o sfsync.Outcome
		err := r.until(r.opt.Wait, "the engine to run for a requeue", func() bool {
			var e error
			o, e = r.cur.eng.Requeue(r.ctx, d.Key())
			return e == nil
		})
		if err != nil {
			return fmt.Errorf("requeue %s: %w", d.Key(), err)
		}
		r.tracef("    requeued %s (%s): %s", d.Key(), d.Err, o.Status)
	}
	return nil
}

func (r *run) everDeleted(rec int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.history {
		if e.Rec == rec && e.Op == "delete" {
			return true
		}
	}
	return false
}

// release lets stalled writes go on (a killed instance's then fail).
func (r *run) release() {
	r.toSF.release()
	r.toExt.release()
}
