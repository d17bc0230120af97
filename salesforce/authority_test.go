package salesforce

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// A re-read record's version is its SystemModstamp (the last change by a
// user or an automated process, the time change events are compared with)
// with no commit number or sequence: at the same instant it is older than a
// change event of that transaction, so the event's own data wins (see
// sfsync.Version).
func TestAuthorityVersionIsSystemModstamp(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"totalSize": 2, "done": true, "records": []map[string]any{
			{"attributes": map[string]any{"type": "Contact"}, "Id": "003A", "IsDeleted": false, "Phone": "1",
				"LastModifiedDate": "2026-01-02T03:04:05.000+0000", "SystemModstamp": "2026-01-02T03:09:00.000+0000"},
			{"attributes": map[string]any{"type": "Contact"}, "Id": "003B", "IsDeleted": true, "Phone": nil,
				"LastModifiedDate": "2026-01-02T03:04:05.000+0000", "SystemModstamp": "2026-01-02T03:10:00.000+0000"},
		}})
	})
	a := NewAuthority(f.client(), map[string][]string{"Contact": {"Phone"}})
	got, err := a.Read(context.Background(), "Contact", []string{"003A", "003B"})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{
		"003A": time.Date(2026, 1, 2, 3, 9, 0, 0, time.UTC),
		"003B": time.Date(2026, 1, 2, 3, 10, 0, 0, time.UTC),
	} {
		v := got[id].Version
		if !v.Time.Equal(want) || v.Commit != 0 || v.Seq != 0 || v.Counter != 0 {
			t.Errorf("%s: version %v, want SystemModstamp %v and nothing else", id, v, want)
		}
		event := sfsync.Version{Time: want, Commit: 1652977933433528300, Seq: 1}
		if !v.Before(event) {
			t.Errorf("%s: re-read %v is not older than a change event of the same instant %v", id, v, event)
		}
	}
	if !got["003B"].Deleted || got["003A"].Fields["Phone"] != "1" {
		t.Errorf("records %+v", got)
	}
}

// The sink's reads of current state carry the same version.
func TestSinkReadVersionIsSystemModstamp(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"done": true, "totalSize": 1, "records": []map[string]any{
			{"attributes": map[string]any{"type": "Contact"}, "Id": "003A", "Email": "a@example.com", "IsDeleted": false,
				"LastModifiedDate": "2026-01-02T03:04:05.000+0000", "SystemModstamp": "2026-01-02T03:09:00.000+0000"},
		}})
	})
	got, err := NewSink(f.client(), WithReadFields("Contact", "Email")).Read(context.Background(), "Contact", []string{"003A"})
	if err != nil {
		t.Fatal(err)
	}
	if v := got["003A"].Version; !v.Time.Equal(time.Date(2026, 1, 2, 3, 9, 0, 0, time.UTC)) || v.Commit != 0 || v.Seq != 0 {
		t.Errorf("version %v, want the SystemModstamp alone", v)
	}
	if _, ok := got["003A"].Fields["SystemModstamp"]; ok || got["003A"].Fields["Email"] != "a@example.com" {
		t.Errorf("fields %v", got["003A"].Fields)
	}
}
