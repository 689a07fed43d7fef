package memory

import (
	"fmt"
	"sync/atomic"
)

// Access problems that QEMU logs (invalid accesses, accesses refused for
// the memory attribute or by the re-entrancy guard, device callbacks that
// panic) are counted and, if a handler is set, passed to it. They never stop
// the access path: the access completes with the result the rules give.
//
// Counting costs no shared write: each reader keeps its own counters in its
// own cache line (readerSlot); AccessEventCounts adds them up.

// AccessEventKind says what an AccessEvent reports.
type AccessEventKind uint8

// Kinds of access events.
const (
	// EventInvalid: a dispatch failed the validity check (R-SIZE-3/4,
	// R-UNAS-2).
	EventInvalid AccessEventKind = iota
	// EventNonRAM: an access with Attrs.Memory reached a leaf that is not
	// RAM (R-ACC-5).
	EventNonRAM
	// EventReentrant: the re-entrancy guard refused an access (R-ACC-8), or
	// callbacks nested deeper than qmem allows.
	EventReentrant
	// EventPanic: a device callback or an IOMMU translator panicked.
	EventPanic
)

// Counter slots in readerSlot.counts.
const (
	countInvalid = iota
	countReentrant
	countPanics
)

// EventCounts are the numbers of logged access problems so far.
type EventCounts struct {
	Invalid   uint64 // R-SIZE-3/4, R-UNAS-2, R-ACC-5
	Reentrant uint64 // R-ACC-8 and nesting limits
	Panics    uint64 // device callbacks and translators that panicked
}

type eventState struct {
	handler atomic.Pointer[func(AccessEvent)]
	// reentrantWarned: R-ACC-8's warning is printed once.
	reentrantWarned atomic.Bool
	// coalescedFlush is called before MMIO to regions that flush coalesced
	// MMIO (R-COAL-3).
	coalescedFlush atomic.Pointer[func()]
}

// SetAccessEventHandler installs fn to receive access problems (it may be
// called from any reader goroutine, concurrently, and from inside an
// access: it must not block for long); nil removes it. Safe without the
// lock.
func (s *System) SetAccessEventHandler(fn func(AccessEvent)) {
	if fn == nil {
		s.events.handler.Store(nil)
		return
	}
	s.events.handler.Store(&fn)
}

// AccessEventCounts returns the counters of access problems, summed over
// every reader (open or closed). Safe without the lock.
func (s *System) AccessEventCounts() EventCounts {
	c := s.grace.eventCounts()
	return EventCounts{Invalid: c[countInvalid], Reentrant: c[countReentrant], Panics: c[countPanics]}
}

// SetCoalescedMMIOFlush installs fn as the flush of the coalesced MMIO
// buffer (the accelerator's ring): it is called before every MMIO access to
// a region that has coalesced ranges (R-COAL-3), on the accessing
// goroutine. nil removes it. Safe without the lock.
func (s *System) SetCoalescedMMIOFlush(fn func()) {
	if fn == nil {
		s.events.coalescedFlush.Store(nil)
		return
	}
	s.events.coalescedFlush.Store(&fn)
}

// prepareMMIO is QEMU's prepare_mmio_access without the big lock (MMIO
// callbacks run without it, DESIGN §4): flush the coalesced MMIO buffer if
// the region asks for it.
func (s *System) prepareMMIO(mr *Region) {
	if mr.flushCoalesc.Load() {
		s.flushCoalesced()
	}
}

//go:noinline
func (s *System) flushCoalesced() {
	if f := s.events.coalescedFlush.Load(); f != nil {
		(*f)()
	}
}

func (s *System) emit(ev AccessEvent) {
	if h := s.events.handler.Load(); h != nil {
		(*h)(ev)
	}
}

// eventName is the region name QEMU prints: unnamed regions and the hidden
// unassigned region have a NULL name, printed "(null)".
func (s *System) eventName(mr *Region) string {
	if mr == s.unassigned {
		return ""
	}
	return mr.name
}

