// Package sourcetest is the conformance suite of [sfsync.EventSource]
// implementations. Every source, ours or a user's, runs it with one call:
//
//	func TestSourceConformance(t *testing.T) {
//		sourcetest.Run(t, func(t *testing.T) sourcetest.Target {
//			sys := newMySystem(t) // a fresh stream for every check
//			return sourcetest.Target{
//				Open: func(t *testing.T, consumer string) sfsync.EventSource { return sys.Subscribe(consumer) },
//				Emit: func(t *testing.T, record, value string) { sys.Set(record, "Name", value) },
//				Value: func(c sfsync.Change) (string, bool) { v, ok := c.Fields["Name"].(string); return v, ok },
//			}
//		})
//	}
//
// newTarget must return a target with a stream of its own each call and
// arrange its cleanup with t.Cleanup. The suite drives sources as the
// engine does: it resumes a source implementing [sfsync.Resumer] from a
// checkpoint store of the suite's before the first Receive, and after a
// Commit saves the position there.
//
// The checks come from the cases pub/sub libraries' universal tests run:
// every change emitted is delivered; changes of one record are delivered
// in the order they were made; a source reopened from a checkpoint resumes
// right after it (no committed change again) and loses nothing that was
// delivered but not committed, whether it was closed or abandoned as in a
// crash; committing an older position after a newer one is harmless;
// Close and a canceled context end a blocked Receive, and the source works
// on after a cancellation; two consumers with their own checkpoints each
// get every change and do not move each other's position.
//
// Deliveries may repeat a change (sources are at least once); changes the
// target's Value does not recognise, and [sfsync.OpAdvance] deliveries,
// are ignored except for their positions.
package sourcetest
