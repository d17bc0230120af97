// Package conflict provides the write-back conflict policies: pure,
// deterministic functions of an incoming change and the target's current
// state, so that a replay or a reconciliation always decides as the first
// pass did.
//
// Policies decide per field. [LastWriteWins] compares the change's version
// with each target field's version, breaking ties inside a clock-skew
// tolerance by system of record and then by content, never by arrival
// order.
//
// Two rules hold under every policy. A system's own later change always
// supersedes its own earlier one: where the target's last writer of a field
// (Record.LastWriter) is the change's own system, plain version order
// decides, with no skew tolerance. And deletes are versioned tombstones: a
// deleted record with a Version, deleted by LastWriter[[RecordLevel]],
// is not brought back by a create, update or undelete older than its
// delete from the deleter itself; between systems the policy decides, with
// the tombstone's version compared like any field version (last write
// wins), or the winner prevailing (Salesforce wins, external wins). When
// the deleter is not known the change must be newer than the delete. [FieldOwnership] gives fields to the system that owns them and
// hands the rest to a fallback, and [PerObject] picks a policy by object, so
// policies compose:
//
//	policy := conflict.PerObject(map[string]sfsync.ConflictPolicy{
//		"Contact": conflict.FieldOwnership(conflict.Owners{"Email": sfsync.Salesforce},
//			conflict.LastWriteWins(conflict.WithSkewTolerance(2*time.Second))),
//	}, conflict.SalesforceWins())
//
// Any function of the same shape is a policy too: see sfsync.ConflictPolicyFunc.
package conflict
