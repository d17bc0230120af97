package pubsub

// maxEventSize is the largest event the Pub/Sub API carries: 1 MB per
// event (Pub/Sub API allocations; a larger published event fails on its
// own).
const maxEventSize = 1 << 20

// maxRecvMsgSize is the gRPC receive message size limit for the Pub/Sub
// client (grpc.MaxCallRecvMsgSize): one FetchResponse may carry every
// event the subscription has requested, at most maxRequested (100) events
// of at most maxEventSize each, plus a MiB for replay ids, schema ids and
// framing. gRPC's default of 4 MiB is the publish limit; a subscription
// with a full window of large events would exceed it.
//
// Above the limit grpc-go does not allocate the message: Recv fails with
// codes.ResourceExhausted and the stream ends. Nothing is lost, since the
// events were not received and the subscription resumes after the last
// event it did receive; it must then ask for fewer events at a time (a
// batch of one event always fits), or it would fetch the same oversized
// batch for ever.
//
// gRPC allocates a message's buffer from the length the server announces,
// so this limit is also what one hostile or broken server response can
// make the client allocate.
const maxRecvMsgSize = maxRequested*maxEventSize + 1<<20
