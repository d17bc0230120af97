package sync

import (
	"maps"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
)

// TestToExternalCopiesOnlyWhatItRenames checks that a change whose fields
// all keep their names and values reaches the target without a copy of its
// field map (two allocations per change: the map and its slots), and that
// one with a renamed, converted or unmapped field gets a map of its own,
// leaving the received change's as it was.
func TestToExternalCopiesOnlyWhatItRenames(t *testing.T) {
	m := &Mapping{Object: "Account", External: "company", Fields: []Field{
		{Salesforce: "Phone", External: "Phone"},
		{Salesforce: "Rating", External: "Rating"},
		{Salesforce: "Name", External: "name"},
		{Salesforce: "Website", External: "Website", ToExternal: func(v any) (any, error) { return strings.ToUpper(v.(string)), nil }},
	}}
	m.index()
	same := sfsync.Change{Object: "Account", RecordID: "001A", Op: sfsync.OpUpdate,
		Fields: map[string]any{"Phone": "+1 555", "Rating": "Hot"}, Nulled: []string{"Name"}}
	out, err := m.toExternal(same)
	if err != nil {
		t.Fatal(err)
	}
	if out.Object != "company" || !maps.Equal(out.Fields, same.Fields) || len(out.Nulled) != 1 || out.Nulled[0] != "name" {
		t.Fatalf("toExternal(%v) = %v", same, out)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := m.toExternal(same); err != nil {
			t.Fatal(err)
		}
	}); allocs > 1 { // the renamed Nulled list
		t.Errorf("toExternal of fields that keep their names: %.0f allocations, want at most 1", allocs)
	}

	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   map[string]any
	}{
		{"renamed", map[string]any{"Phone": "+1 555", "Name": "Acme"}, map[string]any{"Phone": "+1 555", "name": "Acme"}},
		{"converted", map[string]any{"Phone": "+1 555", "Website": "acme.com"}, map[string]any{"Phone": "+1 555", "Website": "ACME.COM"}},
		{"unmapped", map[string]any{"Phone": "+1 555", "Fax": "+1 556"}, map[string]any{"Phone": "+1 555"}},
		{"none", nil, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sfsync.Change{Object: "Account", RecordID: "001A", Op: sfsync.OpUpdate, Fields: tc.fields}
			before := maps.Clone(tc.fields)
			out, err := m.toExternal(in)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(out.Fields, tc.want) || out.Fields == nil {
				t.Errorf("fields = %v, want %v", out.Fields, tc.want)
			}
			out.Fields["Rating"] = "Cold"
			if !maps.Equal(in.Fields, before) {
				t.Errorf("the received change's fields changed: %v, want %v", in.Fields, before)
			}
		})
	}
}
