package memory

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Access problems that QEMU logs (invalid accesses, re-entrant accesses,
// device callbacks that panic) are counted and, if a handler is set, passed
// to it. They never stop the access path: the access completes with the
// result the rules give.

// EventCounts are the numbers of logged access problems so far.
type EventCounts struct {
	Invalid   uint64 // R-SIZE-3/4, R-UNAS-2
	Reentrant uint64 // R-ACC-8
	Panics    uint64 // device callbacks that panicked
}

type eventState struct {
	invalid, reentrant, panics atomic.Uint64
	mu                         sync.Mutex
	handler                    func(AccessEvent)
}

// SetAccessEventHandler installs fn to receive access problems (it may be
// called from any reader goroutine, concurrently); nil removes it.
func (s *System) SetAccessEventHandler(fn func(AccessEvent)) {
	s.events.mu.Lock()
	s.events.handler = fn
	s.events.mu.Unlock()
}

// AccessEventCounts returns the counters of access problems.
func (s *System) AccessEventCounts() EventCounts {
	return EventCounts{
		Invalid:   s.events.invalid.Load(),
		Reentrant: s.events.reentrant.Load(),
		Panics:    s.events.panics.Load(),
	}
}

func (s *System) emit(ev AccessEvent) {
	s.events.mu.Lock()
	h := s.events.handler
	s.events.mu.Unlock()
	if h != nil {
		h(ev)
	}
}

func (s *System) invalidAccess(mr *Region, off uint64, size uint, write bool, reason string) {
	s.events.invalid.Add(1)
	if reason == "invalid size" && mr.ops != nil {
		reason = fmt.Sprintf("invalid size (min:%d max:%d)", mr.ops.Valid.Min, mr.ops.Valid.Max)
	}
	s.emit(AccessEvent{Region: mr.name, Offset: off, Size: size, Write: write, Reason: reason})
}

func (s *System) reentrancy(mr *Region) {
	if s.events.reentrant.Add(1) == 1 {
		s.emit(AccessEvent{Region: mr.name, Reason: "re-entrant access refused"})
	}
}

func (s *System) devicePanic(mr *Region, off uint64, size uint, write bool, p any) {
	s.events.panics.Add(1)
	if mr.panicked.CompareAndSwap(false, true) {
		s.emit(AccessEvent{Region: mr.name, Offset: off, Size: size, Write: write, Reason: fmt.Sprintf("device callback panicked: %v", p)})
	}
}
