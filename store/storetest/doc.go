// Package storetest is the conformance suite of engine state stores. Every
// backend, ours or a user's, runs it with one call:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store { return openMyStore(t) })
//	}
//
// Backends that hold only some kinds of state run the matching subsets
// ([RunDedup], [RunCheckpoints], [RunLedger], [RunDeadLetters], [RunEchoes],
// [RunLeases], [RunCommit]). open must return an empty store each call and
// arrange its cleanup with t.Cleanup.
//
// Expiry is tested with short real TTLs (tens of milliseconds) and polling
// under a generous deadline, so stores need no test clock.
package storetest
