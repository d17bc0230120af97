// Package conflict provides the write-back conflict policies: pure,
// deterministic functions of an incoming change and the target's current
// state, so that a replay or a reconciliation always decides as the first
// pass did.
//
// Policies decide per field. [LastWriteWins] compares the change's version
// with each target field's version, breaking ties inside a clock-skew
// tolerance by system of record and then by content, never by arrival
// order. [FieldOwnership] gives fields to the system that owns them and
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
