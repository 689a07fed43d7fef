package memory

import (
	"context"
	"sync"
	"sync/atomic"

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

// readerSlot is one reader's epoch, alone on its cache line, with the
// reader's counters of access problems (written only by the reader, with a
// plain load and store: no shared write, no read-modify-write).
type readerSlot struct {
	_      [64]byte
	active atomic.Uint64 // 0 outside; else the epoch seen at entry
	counts [3]atomic.Uint64
	_      [32]byte
}

// count adds one to the reader's counter c (its owner goroutine only).
func (s *readerSlot) count(c int) { s.counts[c].Store(s.counts[c].Load() + 1) }

type retireItem struct {
	epoch uint64
	obj   *qom.Object // unref this (with hold) ...
	hold  qom.Hold
	fn    func() // ... or run this
}

type graceState struct {
	epoch  atomic.Uint64 // starts at 1; 0 in a slot means "outside"
	passed atomic.Uint64 // highest epoch observed safe (safeEpoch)

	regMu   sync.Mutex
	readers atomic.Pointer[[]*readerSlot] // copy on write under regMu

	// Guarded by the System's lock.
	pending    []retireItem // released by the open transaction
	queue      []retireItem // waiting for their epoch to be safe
	reclaiming bool

	// Goroutines waiting for a grace period, and their wake-up channels
	// (copy on write under regMu). A reader that leaves its last section
	// while waiters is not zero pokes every channel.
	waiters atomic.Int32
	wakers  atomic.Pointer[[]chan struct{}]

	// Counters of closed readers, folded in under regMu.
	retired [3]uint64

	async asyncState // releases made outside the lock
}

func (g *graceState) init() {
	g.epoch.Store(1)
	g.readers.Store(&[]*readerSlot{})
	g.wakers.Store(&[]chan struct{}{})
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
//
// A reader may store an epoch that was already superseded (it loaded the
// epoch, the writer published and advanced, then the reader stored what it
// had loaded). Such a reader sees the new views, since it loads a view
// after its store, but its slot makes the minimum look older. So the
// highest epoch ever seen safe is remembered (passed): once a grace period
// has been observed to end, it stays ended.
func (g *graceState) safeEpoch() uint64 {
	min := g.epoch.Load()
	for _, s := range *g.readers.Load() {
		if e := s.active.Load(); e != 0 && e < min {
			min = e
		}
	}
	for {
		p := g.passed.Load()
		if min <= p {
			return p
		}
		if g.passed.CompareAndSwap(p, min) {
			return min
		}
	}
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
//
// Releases can cascade (a finalized owner's regions release more); it
// repeats until nothing is left waiting.
func (s *System) Synchronize() {
	if s.depth > 0 {
		panic("memory: Synchronize inside a transaction")
	}
	g := &s.grace
	for round := 0; round == 0 || s.Pending() > 0; round++ {
		g.publish()
		target := g.epoch.Load()
		if g.safeEpoch() < target {
			s.mu.Unlock()
			g.waitFor(context.Background(), target)
			s.mu.Lock()
		}
		s.reclaim()
		if round > 1000 {
			panic("memory: Synchronize: releases keep cascading")
		}
	}
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

// waitFor blocks until no reader is inside a section entered before epoch
// target, or ctx is done. It never sleeps on a timer: it registers a
// wake-up channel that every reader leaving its outermost section (and
// every Close) pokes while someone waits. The wake-up cannot be missed: the
// waiter publishes its channel and raises waiters before reading the slots,
// a reader clears its slot before reading waiters, and sync/atomic is
// sequentially consistent, so one of the two sees the other.
func (g *graceState) waitFor(ctx context.Context, target uint64) error {
	// No spinning: yielding to busy readers can cost a scheduler time slice
	// each time.
	if g.safeEpoch() >= target {
		return nil
	}
	wake := make(chan struct{}, 1)
	g.addWaker(wake)
	defer g.removeWaker(wake)
	for g.safeEpoch() < target {
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (g *graceState) addWaker(c chan struct{}) {
	g.regMu.Lock()
	old := *g.wakers.Load()
	next := append(old[:len(old):len(old)], c)
	g.wakers.Store(&next)
	g.regMu.Unlock()
	g.waiters.Add(1)
}

func (g *graceState) removeWaker(c chan struct{}) {
	g.waiters.Add(-1)
	g.regMu.Lock()
	old := *g.wakers.Load()
	next := make([]chan struct{}, 0, len(old))
	for _, x := range old {
		if x != c {
			next = append(next, x)
		}
	}
	g.wakers.Store(&next)
	g.regMu.Unlock()
}

// signal pokes every waiter (without blocking). It is kept out of line so
// that Exit stays small enough to inline.
//
//go:noinline
func (g *graceState) signal() {
	for _, c := range *g.wakers.Load() {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Reader is a registered reader of the memory system: one per vCPU or DMA
// engine, used by one goroutine at a time. Accesses through it take no lock,
// perform no shared atomic write and allocate nothing; views it may still be
// inside are kept (with the regions and owners they show) until it leaves.
type Reader struct {
	sys   *System
	grace *graceState
	slot  *readerSlot
	depth int

	// Last hit (per reader, never shared): the view of the previous access
	// and the index of its range there. A view is immutable, so while the
	// space still publishes the same view the range is still valid.
	view *FlatView
	idx  int

	// The MMIO callback levels this reader is inside, innermost last
	// (R-ACC-8, and a bound on nesting).
	nest   int
	levels [maxNest]callbackLevel

	// borrowed marks the pool's readers (AddressSpace.Read and friends),
	// whose callback nesting is also bounded across readers.
	borrowed bool

	// Keeps the next allocation off the cache line of depth and the last
	// hit, which every access writes.
	_ [64]byte
}

// callbackLevel is one MMIO dispatch a reader is inside: its region (whose
// guardDev the re-entrancy guard compares), what to report if the callback
// panics, and the reader's section depth to restore then.
type callbackLevel struct {
	mr    *Region
	off   uint64
	size  uint
	write bool
	depth int
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
	return &Reader{sys: s, grace: g, slot: slot}
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
	for c := range g.retired {
		g.retired[c] += r.slot.counts[c].Load()
	}
	g.regMu.Unlock()
	r.slot.active.Store(0)
	r.slot = nil
	r.view = nil
	if g.waiters.Load() != 0 {
		g.signal()
	}
}

// Enter marks the start of a read-side critical section: until the
// matching Exit, nothing the reader can see is released. Sections nest.
func (r *Reader) Enter() {
	if r.depth == 0 {
		r.slot.active.Store(r.grace.epoch.Load())
	}
	r.depth++
}

// Exit ends a section started with Enter.
func (r *Reader) Exit() {
	r.depth--
	if r.depth == 0 {
		r.slot.active.Store(0)
		if r.grace.waiters.Load() != 0 {
			r.grace.signal()
		}
	}
}

// forceExit leaves every callback level and section (after a panic or
// runtime.Goexit unwound through them).
func (r *Reader) forceExit() {
	for r.nest > 0 {
		r.guardExit()
	}
	clear(r.levels[:])
	if r.depth != 0 {
		r.depth = 1
		r.Exit()
	}
}

// eventCounts sums the counters of every reader, open or closed.
func (g *graceState) eventCounts() (c [3]uint64) {
	g.regMu.Lock()
	defer g.regMu.Unlock()
	c = g.retired
	for _, s := range *g.readers.Load() {
		for i := range c {
			c[i] += s.counts[i].Load()
		}
	}
	return c
}
