package pubsub

import "testing"

// The receive limit holds a full window of the largest events.
func TestReceiveLimitHoldsAFullWindowOfLargestEvents(t *testing.T) {
	if maxRecvMsgSize < maxRequested*maxEventSize {
		t.Fatalf("receive limit %d is below %d events of %d bytes", maxRecvMsgSize, maxRequested, maxEventSize)
	}
}
