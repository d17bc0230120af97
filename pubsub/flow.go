package pubsub

import (
	"context"
	"slices"
	stdsync "sync"
	"time"
)

// flow is the client's side of Pub/Sub flow control, shared by both kinds
// of subscription: what the server owes the current stream, what arrived
// and waits to be queued, and the queue Receive drains.
//
// Requests are counted before they are sent (a response may overtake the
// bookkeeping) and debited by the events that arrive, not taken from
// pending_num_requested, which misses requests the server has not read
// yet. So what is owed plus what is buffered never exceeds the window.
type flow struct {
	window int
	// limit is the receive message size limit, for the errors that name it.
	limit   int
	items   chan item
	drained chan struct{} // Receive took an item
	askMu   stdsync.Mutex // one credit computation and request at a time

	mu      stdsync.Mutex
	pending int // events the server still owes the current stream
	inHand  int // events received and not yet queued
	// queued counts the events handed to items and not yet taken by
	// Receive. It moves under mu before the send and after the take, so
	// that an event is counted once at every moment (len(items) and inHand
	// both counted it between a send and the lock after it: the window's
	// books showed one event too many).
	queued int
	stats  SubscriptionStats
	// batch caps what one stream may be owed: the window, or less after a
	// response exceeded the receive limit (see exhausted). sinceCut counts
	// the events received since it was cut.
	batch    int
	sinceCut int
	// trouble is the lasting failure Err reports, cleared by the next
	// response.
	trouble error

	// receiver admits one Receive at a time; its holder owns head.
	receiver chan struct{}
	// head is the item Receive took from the queue and has not handed out
	// yet: an event whose schema could not be fetched so far. It is tried
	// again before anything behind it, so that no later event is delivered,
	// or committed, ahead of it. It is held by value (hasHead says whether
	// there is one): a pointer to each event's item cost an allocation.
	head    item
	hasHead bool
}

func newFlow(window, limit int) *flow {
	return &flow{window: window, limit: limit, batch: window,
		items: make(chan item, window), drained: make(chan struct{}, 1), receiver: make(chan struct{}, 1)}
}

// connected starts the books of a new stream.
func (f *flow) connected(reconnect bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if reconnect {
		f.stats.Reconnects++
	}
	f.stats.Connects++
	f.pending, f.inHand = 0, 0
}

// owed is what the server still owes the current stream.
func (f *flow) owed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending
}

// credit is how many more events may be requested: the window minus what
// is owed and what waits for Receive, and no more than the batch allows
// to be owed.
func (f *flow) credit() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return min(f.window-f.pending-f.inHand-f.queued, f.batch-f.pending)
}

// ask requests the free credit through send when want agrees; a nil want
// sends even without credit (a first request that only names the
// subscription). The credit is read and booked under one lock, so two
// askers cannot both ask for it.
func (f *flow) ask(want func(credit int) bool, send func(n int) error) error {
	f.askMu.Lock()
	defer f.askMu.Unlock()
	n := f.credit()
	if want != nil && (n <= 0 || !want(n)) {
		return nil
	}
	n = max(n, 0)
	f.mu.Lock()
	f.pending += n
	f.stats.FetchRequests++
	f.stats.MaxOwed = max(f.stats.MaxOwed, f.pending+f.inHand+f.queued)
	f.mu.Unlock()
	return send(n)
}

// refill asks for more each time Receive takes an item and at least half
// the window is free (or nothing is owed), until ctx ends or a send fails.
func (f *flow) refill(ctx context.Context, send func(n int) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.drained:
		}
		if f.ask(func(n int) bool { return n >= f.window/2 || f.owed() == 0 }, send) != nil {
			return
		}
	}
}

// askIfDrained asks again when the server owes nothing: a drained stream
// must be asked within 60 s or the server closes it. A failed send shows
// as the stream's end.
func (f *flow) askIfDrained(send func(n int) error) {
	_ = f.ask(func(int) bool { return f.owed() == 0 }, send)
}

// received books a response: its events are no longer owed and wait to be
// queued.
func (f *flow) received(events int, latest []byte, keepalive bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.LastMessage = time.Now()
	f.pending = max(0, f.pending-events)
	if len(latest) > 0 {
		// The response's own bytes (unmarshalled into a slice of their
		// own, never written after) are kept as they are; snapshot copies
		// them for callers. A copy here cost an allocation per response.
		f.stats.LatestReplayID = latest
	}
	if keepalive {
		f.stats.Keepalives++
	}
	f.stats.Events += events
	f.inHand = events
	f.trouble = nil
	if f.batch < f.window {
		// A full window of events fitted at the cut batch: the oversized
		// stretch is most likely behind, and full batches are cheaper.
		if f.sinceCut += events; f.sinceCut >= f.window {
			f.batch = f.window
		}
	}
}

// queue hands it to Receive, and reports false when ctx ended first.
func (f *flow) queue(ctx context.Context, it item) bool {
	if it.ev != nil {
		f.mu.Lock()
		f.inHand--
		f.queued++
		f.mu.Unlock()
	}
	select {
	case f.items <- it:
		return true
	case <-ctx.Done():
		if it.ev != nil {
			f.mu.Lock()
			f.queued--
			f.mu.Unlock()
		}
		return false
	}
}

// receive admits the caller as the one receiver until it calls release.
// (A release closure returned here cost an allocation per Receive.)
func (f *flow) receive(ctx context.Context) error {
	select {
	case f.receiver <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release ends the receiver's turn that receive admitted.
func (f *flow) release() { <-f.receiver }

// peek returns the head item, taking the next queued one as the head when
// there is none. The item stays the head until pop. Only the receiver
// (see receive) may call it. closed reports that done was closed first.
func (f *flow) peek(ctx context.Context, done <-chan struct{}) (it item, closed bool, err error) {
	if f.hasHead {
		return f.head, false, nil
	}
	it, closed, err = f.next(ctx, done)
	if err == nil && !closed {
		f.head, f.hasHead = it, true
	}
	return it, closed, err
}

// pop hands the head item out: the next peek takes a new one.
func (f *flow) pop() { f.head, f.hasHead = item{}, false }

// next takes the next queued item and lets the refill know. closed reports
// that done was closed first.
func (f *flow) next(ctx context.Context, done <-chan struct{}) (it item, closed bool, err error) {
	select {
	case it = <-f.items:
	case <-ctx.Done():
		return item{}, false, ctx.Err()
	case <-done:
		return item{}, true, nil
	}
	if it.ev != nil {
		f.mu.Lock()
		f.queued--
		f.mu.Unlock()
	}
	select {
	case f.drained <- struct{}{}:
	default:
	}
	return it, false, nil
}

// snapshot returns the counters.
// lastMessage is when the server last sent anything.
func (f *flow) lastMessage() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats.LastMessage
}

func (f *flow) snapshot() SubscriptionStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stats
	st.Batch = f.batch
	st.LatestReplayID = slices.Clone(st.LatestReplayID)
	return st
}

// pump reads a stream on its own goroutine, so that the caller can wait on
// responses, the stream's end and its timers together.
func pump[T any](ctx context.Context, recv func() (T, error)) (<-chan T, <-chan error) {
	msgs := make(chan T)
	ended := make(chan error, 1)
	go func() {
		for {
			m, err := recv()
			if err != nil {
				ended <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, ended
}
