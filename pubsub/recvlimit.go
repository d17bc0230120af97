package pubsub

// maxEventSize is the largest event the Pub/Sub API carries: 1 MB per
// event (Pub/Sub API allocations; a larger published event fails on its
// own).
const maxEventSize = 1 << 20

// maxRecvMsgSize is the default gRPC receive message size limit of a
// client (grpc.MaxCallRecvMsgSize, set by Dial, changed with
// WithMaxReceiveSize). One FetchResponse may carry every event the stream
// is owed: at most maxRequested (100) events, the server's cap on what one
// Subscribe call may be owed, of at most maxEventSize each, plus a MiB for
// replay ids, event and schema ids and framing. gRPC's default of 4 MiB is
// the service's publish limit; a subscription with a full window of large
// events would exceed it.
//
// Above the limit grpc-go does not allocate the message: Recv fails with
// codes.ResourceExhausted and the stream ends. Nothing is lost, since the
// events were not received and the subscription resumes after the last
// event it did receive; it asks for half as many events at a time until a
// response fits (see flow.exhausted), since fetching the same oversized
// batch again would fail for ever. A single event above the limit cannot
// be read at all, and is reported by the subscription's Err.
//
// gRPC allocates a message's buffer from the length the server announces,
// so this limit is also what one hostile or broken server response can
// make the client allocate.
const maxRecvMsgSize = maxRequested*maxEventSize + 1<<20
