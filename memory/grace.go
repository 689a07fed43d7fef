package memory

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"qmem.dev/qmem/qom"
)

// Grace periods (DESIGN L5).
//
// Readers (vCPUs, DMA engines) announce themselves with a Reader. Entering
// an access stores the current global epoch in the reader's own cache line;
// leaving stores zero: no shared write, no lock. Every outermost commit
// publishes its views and then advances the epoch; whatever the commit
// released (references on owners, host memory) waits in a queue tagged with
// the new epoch, and is let go only when every reader is either outside or
// entered at or after that epoch, i.e. can only see the new views.
//
// Go's sync/atomic operations are sequentially consistent, which is what
// makes the argument hold: a reader that loaded an old epoch stored it before
// loading a view, so the writer, which reads the slot after publishing,
// either sees the reader inside (and waits) or the reader's later view load
// sees the new view.

// readerSlot is one reader's epoch, alone on its cache line.
type readerSlot struct {
	_      [64]byte
	active atomic.Uint64 // 0 outside; else the epoch seen at entry
	_      [56]byte
}

type retireItem struct {
	epoch uint64
	obj   *qom.Object // unref this (with hold) ...
	hold  qom.Hold
	fn    func() // ... or run this
}

type graceState struct {
	epoch atomic.Uint64 // starts at 1; 0 in a slot means "outside"

	regMu   sync.Mutex
	readers atomic.Pointer[[]*readerSlot] // copy on write under regMu

	// Guarded by the System's lock.
	pending    []retireItem // released by the open transaction
	queue      []retireItem // waiting for their epoch to be safe
	reclaiming bool

	waiters atomic.Int32
	wake    chan struct{}

	async asyncState // releases made outside the lock
}

func (g *graceState) init() {
	g.epoch.Store(1)
	g.readers.Store(&[]*readerSlot{})
	g.wake = make(chan struct{}, 1)
}

// deferUnref schedules o.UnrefHold(h) after the current transaction's grace
// period. Requires the lock.
func (g *graceState) deferUnref(o *qom.Object, h qom.Hold) {
	g.pending = append(g.pending, retireItem{obj: o, hold: h})
}

// deferFunc schedules fn after the current transaction's grace period.
func (g *graceState) deferFunc(fn func()) {
	g.pending = append(g.pending, retireItem{fn: fn})
}

// publish advances the epoch after new views were published and queues the
// transaction's releases behind it.
func (g *graceState) publish() {
	if len(g.pending) == 0 {
		return
	}
	e := g.epoch.Add(1)
	for i := range g.pending {
		g.pending[i].epoch = e
	}
	g.queue = append(g.queue, g.pending...)
	g.pending = g.pending[:0]
}

// safeEpoch returns the oldest epoch a reader may still be in: items tagged
// at or below it are safe to release. With no reader inside it is the
// current epoch.
func (g *graceState) safeEpoch() uint64 {
	min := g.epoch.Load()
	for _, s := range *g.readers.Load() {
		if e := s.active.Load(); e != 0 && e < min {
			min = e
		}
	}
	return min
}

// reclaim releases every queued item whose grace period has passed. Releases
// may finalize objects, whose finalization may commit and queue more; those
// are handled in the same loop. Requires the lock.
func (s *System) reclaim() {
	g := &s.grace
	if g.reclaiming || s.depth > 0 {
		return
	}
	g.reclaiming = true
	defer func() { g.reclaiming = false }()
	for _, it := range g.takeAsync() {
		it.obj.UnrefHold(it.hold)
	}
	for len(g.queue) > 0 {
		safe := g.safeEpoch()
		if g.queue[0].epoch > safe {
			return
		}
		it := g.queue[0]
		g.queue = g.queue[1:]
		if it.fn != nil {
			it.fn()
		} else {
			it.obj.UnrefHold(it.hold)
		}
	}
	g.queue = nil
}

