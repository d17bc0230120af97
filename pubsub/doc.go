// Package pubsub reads Salesforce Change Data Capture and platform events
// through the gRPC Pub/Sub API and decodes them into [sfsync.Change] values.
//
// [DecodeFieldBitmap] expands the changedFields, nulledFields and diffFields
// bitmaps of a change event header into field names; the event decoder
// uses the same logic on each event's own writer schema, so an UPDATE
// applies exactly the fields it changed and explicit nulls stay distinct
// from untouched fields.
package pubsub
