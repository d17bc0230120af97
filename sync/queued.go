package sync

import (
	"time"

	"github.com/sfsync/sfsync"
)

// queuedID names the changes of one record, by the id it has in its own
// system, that a source delivered.
type queuedID struct {
	source sfsync.System
	id     string
}

// queue counts it (n 1) as handed to its lane, or (n -1) as done with
// there: its batch ended, deciding it, parking it or leaving it to a
// redelivery.
func (e *Engine) queue(it *item, n int) {
	if it.c.RecordID == "" || !e.writesTo[it.c.Source] {
		return
	}
	if n > 0 {
		it.queuedAs = e.queuedAs(&it.c)
	} else if it.queuedAs == "" {
		return // never pushed (a repair's batch), or counted off already
	}
	k := queuedID{it.c.Source, it.queuedAs}
	if n < 0 {
		it.queuedAs = ""
	}
	e.queuedMu.Lock()
	defer e.queuedMu.Unlock()
	if e.queued == nil {
		e.queued = map[queuedID]int{}
	}
	if e.queued[k] += n; e.queued[k] <= 0 {
		delete(e.queued, k)
	}
}

// queuedAs is the id c counts under in queued: a Salesforce change of a
// linked record its external id, where the change carries it or the link
// is known already, as decisions name the record; else its own id.
func (e *Engine) queuedAs(c *sfsync.Change) string {
	if !c.Source.IsSalesforce() {
		return c.RecordID
	}
	id := c.RecordID
	if m := e.maps.bySF[c.Object]; m != nil && m.LinkField != "" {
		if ext, ok := c.Fields[m.LinkField].(string); ok && ext != "" {
			id = ext
		} else if ext, ok := e.links.get(c.Object + "/" + c.RecordID); ok && ext != "" {
			id = ext
		}
	}
	return id
}

// queuedFrom reports whether a change of the record id (as decisions name
// it) of source's was received and is still in a lane, not decided yet:
// behind a slow write of another record, say. Its event has come; it is
// not lost. A Salesforce change queued before its record's link was
// known counts under its Salesforce id, which the links give now.
func (e *Engine) queuedFrom(source sfsync.System, object, id string) bool {
	if id == "" {
		return false
	}
	e.queuedMu.Lock()
	if e.queued[queuedID{source, id}] > 0 {
		e.queuedMu.Unlock()
		return true
	}
	var ids []string
	for k, n := range e.queued {
		if k.source == source && n > 0 {
			ids = append(ids, k.id)
		}
	}
	e.queuedMu.Unlock()
	if !source.IsSalesforce() {
		return false
	}
	for _, sf := range ids {
		if ext, ok := e.links.get(object + "/" + sf); ok && ext == id {
			return true
		}
	}
	return false
}

// waitsForTarget reports whether w, whose target changed its record in a
// change the engine has not decided yet, still waits for that change's
// event: up to targetAheadWait from when it first waited, and on while a
// change of the target's record is queued (see decide).
func (e *Engine) waitsForTarget(w *work, target sfsync.System, object, id string) bool {
	if w.parkedAt.IsZero() {
		w.parkedAt = time.Now()
	}
	return time.Since(w.parkedAt) < targetAheadWait || e.queuedFrom(target, object, id)
}

// receivedFrom returns whether a change of record (id in its own system,
// as decisions name it) from source was received and is not decided yet:
// it waits in the park, or in a lane (see queuedFrom). The engine is asked
// once, when first needed; the answer stands for the rest of a decision.
func (e *Engine) receivedFrom(source sfsync.System, record, object, id string) func() bool {
	var asked, got bool
	return func() bool {
		if !asked {
			asked, got = true, e.parkedFrom(source, record) || e.queuedFrom(source, object, id)
		}
		return got
	}
}
