package sync

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/sfsync/sfsync"
)

// VersionLister lists the versions authoritative state holds for an
// object's records modified at or after since (all when since is zero),
// deleted ones included: each record with its ID, Version and Deleted,
// without fields. salesforce.Authority.Versions is one: it reads only Id,
// SystemModstamp and IsDeleted, in one Bulk API job for large objects.
type VersionLister interface {
	Versions(ctx context.Context, object string, since time.Time) iter.Seq2[sfsync.Record, error]
}

// LinkVersionLister is a [VersionLister] that lists fields of each record
// beside its version, in Record.Fields. A drift check of an object whose
// mapping links records (Mapping.LinkField) needs the link: the version
// map knows linked records by it. salesforce.Authority is one.
type LinkVersionLister interface {
	VersionLister
	VersionsWith(ctx context.Context, object string, since time.Time, fields ...string) iter.Seq2[sfsync.Record, error]
}

// DriftReport is what one drift check found.
type DriftReport struct {
	Object string
	// Checked is the number of authoritative versions compared.
	Checked int64
	// Drifted is the number of records whose authoritative version is
	// newer than every version the engine holds of them: changes no event
	// brought. Each was re-read through the reconciler and applied. With
	// [CompareTarget], on a full pass, it counts too the records the
	// target holds, synced from Salesforce, that Salesforce no longer
	// lists (deleted and purged where no event told): re-read, or for a
	// linked record deleted without one (see CompareTarget), each is a
	// delete.
	Drifted int64
	// TargetChecked is the number of the target's versions compared
	// ([CompareTarget]).
	TargetChecked int64
	// TargetDrifted is the number of records whose state in the target
	// differs from what the engine made of it, where no event told:
	// changed, deleted or brought back there, or (on a full pass)
	// missing there. Each was brought to Salesforce's state, or, where
	// the target's changes reach the engine, sent as the target's change.
	TargetDrifted int64
	// TargetOnly is the number of live records of the target, on a full
	// pass of a one-way route, that Salesforce does not list (by their
	// links, for a linked mapping) and the engine never synced: data of
	// the target's own, left alone.
	TargetOnly int64
}

// DriftOption configures one [Engine.CheckDrift].
type DriftOption func(*driftConfig)

type driftConfig struct {
	target VersionLister
}

// CompareTarget makes a drift check compare the versions of the route's
// target too: the system the route for Salesforce changes of the object
// writes to, whose versions target lists (by the object's name in that
// system, with its field names; synctest.System and pgmirror.Mirror have
// a Versions method). It finds what changed there where no event told:
//
//   - a record whose field versions (or record version, when the lister
//     gives no field versions) are newer than every version the engine
//     holds of them, or whose deleted state is not the one the engine
//     left: changed, deleted or brought back in the target;
//   - on a full pass (since zero), a record Salesforce lists live that
//     the target lacks, and one the target holds, synced from
//     Salesforce, that Salesforce no longer lists.
//
// Which side wins: in a one-way route Salesforce is the authority, and
// each such record is re-read from Salesforce and written to the target
// as it is there (a record deleted or missing in the target comes back
// whole), under a key of its own, decided by the route's policy like any
// Salesforce change (without one, Salesforce's state is written). Where
// the target's changes of the object reach the engine (a two-way route),
// a change made there is the user's edit whose event was lost: it is read
// from the target and sent to Salesforce as the target's change, at the
// target's version, and the conflict policy decides it against
// Salesforce's state as it would have decided the event; a record missing
// in the target is re-read from Salesforce and written back.
//
// The target's versions must be the ones written to it: the lister must
// report, for a record the engine wrote, the version of the change
// written (per field, or for the record as of that write), and for the
// target's own edits versions of its own. Records of the target that
// Salesforce does not list and the engine never synced are counted
// (TargetOnly) and left alone in a one-way route. A full pass keeps every
// id listed on either side in memory, in a map each, to find the records
// missing on the other.
//
// For a mapping with a LinkField (the lister of CheckDrift must then be a
// [LinkVersionLister]) both sides are compared under the id the version
// map knows each record by: its link, or its Salesforce id while it has
// none. The target must list them so (it holds them under those ids when
// the engine wrote them; pgmirror.Mirror.Versions lists a row by its link
// column, else its Salesforce id). So a record created in Salesforce and
// not linked yet is compared under its Salesforce id, and missing in the
// target is written there under it; a record created in the target and
// not linked yet is one Salesforce does not list: in a two-way route it is
// the target's change, sent to Salesforce (which creates it with the link,
// given a sink that upserts by the LinkField), in a one-way route data of
// the target's own. A repair from Salesforce re-reads the record by the
// Salesforce id the listing gave beside its link; on a windowed pass, for
// records the window did not list, the links of the whole object are
// listed once more (for salesforce.Authority, one Bulk job) to find them.
// A linked record the target holds, synced from Salesforce, that
// Salesforce lists under no link or id any more, cannot be re-read by its
// link: it is deleted in the target without a re-read, as a re-read would
// have found it missing, provided the engine's newest Salesforce data of
// it is older than Salesforce's listing (one created or linked while the
// listing ran is left for the next pass). A record synced before it was
// linked is such a record under its Salesforce id: that copy is deleted,
// and the record is compared, and kept, under its link.
func CompareTarget(target VersionLister) DriftOption {
	return func(c *driftConfig) { c.target = target }
}

