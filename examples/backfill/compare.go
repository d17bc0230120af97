package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// compare checks every record of the object in the org against the
// external system, field by field, the deleted ones for being deleted
// there too, and the external system for records the org does not have.
// It returns the records checked and the differences.
func compare(org *salesforcetest.Org, deleted []string, ext *external) (checked int, diffs []string) {
	held := ext.snapshot()
	seen := make(map[string]bool, len(held))
	for _, id := range deleted {
		checked++
		seen[id] = true
		if e, ok := held[id]; !ok || !e.Deleted {
			diffs = append(diffs, fmt.Sprintf("%s: deleted in the org, not in the external system", id))
		}
	}
	for _, rec := range org.Records(object) {
		id, _ := rec["Id"].(string)
		checked++
		seen[id] = true
		e, ok := held[id]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing from the external system", id))
			continue
		case e.Deleted:
			diffs = append(diffs, fmt.Sprintf("%s: deleted in the external system, not in the org", id))
			continue
		}
		for _, f := range fieldMap {
			if want, got := canonical(rec[f.sf]), canonical(e.Fields[f.ext]); want != got {
				diffs = append(diffs, fmt.Sprintf("%s: %s is %s in the org, %s in the external system", id, f.sf, want, got))
			}
		}
	}
	var extra []string
	for id := range held {
		if !seen[id] {
			extra = append(extra, id)
		}
	}
	slices.Sort(extra)
	for _, id := range extra {
		diffs = append(diffs, fmt.Sprintf("%s: in the external system, not in the org", id))
	}
	return checked, diffs
}

// canonical writes a value the same way whichever side typed it: the org
// and the Bulk CSV give Go numbers, dates and times; the external file,
// once read back, gives JSON's.
func canonical(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32)
	case int:
		return strconv.Itoa(v)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case time.Time:
		if v.Equal(v.Truncate(24 * time.Hour)) {
			return strconv.Quote(v.UTC().Format(time.DateOnly))
		}
		return strconv.Quote(v.UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("%T(%v)", v, v)
}
