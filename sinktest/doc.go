// Package sinktest is the conformance suite of [sfsync.Sink] backends.
// Every backend, ours or a user's, runs it with one call:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t, func(t *testing.T) sinktest.Target {
//			sink := openMySink(t)
//			return sinktest.Target{
//				Sink: sink, Reader: sink, Lookup: lookupInMyTarget,
//				Object: "Contact", Fields: []string{"LastName", "Email"},
//				NewID: func(i int) string { return fmt.Sprintf("P-%d", i) },
//			}
//		})
//	}
//
// newTarget must return an empty target each call (every subtest starts
// from nothing) and arrange its cleanup with t.Cleanup.
//
// The suite checks what the [sfsync.Sink] and [sfsync.StateReader]
// contracts promise: creates and updates read back; an update writes only
// the fields it names; explicit nulls clear; several changes to one record
// in one Write apply in slice order; writing the same changes again (same
// idempotency keys) changes nothing and duplicates nothing; a refused
// change fails alone, as a permanent entry of a [*sfsync.BatchError]
// aligned with the input; deletes remove, and deleting a missing record
// succeeds (deletes are idempotent, so a retried delete is not a failure);
// Read returns what was written and omits missing ids; a Write under a
// canceled context fails without a permanent verdict. A sink that is also
// an [sfsync.ConditionalSink] is checked to refuse, as a conflict that
// takes no effect and leaves its idempotency key unused, a change decided
// on a read that a later write made stale, and a create of a record that
// appeared since the read; the check is skipped for other sinks.
//
// Field values are strings. Fields[0] must accept any short non-empty
// string (it may be required, like Contact.LastName); Fields[1:] must also
// accept null.
package sinktest
