package salesforcetest

import (
	"fmt"
	"strings"
)

// Load adds n records of object as data the org already holds when a test
// starts: gen(i) gives the fields of record i (as for Insert). Unlike
// Insert it emits no change events and does not count as writes, so a test
// can set up hundreds of thousands of records cheaply. The records are
// created by the UI user at the current clock; when gen gives an invalid
// record, Load stops there and keeps the records before it.
func (o *Org) Load(object string, n int, gen func(i int) map[string]any) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.objects[strings.ToLower(object)]
	if d == nil {
		return fmt.Errorf("salesforcetest: unknown object %q", object)
	}
	t := o.beginLocked(uiUserID, UIOrigin)
	t.quiet = true
	for i := range n {
		in, err := resolveInput(d, gen(i))
		if err == nil {
			_, err = t.create(d, in)
		}
		if err != nil {
			t.rollback()
			return fmt.Errorf("salesforcetest: Load %s record %d: %v", object, i, err)
		}
		// A long load would otherwise hold an undo entry per record.
		t.undo = t.undo[:0]
	}
	return nil
}