// Pending returns the number of releases waiting for a grace period.
func (s *System) Pending() int { return len(s.grace.queue) + len(s.grace.pending) }

// Synchronize waits until every reader that could see a view older than
// now has left it, then performs the releases that were waiting. It requires
// the lock and releases it while waiting, so that readers blocked on the
// machine lock (a device callback changing the topology) can finish; the
// topology may therefore change during the call. It must not be called from
// inside an access (it would wait for itself) nor inside a transaction.
func (s *System) Synchronize() {
	if s.depth > 0 {
		panic("memory: Synchronize inside a transaction")
	}
	g := &s.grace
	g.publish()
	target := g.epoch.Load()
	if g.safeEpoch() < target {
		s.mu.Unlock()
		g.waitFor(context.Background(), target)
		s.mu.Lock()
	}
	s.reclaim()
}

// WaitGrace waits, without the lock, until no reader can still see a view
// that was replaced before the call, or until ctx is done. Call Reclaim (with
// the lock) afterwards to perform the releases.
func (s *System) WaitGrace(ctx context.Context) error {
	return s.grace.waitFor(ctx, s.grace.epoch.Load())
}

// Reclaim performs the releases whose grace period has passed. Requires the
// lock.
func (s *System) Reclaim() { s.reclaim() }

func (g *graceState) waitFor(ctx context.Context, target uint64) error {
	for i := 0; i < 200; i++ {
		if g.safeEpoch() >= target {
			return nil
		}
		runtime.Gosched()
	}
	g.waiters.Add(1)
	defer g.waiters.Add(-1)
	t := time.NewTimer(time.Millisecond)
	defer t.Stop()
	for g.safeEpoch() < target {
		select {
		case <-g.wake:
		case <-t.C:
			// A safety net against a missed wake-up; readers wake us.
			t.Reset(10 * time.Millisecond)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Reader is a registered reader of the memory system: one per vCPU or DMA
// engine, used by one goroutine at a time. Accesses through it take no lock,
// perform no shared atomic write and allocate nothing; views it may still be
// inside are kept (with the regions and owners they show) until it leaves.
type Reader struct {
	sys   *System
	slot  *readerSlot
	depth int

	// last-hit cache for the dispatch (per reader, never shared)
	lastView  *FlatView
	lastRange int

	// Devices whose callbacks this reader is inside (R-ACC-8).
	inside    int
	insideDev [8]*qom.Object
}

// NewReader registers a reader. Close it when done.
func (s *System) NewReader() *Reader {
	g := &s.grace
	slot := new(readerSlot)
	g.regMu.Lock()
	old := *g.readers.Load()
	next := make([]*readerSlot, len(old), len(old)+1)
	copy(next, old)
	next = append(next, slot)
	g.readers.Store(&next)
	g.regMu.Unlock()
	return &Reader{sys: s, slot: slot, lastRange: -1}
}

// Close unregisters the reader. It must not be inside an access.
func (r *Reader) Close() {
	if r.slot == nil {
		return
	}
	g := &r.sys.grace
	g.regMu.Lock()
	old := *g.readers.Load()
	next := make([]*readerSlot, 0, len(old))
	for _, s := range old {
		if s != r.slot {
			next = append(next, s)
		}
	}
	g.readers.Store(&next)
	g.regMu.Unlock()
	r.slot.active.Store(0)
	r.slot = nil
	if g.waiters.Load() != 0 {
		g.signal()
	}
}

// Enter marks the start of a read-side critical section: until the
// matching Exit, nothing the reader can see is released. Sections nest.
func (r *Reader) Enter() {
	if r.depth == 0 {
		r.slot.active.Store(r.sys.grace.epoch.Load())
	}
	r.depth++
}

// Exit ends a section started with Enter.
func (r *Reader) Exit() {
	r.depth--
	if r.depth == 0 {
		r.slot.active.Store(0)
		if r.sys.grace.waiters.Load() != 0 {
			r.sys.grace.signal()
		}
	}
}

func (g *graceState) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}
