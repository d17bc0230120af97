package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/sfsync/sfsync"
)

// Linked mappings in a drift check that compares the target.
//
// The version map knows a record of a mapping with a LinkField by its
// link, or by its Salesforce id while it has none (see Engine.link), and
// the target holds it under the same id: the engine writes it there under
// that id, and a record created in the target is sent to Salesforce under
// its own id, which becomes its link. So the target's records are compared
// under their own ids, and Salesforce's listing (which carries the link,
// LinkVersionLister) is keyed the same way. What the link hides is the
// Salesforce id a repair re-reads the record by: the listing gives it for
// what it listed; a windowed pass finds the rest in one listing of the
// links (resolveLinks). A record Salesforce does not list under a link has
// no Salesforce id to re-read: it is gone from Salesforce, and its repair
// is a delete made here (deleteGone) rather than read.

// linkedID returns the id the version map knows rec, listed by Salesforce
// with its link field link ("" for none) in Fields, by: its link, else
// its Salesforce id.
func linkedID(rec sfsync.Record, link string) string {
	if v, ok := rec.Fields[link].(string); ok && link != "" && v != "" {
		return v
	}
	return rec.ID
}

// sfListing is what Salesforce's side of a drift check listed, for the
// target's side, each record under the id the version map knows it by.
type sfListing struct {
	// live holds, on a full pass, every record listed and whether it is
	// live in Salesforce.
	live map[string]bool
	// ids holds, for a linked mapping, the Salesforce id of each record
	// listed under its link.
	ids map[string]string
	// began is when the listing began, by the engine's clock: a record
	// Salesforce changed later may be missing from it.
	began time.Time
}

// add records rec, listed by Salesforce with its link field link.
func (l *sfListing) add(rec sfsync.Record, link string) {
	id := linkedID(rec, link)
	if l.live != nil {
		// A deleted record and a live one with its link: the live one is
		// the record.
		l.live[id] = l.live[id] || !rec.Deleted
	}
	if id != rec.ID && (l.ids[id] == "" || !rec.Deleted) {
		l.ids[id] = rec.ID
	}
}

// listed reports whether Salesforce listed the record the version map
// knows by id (always false on a windowed pass).
func (l *sfListing) listed(id string) bool {
	_, ok := l.live[id]
	return ok
}

// locate sets the Salesforce id f is re-read by, or marks it gone from
// Salesforce; on a windowed pass of a linked mapping the id of a record
// the window did not list is left empty, for resolveLinks.
func (t *targetSide) locate(f *targetFound, sf *sfListing, full bool) {
	switch {
	case t.link == "":
		f.sfID = f.id
	case sf.ids[f.id] != "":
		f.sfID = sf.ids[f.id]
	case !full:
	case sf.listed(f.id):
		// Listed, and not under a link: not linked yet, known by its
		// Salesforce id.
		f.sfID = f.id
	default:
		f.gone = true
	}
}

// goneBefore reports whether the newest Salesforce data the map held of a
// record Salesforce's listing (begun at began) lacked is older than the
// listing: only then is it gone from Salesforce, not created or linked
// while the listing ran.
func goneBefore(h held, began time.Time) bool {
	return h.sfNewest.Time.Before(began.Add(-clockSkew))
}

// resolveLinks finds the Salesforce ids of found, records of a linked
// mapping that a windowed pass found changed in the target and that the
// window's listing did not list, in one listing of every record's link,
// and returns the ones to repair: those found, and those gone from
// Salesforce. It lowers report.TargetDrifted for one that Salesforce may
// have made since the listing began: the next pass decides it.
func (e *Engine) resolveLinks(ctx context.Context, t *targetSide, object string, found []targetFound, report *DriftReport) ([]targetFound, error) {
	at := make(map[string]int, len(found))
	for i, f := range found {
		at[f.id] = i
	}
	began := e.cfg.clock()
	for rec, err := range t.sf.VersionsWith(ctx, object, time.Time{}, t.link) {
		if err != nil {
			return nil, fmt.Errorf("sync: drift check of %s: listing %s to find the Salesforce ids of %d record(s) that differ in %s: %w", object, t.link, len(found), t.route.To, err)
		}
		if i, ok := at[linkedID(rec, t.link)]; ok && (found[i].sfID == "" || !rec.Deleted) {
			found[i].sfID = rec.ID
		}
	}
	out := found[:0]
	for _, f := range found {
		if f.sfID == "" {
			if !goneBefore(f.held, began) {
				report.TargetDrifted--
				continue
			}
			f.gone = true
		}
		out = append(out, f)
	}
	return out, nil
}

// deleteGone sends the delete of f, a linked record of object that
// Salesforce no longer lists, to the target under its link: Salesforce
// cannot be asked for it by a link, and the version map holds no
// Salesforce id of it. Like a re-read that finds a record missing, it is
// newer than every Salesforce change the map held of it.
func (e *Engine) deleteGone(em *emitter, t *targetSide, object string, f targetFound) error {
	c := sfsync.Change{
		Source: sfsync.Salesforce, Tenant: e.cfg.tenant, Object: object, RecordID: f.id, Op: sfsync.OpDelete,
		// The link addresses the record (Engine.link).
		Fields:  map[string]any{t.link: f.id},
		Version: justAfter(f.held.sfNewest),
		Origin:  sfsync.Origin{Transaction: "drift check: gone from Salesforce"},
		Key:     driftKey("gone:"+object+":"+f.id, f.state),
	}
	over := f.held.sfNewest
	return em.push(&item{c: c, snapshot: true, settled: true, settledOver: &over})
}
