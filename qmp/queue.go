package qmp

import "sync"

// outQueue holds a client's encoded messages (the greeting, replies and
// events) until its writer goroutine sends them, in the order they were
// queued. Whole messages go in and out, so messages never interleave.
//
// The queue holds at most limit bytes, except that a single message is
// always accepted into an empty queue. What happens at the limit depends
// on who queues:
//
//   - a reply waits for room: the client's dispatcher stops, so the server
//     stops reading that client's commands (backpressure, like QEMU's
//     monitor_suspend) and no one else is affected;
//   - an event is never waited for: if it does not fit, pushEvent fails and
//     the caller disconnects the client. A client that does not read its
//     events is dropped rather than left to miss some silently, and Emit
//     never blocks on it.
//
// The writer takes everything queued at once, so besides the queue up to
// one batch (at most limit bytes, or one larger message) is being written.
type outQueue struct {
	mu         sync.Mutex
	cond       sync.Cond // signalled on every change; L is &mu
	msgs       [][]byte
	size       int
	limit      int
	negotiated bool // events are queued only once this is set
	finishing  bool // no more messages will come: the writer stops when empty
	closed     bool // the client is gone: everything stops, queue dropped
}

func newOutQueue(limit int) *outQueue {
	q := &outQueue{limit: limit}
	q.cond.L = &q.mu
	return q
}

func (q *outQueue) fits(msg []byte) bool {
	return len(q.msgs) == 0 || q.size+len(msg) <= q.limit
}

func (q *outQueue) add(msg []byte) {
	q.msgs = append(q.msgs, msg)
	q.size += len(msg)
	q.cond.Broadcast()
}

// pushReply queues a reply, waiting for room. With negotiate set, the
// client counts as negotiated from this reply on: events emitted after it
// is queued are queued behind it, none before. It reports false if the
// queue was closed.
func (q *outQueue) pushReply(msg []byte, negotiate bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && !q.fits(msg) {
		q.cond.Wait()
	}
	if q.closed {
		return false
	}
	q.add(msg)
	if negotiate {
		q.negotiated = true
	}
	return true
}

// pushEvent queues an event if the client has negotiated. It never waits;
// it reports false if the event does not fit, and the caller must then
// disconnect the client.
func (q *outQueue) pushEvent(msg []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || !q.negotiated {
		return true
	}
	if !q.fits(msg) {
		return false
	}
	q.add(msg)
	return true
}

// take waits for messages and removes them all from the queue, appending
// them to dst. It reports false when there is nothing more to write: the
// queue is closed, or finishing and empty.
func (q *outQueue) take(dst [][]byte) ([][]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && !q.finishing && len(q.msgs) == 0 {
		q.cond.Wait()
	}
	if q.closed || len(q.msgs) == 0 {
		return dst, false
	}
	dst = append(dst, q.msgs...)
	clear(q.msgs)
	q.msgs, q.size = q.msgs[:0], 0
	q.cond.Broadcast()
	return dst, true
}

// finish tells the writer to stop once everything queued is written.
func (q *outQueue) finish() {
	q.mu.Lock()
	q.finishing = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// close drops the queue and wakes everyone waiting on it.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.msgs, q.size = nil, 0
	q.cond.Broadcast()
	q.mu.Unlock()
}
