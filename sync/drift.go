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

// DriftReport is what one drift check found.
type DriftReport struct {
	Object string
	// Checked is the number of authoritative versions compared.
	Checked int64
	// Drifted is the number of records whose authoritative version is
	// newer than every version the engine holds of them: changes no event
	// brought. Each was re-read through the reconciler and applied.
	Drifted int64
}

// driftBatch is how many records a drift check compares, and re-reads,
// at a time.
const driftBatch = 200

// CheckDrift compares the versions lister holds for object's records
// modified at or after since with the versions the engine holds in its
// version map for Salesforce's data of them, and re-reads through the
// engine's reconciler, and applies, only the records whose authoritative
// version is newer: a change no event brought. It returns when every
// re-read record has an outcome.
//
// Unlike a reconciliation, which reads and emits every record, a pass
// costs the listing (for salesforce.Authority over N records: about a
// dozen calls through Bulk, or ⌈N / 2,000⌉ + 1 through REST) plus one
// query per 200 drifted records (⌈D / 200⌉ for D drifted). Records deleted and purged from the
// Recycle Bin are not listed: a windowed backfill's getDeleted covers
// them. Use it as a reconcile.Loop's RunFunc:
//
//	reconcile.NewLoop(func(ctx context.Context, s sfsync.Scope) error {
//		_, err := engine.CheckDrift(ctx, authority, s.Object, s.Since)
//		return err
//	}, []string{"Contact"})
func (e *Engine) CheckDrift(ctx context.Context, lister VersionLister, object string, since time.Time) (DriftReport, error) {
	report := DriftReport{Object: object}
	if err := e.waitStarted(ctx, "Engine.CheckDrift"); err != nil {
		return report, fmt.Errorf("sync: %w", err)
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
		drifted, err := e.drifted(ctx, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		report.Drifted += int64(len(drifted))
		reread = append(reread, drifted...)
		return rereadDrifted(false)
	}
	for rec, err := range lister.Versions(ctx, object, since) {
		if err != nil {
			return report, fmt.Errorf("sync: drift check of %s: listing versions: %w", object, err)
		}
		report.Checked++
		if rec.Object == "" {
			rec.Object = object
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
	e.log.Info("sfsync: drift check finished", "object", object, "checked", report.Checked, "drifted", report.Drifted)
	return report, nil
}

// drifted returns the ids of recs whose version is newer than every
// version the engine holds of Salesforce's data for them.
func (e *Engine) drifted(ctx context.Context, recs []sfsync.Record) ([]string, error) {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = (&sfsync.Change{Object: r.Object, RecordID: r.ID}).RecordKey()
	}
	newest, err := e.versions.newestOf(ctx, keys, sfsync.Salesforce)
	if err != nil {
		return nil, fmt.Errorf("sync: drift check: reading the version map: %w", err)
	}
	var ids []string
	for i, r := range recs {
		v, ok := newest[keys[i]]
		if !ok || v.Time.Before(r.Version.Time) {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}
