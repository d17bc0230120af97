package salesforcetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/sfsync/sfsync/internal/cdcschema"
)

// mergeChanges merges UPDATE and DELETE changes of one object that carry the
// identical change into one event with several record ids, at the position
// of the first of them (Salesforce's merged change events).
func mergeChanges(in []*change) []*change {
	var out []*change
	for _, c := range in {
		merged := false
		if c.typ == "UPDATE" || c.typ == "DELETE" {
			for _, p := range out {
				if p.obj == c.obj && p.typ == c.typ && slices.Equal(p.changed, c.changed) &&
					slices.Equal(p.nulled, c.nulled) && reflect.DeepEqual(p.values, c.values) {
					p.ids = append(p.ids, c.ids...)
					merged = true
					break
				}
			}
		}
		if !merged {
			cp := *c
			cp.ids = slices.Clone(c.ids)
			out = append(out, &cp)
		}
	}
	return out
}

// emitLocked appends the events of one transaction to the object's channel
// and to /data/ChangeEvents. The commitNumber (system change number) is the
// transaction's: one per commit, shared by all its events, greater for
// every later transaction.
func (o *Org) emitLocked(changes []*change, user, origin string, at time.Time) {
	if len(changes) == 0 {
		return
	}
	key := newTransactionKey()
	o.commitNo++
	for i, c := range changes {
		h := cdcschema.Header{
			EntityName: c.obj.Name, RecordIDs: c.ids, ChangeType: c.typ, ChangeOrigin: origin,
			TransactionKey: key, SequenceNumber: int32(i + 1), CommitTimestamp: at.UnixMilli(),
			CommitNumber: o.commitNo, CommitUser: user,
		}
		payload, err := encodeEvent(c, h)
		if err != nil {
			panic(fmt.Sprintf("salesforcetest: encode %s event: %v", c.obj.Name, err))
		}
		for _, topic := range []string{c.obj.Topic, TopicAll} {
			if _, err := o.ps.AppendEncoded(topic, c.obj.schemaID, payload); err != nil {
				panic(fmt.Sprintf("salesforcetest: append to %s: %v", topic, err))
			}
		}
	}
}

// encodeEvent encodes a change. Bitmaps are byte-aligned ("4-0x01", not
// "4-0x1"): Salesforce drops leading zero bytes, not digits, and its Java
// decoder reads the digits in pairs.
func encodeEvent(c *change, h cdcschema.Header) ([]byte, error) {
	s := c.obj.schema
	changed, err := s.Bitmap(c.changed)
	if err != nil {
		return nil, err
	}
	nulled, err := s.Bitmap(c.nulled)
	if err != nil {
		return nil, err
	}
	native, err := s.Native(h, c.values)
	if err != nil {
		return nil, err
	}
	hdr := native["ChangeEventHeader"].(map[string]any)
	hdr["changedFields"], hdr["nulledFields"] = padBitmap(changed), padBitmap(nulled)
	return c.obj.codec.BinaryFromNative(nil, native)
}

func padBitmap(entries []string) []any {
	out := make([]any, len(entries))
	for i, e := range entries {
		idx := strings.Index(e, "0x")
		digits := e[idx+2:]
		if len(digits)%2 == 1 {
			digits = "0" + digits
		}
		out[i] = e[:idx+2] + digits
	}
	return out
}

// EmitGap emits one GAP_UPDATE event for the records (header only, body
// null), as Salesforce does for changes it could not capture.
func (o *Org) EmitGap(object string, ids ...string) {
	o.EmitGapEvent(object, "GAP_UPDATE", ids...)
}

// EmitGapEvent emits a gap event of the given change type (GAP_CREATE,
// GAP_UPDATE, GAP_DELETE, GAP_UNDELETE or GAP_OVERFLOW) for the ids.
func (o *Org) EmitGapEvent(object, changeType string, ids ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.objects[strings.ToLower(object)]
	if d == nil {
		panic(fmt.Sprintf("salesforcetest: unknown object %q", object))
	}
	o.emitLocked([]*change{{obj: d, typ: changeType, ids: slices.Clone(ids), values: map[string]any{}}}, uiUserID, "", o.now())
}

// EmitOverflow emits a GAP_OVERFLOW event for object with the empty record
// id 000000000000000AAA.
func (o *Org) EmitOverflow(object string) {
	o.EmitGapEvent(object, "GAP_OVERFLOW", EmptyRecordID)
}
