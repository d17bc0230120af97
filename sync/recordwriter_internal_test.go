package sync

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/conflict"
)

// A delete is decided against the record's last change in the target, and
// its writer decides a tie inside the skew tolerance. Salesforce versions
// only whole records, so the engine names that change from the version
// map; seen in the simulator (ERP clock 2.5 s ahead, skew 2 s): an ERP
// delete at 15.5 s was taken as newer than "the record" at 14.5 s, the
// ERP's own earlier update, while Salesforce's update at 14 s was the
// record's last change there; the same tie decided for Salesforce's update
// in the other direction, and the record ended deleted in Salesforce and
// live in the ERP.
func TestDeleteIsDecidedAgainstTheTargetsLastChange(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	v := func(ms int) sfsync.Version {
		return sfsync.Version{Time: base.Add(time.Duration(ms) * time.Millisecond)}
	}
	const record, erp = "Contact/003A", sfsync.System("external:erp")
	update := func(src sfsync.System, at sfsync.Version, value string) *sfsync.Change {
		return &sfsync.Change{Source: src, RecordID: "003A", Op: sfsync.OpUpdate, Version: at, Fields: map[string]any{"LastName": value}}
	}
	fields := []string{"LastName"}
	del := sfsync.Change{Source: erp, RecordID: "E1", Op: sfsync.OpDelete, Version: v(15500)}

	for _, tc := range []struct {
		name    string
		history func(vc *versionCache)
	}{
		{
			// The ERP's update lost to Salesforce's: only the ERP holds
			// its data, so it is no change of the Salesforce record.
			name: "the ERP's update lost there",
			history: func(vc *versionCache) {
				vc.note(update(sfsync.Salesforce, v(5000), "n6"), record, fields)
				vc.note(update(sfsync.Salesforce, v(14000), "n40"), record, fields)
				vc.rememberLost(update(erp, v(14500), "n1"), record, fields)
			},
		},
		{
			// The ERP's update was written to Salesforce (its echo came
			// at 13 s), and Salesforce's own update came after it: the
			// ERP's version is on the ERP's clock; Salesforce's stream
			// orders the two.
			name: "Salesforce changed it after our write",
			history: func(vc *versionCache) {
				vc.note(update(sfsync.Salesforce, v(5000), "n6"), record, fields)
				vc.note(update(erp, v(14500), "n1"), record, fields)
				vc.rememberEcho(update(sfsync.Salesforce, v(13000), "n1"), record)
				vc.note(update(sfsync.Salesforce, v(14000), "n40"), record, fields)
			},
		},
		{
			// Salesforce's own update lost (the ERP owns the field), and
			// Salesforce holds its data until the repair comes: it is
			// the record's last change there (seen in the simulator: a
			// delete decided against older synced data won, where the
			// update beat it in the other direction).
			name: "Salesforce's own update lost",
			history: func(vc *versionCache) {
				vc.note(update(sfsync.Salesforce, v(5000), "n6"), record, fields)
				vc.rememberLost(update(sfsync.Salesforce, v(14000), "n40"), record, fields)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vc := newVersionCache(16, nil, func(string) bool { return false })
			tc.history(vc)
			cur := sfsync.Record{Exists: true, Version: v(14000), Fields: map[string]any{"LastName": "n40"}}
			c := del
			if ahead := vc.describe(&c, record, nil, &cur, sfsync.Salesforce, true, true, true, false, sfsync.Version{}, sfsync.Version{}, nil); ahead {
				t.Fatal("the record's changes were all seen, yet the delete waits")
			}
			if w := cur.LastWriter[fieldAny]; w != sfsync.Salesforce || cur.Version.Compare(v(14000)) != 0 {
				t.Errorf("the delete is decided against the record at %s by %q; want 14s by salesforce (its update)", cur.Version, w)
			}
		})
	}
}

// A tombstone our write of a delete left in the target is that delete's,
// at its version. A target that keeps its record's last version in a
// tombstone shows the change the delete removed, which may be the target's
// own, newer on its clock; seen in the simulator (ERP clock 1 s ahead,
// skew 1 s): Salesforce's delete at 11 s won the tie against the ERP's
// update at 12 s and was written there, and Salesforce's own undelete
// right after it was then judged against a tombstone "of 12 s by
// Salesforce", older in Salesforce's own order, and lost: the record
// stayed deleted on both sides though its last change was the undelete.
func TestTombstoneOfOurWriteIsTheDeletes(t *testing.T) {
	sf, ext := sfVersionAt, extVersionAt
	const record, erp = "Contact/003A", sfsync.System("external:erp")
	vc := newVersionCache(16, nil, func(string) bool { return false })
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpCreate, Version: sf(2, 303), Fields: map[string]any{"LastName": "n5", "Phone": "p7"}}, record, []string{"LastName", "Phone"})
	vc.note(&sfsync.Change{Source: erp, RecordID: "E1", Op: sfsync.OpUpdate, Version: ext(11, 4), Fields: map[string]any{"Phone": "p14"}}, record, []string{"Phone"})
	// Salesforce's delete, written to the ERP over its update at 12 s
	// (counter 5), whose event has not come yet.
	vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpDelete, Version: sf(11, 306)}, record, nil)

	undelete := sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpUndelete, Version: sf(11, 307)}
	cur := sfsync.Record{Exists: true, Deleted: true, Version: ext(12, 5),
		Fields:        map[string]any{"LastName": "n16", "Phone": "p14"},
		FieldVersions: map[string]sfsync.Version{"LastName": ext(12, 5), "Phone": ext(11, 4)}}
	vc.describe(&undelete, record, nil, &cur, erp, true, true, true, false, sfsync.Version{}, sfsync.Version{}, nil)
	if w := cur.LastWriter[fieldAny]; w != sfsync.Salesforce || cur.Version.Compare(sf(11, 306)) != 0 {
		t.Fatalf("the tombstone is described at %s by %q; want Salesforce's delete (%s)", cur.Version, w, sf(11, 306))
	}
	d := conflict.LastWriteWins(conflict.WithSkewTolerance(time.Second)).Decide(undelete, cur)
	if !d.Apply {
		t.Errorf("Salesforce's undelete after its own delete is rejected: %s", d.Reason)
	}
}

// versionBase is the instant the internal tests' versions count from.
var versionBase = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// sfVersionAt is the version of a Salesforce change committed sec seconds
// after versionBase, with commit number commit.
func sfVersionAt(sec int, commit int64) sfsync.Version {
	return sfsync.Version{Time: versionBase.Add(time.Duration(sec) * time.Second), Commit: commit, Seq: 1}
}

// extVersionAt is the version of an ERP change made sec seconds after
// versionBase, with row counter counter.
func extVersionAt(sec int, counter int64) sfsync.Version {
	return sfsync.Version{Time: versionBase.Add(time.Duration(sec) * time.Second), Counter: counter}
}
