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
// Package pubsubtest is a fake Pub/Sub API server to test against.
package pubsub
