// Package pubsub reads Salesforce Change Data Capture and platform events
// through the gRPC Pub/Sub API and decodes them into [sfsync.Change] values.
//
// [Dial] connects (TLS by default) with credentials from a [TokenSource];
// every call carries them as metadata, and a rejected token is refreshed
// once. [Client.Subscribe] returns a [Subscription], the engine's
// [sfsync.EventSource]: it requests only as many events as the engine can
// take, reconnects with backoff and jitter, resumes after the last
// committed replay id, checkpoints keepalive replay ids so that a quiet
// topic stays inside the 72 h retention, and reports a replay id the server
// no longer has as [ErrReplayUnavailable], which makes the engine backfill.
// [Client.ManagedSubscribe] reads a managed subscription whose position the
// server keeps, and [Client.Publish] and [Client.PublishStream] publish
// platform events.
//
// The [Decoder] fetches each writer schema once and turns change events
// into one change per record: exactly the fields an UPDATE changed, explicit
// nulls distinct from untouched fields, gap and overflow events, and fields
// sent as diffs marked for re-read. [DecodeFieldBitmap] exposes its bitmap
// expansion.
//
// Package pubsubtest is a fake Pub/Sub API server to test against.
package pubsub
