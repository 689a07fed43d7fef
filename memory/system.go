package memory

import (
	"sync"
	"sync/atomic"

	"qmem.dev/qmem/qom"
)

// System is the memory system of one machine: its regions, address spaces,
// listeners, transaction state, and the grace-period machinery that decides
// when a region that left every view may finally be released. Nothing in the
// package is global: a test builds its own System.
//
// # Locking
//
// The System's lock (Lock, Unlock) is the machine lock, QEMU's big lock. Every
// method that changes or inspects the topology (regions, address spaces,
// listeners, transactions) requires it held by the caller; the package does
// not take it itself. Guest accesses through a Reader never take it.
type System struct {
	mu  sync.Mutex
	reg *qom.Registry

	// Transaction state (R-TX-*).
	depth    int
	touched  map[*Region]struct{} // regions whose rendering may have changed
	ioevPend bool                 // ioeventfd recomputation pending (R-TX-4)
	// spacesChanged: an address space was destroyed; the view table must be
	// recomputed even if nothing was touched.
	spacesChanged bool
	inCommit      bool

	spaces    []*AddressSpace // creation order (R-AS-1)
	listeners []*Listener     // global list, ascending priority (R-LSN-1)

	// Current flat view per flat-view root; nil key = the empty view.
	views map[*Region]*FlatView
	empty *FlatView

	// Rendering statistics, for tests and benchmarks.
	renders atomic.Uint64
	commits atomic.Uint64

	// Dirty logging (A.11).
	globalDirty uint32 // R-DIRTY-2 flags
	dirty       dirtyState

	// Grace periods (DESIGN L5).
	grace graceState

	unassigned *Region
	rd         *renderer // reused render buffers
	pool       readerPool
	events     eventState
	eventfdSeq uint64
	// loops is set once a loop through an alias was accepted (cycle.go):
	// from then on, changes that can lengthen a loop are checked.
	loops bool

	compat qemuCompat // protections switched off by regression tests only

	// Regions and address spaces by owner (DESIGN L4).
	owned map[*qom.Object]*ownedSet
}

// NewSystem returns an empty memory system whose regions are QOM objects of
// reg. It registers the region types in reg if they are missing. Regions
// without an owner are placed under /machine/unattached, so reg should have a
// machine (qom.Registry.NewMachine) before such regions are created.
func NewSystem(reg *qom.Registry) (*System, error) {
	if err := RegisterTypes(reg); err != nil {
		return nil, err
	}
	s := &System{
		reg:     reg,
		touched: map[*Region]struct{}{},
		views:   map[*Region]*FlatView{},
	}
	s.empty = &FlatView{sys: s}
	s.empty.buildIndex()
	s.grace.init()
	s.unassigned = s.newUnassigned()
	reg.AddDetachHook(s.detachOwner)
	return s, nil
}

// Registry returns the QOM registry the system's regions live in.
func (s *System) Registry() *qom.Registry { return s.reg }

// Lock acquires the machine lock.
func (s *System) Lock() { s.mu.Lock() }

// Unlock releases the machine lock.
func (s *System) Unlock() { s.mu.Unlock() }

// TryLock tries to acquire the machine lock without blocking.
func (s *System) TryLock() bool { return s.mu.TryLock() }

// Stats are counters of the commit machinery.
type Stats struct {
	Commits uint64 // outermost commits that had something to do
	Renders uint64 // flat views rendered
}

// Stats returns the commit and render counters so far.
func (s *System) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Renders: s.renders.Load()}
}

// AddressSpaces returns the address spaces in creation order.
func (s *System) AddressSpaces() []*AddressSpace {
	return append([]*AddressSpace(nil), s.spaces...)
}
