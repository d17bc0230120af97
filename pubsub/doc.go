// Package pubsub reads Salesforce Change Data Capture and platform events
// through the gRPC Pub/Sub API and decodes them into [sfsync.Change] values.
//
// [Dial] connects (TLS by default) with credentials from a [TokenSource];
// every call carries them as metadata, and a rejected token is refreshed
// once. [Client.Subscribe] returns a [Subscription], the engine's
// [sfsync.EventSource]: it requests only as many events as the engine can
// take, reconnects with backoff and jitter, resumes after the last event it
// received (after the engine's checkpoint on a restart), checkpoints
// keepalive replay ids so that a quiet topic stays inside the 72 h
// retention, and reports a replay id the server no longer has as
// [ErrReplayUnavailable], which makes the engine backfill. Positions it
// hands out never move backwards, and an event that cannot be decoded yet
// stays first in line: it is retried, or handed over whole as
// [sfsync.OpUndecodable] when it never will decode.
// [Client.ManagedSubscribe] reads a managed subscription whose position the
// server keeps, and [Client.Publish] and [Client.PublishStream] publish
// platform events.
//
// The [Decoder] fetches each writer schema once and turns change events
// into one change per record: exactly the fields an UPDATE changed, explicit
// nulls distinct from untouched fields, gap and overflow events, and fields
// sent as diffs marked for re-read. Versions carry the commit timestamp,
// commit number and sequence number, so transactions that committed in the
// same millisecond keep their order. [DecodeFieldBitmap] exposes its bitmap
// expansion.
//
// Decoding is bounded by the bytes that arrive: every payload is walked
// against its writer schema before goavro decodes it, and one that claims
// more items or bytes than it holds, or nests deeper than 64 levels, is
// handed over as [sfsync.OpUndecodable] (an N-byte payload costs at most a
// small multiple of N). goavro's package globals (MaxBlockCount and
// MaxBlockSize) are left as the host application sets them. Writer
// schemas are accepted up to 8 MiB and 64 levels of JSON nesting, bitmaps
// up to 1,024 entries of 4,096 hex digits. A panic while decoding (in a
// decoding step, goavro or a [SchemaFunc]) is recovered: the event is
// handed over as [sfsync.OpUndecodable] with the panic's text as its
// reason, and the engine dead-letters it in its place.
//
// [Dial] sets gRPC's receive message size limit to 101 MiB (gRPC's default
// is 4 MiB): one response carries at most the events the stream is owed,
// at most 100, of at most 1 MB each, plus framing. [WithMaxReceiveSize]
// changes it; it is also the most one response can make the client
// allocate. A larger response is not read: the stream ends with
// RESOURCE_EXHAUSTED, and the subscription reopens it after the last
// event received, asking for half as many events each time until a
// response fits, and for its full window again once a window of events has
// come through. An event too large on its own stops the subscription
// before it, and its Err reports [ErrMessageTooLarge]. The server refusing
// a subscription for its own limits (the org's event delivery allocation,
// concurrent clients: RESOURCE_EXHAUSTED or an error-code naming a limit)
// is waited out with the reconnect backoff, never by reconnecting at once,
// and reported by Err as [ErrServerLimit]. Either way nothing is skipped:
// the subscription resumes after the last event it received. The engine's
// Health includes what Err reports.
//
// Package pubsubtest is a fake Pub/Sub API server to test against.
package pubsub