func (rd *Reader) invalidAccess(mr *Region, off uint64, size uint, write bool, reason string) {
	rd.slot.count(countInvalid)
	s := rd.sys
	if s.events.handler.Load() == nil {
		return
	}
	if reason == "invalid size" && mr.ops != nil {
		reason = fmt.Sprintf("invalid size (min:%d max:%d)", mr.ops.Valid.Min, mr.ops.Valid.Max)
	}
	s.emit(AccessEvent{Kind: EventInvalid, Region: s.eventName(mr), Offset: off, Size: size, Write: write, Reason: reason})
}

func (rd *Reader) nonRAMAccess(mr *Region, off, size uint64, write bool) {
	rd.slot.count(countInvalid)
	s := rd.sys
	if s.events.handler.Load() == nil {
		return
	}
	s.emit(AccessEvent{Kind: EventNonRAM, Region: s.eventName(mr), Offset: off, Size: uint(size), Write: write, Reason: "not RAM"})
}

// reentrancy reports a refused re-entrant or too deeply nested access; the
// warning is emitted once per system (QEMU's warn_report_once).
func (rd *Reader) reentrancy(mr *Region, off uint64, size uint, write bool, reason string) {
	rd.slot.count(countReentrant)
	s := rd.sys
	if s.events.reentrantWarned.Load() || !s.events.reentrantWarned.CompareAndSwap(false, true) {
		return
	}
	s.emit(AccessEvent{Kind: EventReentrant, Region: s.eventName(mr), Offset: off, Size: size, Write: write, Reason: reason})
}

// devicePanic reports a callback that panicked, once per region.
func (rd *Reader) devicePanic(mr *Region, off uint64, size uint, write bool, p any) {
	rd.slot.count(countPanics)
	if mr.panicked.Load() || !mr.panicked.CompareAndSwap(false, true) {
		return
	}
	s := rd.sys
	s.emit(AccessEvent{Kind: EventPanic, Region: s.eventName(mr), Offset: off, Size: size, Write: write, Reason: fmt.Sprint(p)})
}

// AccessEvent describes an access that failed in a way QEMU logs.
type AccessEvent struct {
	Kind   AccessEventKind
	Region string // the region's name; "" for an unnamed region or unassigned space
	Offset uint64 // offset in the region
	Size   uint
	Write  bool
	// Reason: for EventInvalid, R-SIZE-3's reason ("rejected",
	// "unaligned", "invalid size (min:%u max:%u)"); otherwise a description
	// (the panic value for EventPanic).
	Reason string
}

// String renders the event as QEMU logs it: R-SIZE-3's "Invalid read at
// addr 0x1F, size 2, region 'uart', reason: unaligned", physmem.c's
// "Invalid access to non-RAM device at addr ..." (R-ACC-5), memory.c's
// "Blocked re-entrant IO on MemoryRegion: ..." (R-ACC-8). Addresses are
// region offsets in unpadded uppercase hex; a NULL name prints "(null)".
func (e AccessEvent) String() string {
	name := e.Region
	if name == "" {
		name = "(null)"
	}
	op := "read"
	if e.Write {
		op = "write"
	}
	switch e.Kind {
	case EventNonRAM:
		return fmt.Sprintf("Invalid access to non-RAM device at addr 0x%X, size %d, region '%s'", e.Offset, e.Size, name)
	case EventReentrant:
		return fmt.Sprintf("Blocked re-entrant IO on MemoryRegion: %s at addr: 0x%X", name, e.Offset)
	case EventPanic:
		return fmt.Sprintf("Device callback panicked on %s at addr 0x%X, size %d, region '%s': %s", op, e.Offset, e.Size, name, e.Reason)
	}
	return fmt.Sprintf("Invalid %s at addr 0x%X, size %d, region '%s', reason: %s", op, e.Offset, e.Size, name, e.Reason)
}
