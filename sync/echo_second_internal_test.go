package sync

import (
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// echoContradicted speaks only of a record whose second the newest echo of
// our writes there explains, by the values that echo carried, compared in
// their normal form.
func TestEchoContradicted(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	at := func(ms int, commit int64) sfsync.Version {
		return sfsync.Version{Time: base.Add(time.Duration(ms) * time.Millisecond), Commit: commit}
	}
	const record = "Contact/003A"
	echoed := func(echo sfsync.Version) *versionCache {
		vc := newVersionCache(16, nil, func(string) bool { return false })
		vc.rememberEcho(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpUpdate, Version: echo,
			Fields: map[string]any{"Phone": "p1", "NumberOfEmployees": int64(5)}}, record)
		return vc
	}
	record9 := func(fields map[string]any) sfsync.Record {
		return sfsync.Record{Exists: true, Version: at(9000, 0), Fields: fields}
	}
	for _, tc := range []struct {
		name string
		echo sfsync.Version
		seen *sfsync.Version // a change of Salesforce's own seen after the echo
		cur  sfsync.Record
		want bool
	}{
		{"the echo's values", at(9200, 301), nil, record9(map[string]any{"Phone": "p1", "NumberOfEmployees": 5.0}), false},
		{"another value in the echo's second", at(9200, 301), nil, record9(map[string]any{"Phone": "p2", "NumberOfEmployees": 5.0}), true},
		{"another value of a field the echo did not carry", at(9200, 301), nil, record9(map[string]any{"Phone": "p1", "Email": "x"}), false},
		{"an echo without a commit number", at(9200, 0), nil, record9(map[string]any{"Phone": "p2"}), false},
		{"an echo of another second", at(8200, 301), nil, record9(map[string]any{"Phone": "p2"}), false},
		{"a change of the target's own seen since", at(9200, 301), &sfsync.Version{Time: base.Add(9500 * time.Millisecond), Commit: 302}, record9(map[string]any{"Phone": "p2"}), false},
	} {
		vc := echoed(tc.echo)
		if tc.seen != nil {
			vc.note(&sfsync.Change{Source: sfsync.Salesforce, RecordID: "003A", Op: sfsync.OpUpdate, Version: *tc.seen, Fields: map[string]any{"Phone": "p2"}}, record, []string{"Phone"})
		}
		vc.mu.Lock()
		got := vc.get(record).echoContradicted(sfsync.Salesforce, tc.cur)
		vc.mu.Unlock()
		if got != tc.want {
			t.Errorf("%s: echoContradicted = %v, want %v", tc.name, got, tc.want)
		}
	}
}