// driftBatch is how many records a drift check compares, and re-reads,
// at a time.
const driftBatch = 200

// CheckDrift compares the versions lister holds for object's records
// modified at or after since with the versions the engine holds in its
// version map for Salesforce's data of them, and re-reads through the
// engine's reconciler, and applies, only the records whose authoritative
// version is newer: a change no event brought. With [CompareTarget] it
// compares the target's versions too, and corrects what changed there
// without an event. It returns when every re-read record has an outcome.
//
// Unlike a reconciliation, which reads and emits every record, a pass
// costs the listing (for salesforce.Authority over N records: about a
// dozen calls through Bulk, or ⌈N / 2,000⌉ + 1 through REST) plus one
// query per 200 drifted records (⌈D / 200⌉ for D drifted), on each side
// that drifted. Listing the target costs no Salesforce call, except that a
// windowed pass of a linked mapping (Mapping.LinkField) that finds records
// changed in a one-way target outside Salesforce's window lists the
// object's links once more to find their Salesforce ids. Records deleted
// and purged from the Recycle Bin are not listed: a windowed backfill's
// getDeleted covers them (and, with CompareTarget, a full pass). A record
// deleted in Salesforce that the engine holds as deleted is not re-read,
// whoever deleted it. Use it as a reconcile.Loop's RunFunc:
//
//	reconcile.NewLoop(func(ctx context.Context, s sfsync.Scope) error {
//		_, err := engine.CheckDrift(ctx, authority, s.Object, s.Since, sync.CompareTarget(mirror))
//		return err
//	}, []string{"Contact"})
//
// The loop's passes after the first are windowed (since is set): they
// find what changed in that window on either side, but not what went
// missing; run a full pass now and then for that.
func (e *Engine) CheckDrift(ctx context.Context, lister VersionLister, object string, since time.Time, opts ...DriftOption) (DriftReport, error) {
	report := DriftReport{Object: object}
	var cfg driftConfig
	for _, o := range opts {
		o(&cfg)
	}
	e.stats.reconciling.Add(1)
	defer e.stats.reconciling.Add(-1)
	if err := e.waitStarted(ctx, "Engine.CheckDrift"); err != nil {
		return report, fmt.Errorf("sync: %w", err)
	}
	var target *targetSide
	if cfg.target != nil {
		if e.cfg.reconciler == nil {
			return report, fmt.Errorf("sync: drift check of %s: %w", object, errNoReconciler)
		}
		var err error
		if target, err = e.targetSide(object, cfg.target); err != nil {
			return report, err
		}
	}
	// listed is what Salesforce listed, for the target's side.
	var listed *sfListing
	if target != nil {
		listed = &sfListing{began: e.cfg.clock()}
		if since.IsZero() {
			listed.live = map[string]bool{}
		}
	}
	listing := lister.Versions(ctx, object, since)
	var link string
	if m := e.maps.bySF[object]; m != nil && m.LinkField != "" {
		ll, ok := lister.(LinkVersionLister)
		if !ok {
			return report, fmt.Errorf("sync: drift check of %s: its mapping links records by %s, which the version map knows them by, and %T cannot list it; use a sync.LinkVersionLister such as salesforce.Authority: %w",
				object, m.LinkField, lister, sfsync.ErrInvalid)
		}
		link = m.LinkField
		listing = ll.VersionsWith(ctx, object, since, link)
		if target != nil {
			target.sf, target.link = ll, link
			listed.ids = map[string]string{}
		}
	}
	var batch []sfsync.Record
	var reread []string
	// rereadDrifted re-reads drifted records 200 to a query (the REST
	// limit of ids per query), or what is left at the end.
	rereadDrifted := func(all bool) error {
		for len(reread) >= driftBatch || (all && len(reread) > 0) {
			n := min(len(reread), driftBatch)
			scope := sfsync.Scope{Tenant: e.cfg.tenant, Object: object, IDs: reread[:n:n], Reason: "drift check"}
			reread = reread[n:]
			if err := e.Reconcile(ctx, scope); err != nil {
				return err
			}
		}
		return nil
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		drifted, err := e.drifted(ctx, batch, link)
		batch = batch[:0]
		if err != nil {
			return err
		}
		report.Drifted += int64(len(drifted))
		reread = append(reread, drifted...)
		return rereadDrifted(false)
	}
	for rec, err := range listing {
		if err != nil {
			return report, fmt.Errorf("sync: drift check of %s: listing versions: %w", object, err)
		}
		report.Checked++
		if rec.Object == "" {
			rec.Object = object
		}
		if listed != nil {
			listed.add(rec, link)
		}
		if batch = append(batch, rec); len(batch) == driftBatch {
			if err := flush(); err != nil {
				return report, err
			}
		}
	}
	if err := flush(); err != nil {
		return report, err
	}
	if err := rereadDrifted(true); err != nil {
		return report, err
	}
	if target != nil {
		// After Salesforce's side: what it re-read and wrote is in the
		// target, and not taken for the target's drift.
		if err := e.compareTarget(ctx, target, object, since, listed, &report); err != nil {
			return report, err
		}
	}
	e.log.Info("sfsync: drift check finished", "object", object, "checked", report.Checked, "drifted", report.Drifted,
		"target_checked", report.TargetChecked, "target_drifted", report.TargetDrifted, "target_only", report.TargetOnly)
	return report, nil
}

// drifted returns the ids of recs whose version is newer than every
// version the engine holds of Salesforce's data for them, but for those
// deleted in Salesforce whose newest entry in the map is a delete too: a
// delete the engine wrote there has no Salesforce version in the map (its
// echo names no deleter, see rememberEcho), and a re-read would find
// nothing to do.
func (e *Engine) drifted(ctx context.Context, recs []sfsync.Record, link string) ([]string, error) {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = (&sfsync.Change{Object: r.Object, RecordID: linkedID(r, link)}).RecordKey()
	}
	held, err := e.versions.heldOf(ctx, keys, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("sync: drift check: reading the version map: %w", err)
	}
	var ids []string
	for i, r := range recs {
		h := held[keys[i]]
		if r.Deleted && h.deleted {
			continue
		}
		if h.sfNewest.IsZero() || h.sfNewest.Time.Before(r.Version.Time) {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}
