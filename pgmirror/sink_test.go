package pgmirror

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/sinktest"
)

func TestSinkConformance(t *testing.T) { runSinkConformance(t) }

// runSinkConformance runs sinktest on a mirror opened with opts. A record
// is gone when its row is, or is soft deleted; without soft deletes no row
// may be.
func runSinkConformance(t *testing.T, opts ...Option) {
	testDSN(t)
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		m := openMirror(t, opts...)
		q, _ := m.Table("person")
		mustExec(t, connect(t), `ALTER TABLE `+q+` ADD CONSTRAINT no_reject CHECK (name <> 'REJECT')`)
		return sinktest.Target{
			Sink: m, Reader: m, Object: "person", Fields: []string{"name", "email", "phone"}, Reject: "REJECT",
			Lookup: func(t *testing.T, object, id string) (map[string]any, bool) {
				r, n := row(t, m, id)
				if n > 1 {
					t.Errorf("%d rows hold %s", n, id)
				}
				if r["is_deleted"] == true && !m.cfg.soft {
					t.Errorf("row %s is soft deleted; without soft deletes a delete removes the row", id)
				}
				if n == 0 || r["is_deleted"] == true {
					return nil, false
				}
				return r, true
			},
			NewID: func(i int) string { return fmt.Sprintf("P-%d", i) },
		}
	})
}

// TestSinkTypes writes every column type and reads the values back as the
// engine compares them, with the per-field versions and writers.
func TestSinkTypes(t *testing.T) {
	m := openMirror(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
	v := sfsync.Version{Time: at, Commit: 7, Seq: 2}
	c := sfsync.Change{Source: sfsync.Salesforce, Object: "person", RecordID: "P-1", Op: sfsync.OpCreate, Key: "k1", Version: v,
		Fields: map[string]any{"name": "Ada", "birthdate": "1815-12-10", "employees": 12.5, "do_not_call": true,
			"requested_at": at, "tags": map[string]any{"a": []any{1.0, "x"}}},
		Nulled: []string{"phone"}}
	if err := m.Write(ctx, []sfsync.Change{c}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Read(ctx, "person", []string{"P-1", "P-2"})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := got["P-1"]
	if !ok || len(got) != 1 {
		t.Fatalf("Read = %v", got)
	}
	for f, want := range map[string]any{"name": "Ada", "birthdate": "1815-12-10", "employees": 12.5, "do_not_call": true, "phone": nil} {
		if r.Fields[f] != want {
			t.Errorf("%s = %#v, want %#v", f, r.Fields[f], want)
		}
	}
	if ts, _ := r.Fields["requested_at"].(time.Time); !ts.Equal(at) {
		t.Errorf("requested_at = %v, want %v", r.Fields["requested_at"], at)
	}
	if fmt.Sprint(r.Fields["tags"]) != "map[a:[1 x]]" {
		t.Errorf("tags = %#v", r.Fields["tags"])
	}
	if r.FieldVersions["name"].Compare(v) != 0 || r.Version.Compare(v) != 0 || r.LastWriter["name"] != sfsync.Salesforce {
		t.Errorf("versions %v / %v, writers %v; want %v by Salesforce", r.FieldVersions, r.Version, r.LastWriter, v)
	}
	// A value that does not fit its column fails alone and permanently.
	bad := c
	bad.Key, bad.RecordID, bad.Op = "k2", "P-2", sfsync.OpCreate
	bad.Fields = map[string]any{"name": "Bad", "employees": "many"}
	good := c
	good.Key, good.RecordID = "k3", "P-3"
	err = m.Write(ctx, []sfsync.Change{bad, good})
	if e := sfsync.ErrorAt(err, 0); e == nil || !sfsync.IsPermanent(e) {
		t.Errorf("writing a non-number to a numeric column = %v, want a permanent error for it", err)
	}
	if e := sfsync.ErrorAt(err, 1); e != nil {
		t.Errorf("the good change next to it = %v, want applied", e)
	}
}
