package memory

import "fmt"

// Section is a piece of an address space handed to listeners (R-LSN-7): a
// flat range as the space sees it.
type Section struct {
	Space          *AddressSpace
	View           *FlatView
	Region         *Region // the leaf region
	OffsetInRegion uint64
	Addr           uint64 // offset within the address space
	Size           uint64 // number of bytes; 0 means 2^64 (sections are never empty)
	Readonly       bool
	Nonvolatile    bool
	Unmergeable    bool
	RomdMode       bool
	DirtyLogMask   uint8
}

// Last returns the section's last address.
func (s Section) Last() uint64 { return s.Addr + s.Size - 1 }

func sectionOf(as *AddressSpace, v *FlatView, fr *FlatRange) Section {
	return Section{
		Space: as, View: v, Region: fr.Region, OffsetInRegion: fr.Offset,
		Addr: fr.Start, Size: fr.Len(), Readonly: fr.Readonly, Nonvolatile: fr.Nonvolatile,
		Unmergeable: fr.Unmergeable, RomdMode: fr.RomdMode, DirtyLogMask: fr.DirtyLogMask,
	}
}

// Listener priorities (R-LSN-1).
const (
	ListenerPriorityMin        = 0
	ListenerPriorityAccel      = 10
	ListenerPriorityDevBackend = 10
)

// Listener hears what changes in one address space (A.10). Every callback
// is optional. Callbacks run with the System's lock held and must not change
// the topology (such changes fail). Calls within a commit follow QEMU's
// order: ascending priority ("forward") for begin, commit, region_add,
// region_nop, log_start, coalesced_io_add, log_global_start and eventfd_del;
// descending ("reverse") for region_del, log_stop, coalesced_io_del,
// log_global_stop and eventfd_add (R-LSN-2).
type Listener struct {
	Name     string // for messages
	Priority int

	Begin, Commit                   func()
	RegionAdd, RegionDel, RegionNop func(Section)

	LogStart, LogStop  func(s Section, oldMask, newMask uint8)
	LogSync            func(Section)
	LogSyncGlobal      func()
	LogClear           func(Section)
	LogGlobalStart     func() error
	LogGlobalStop      func()
	LogGlobalAfterSync func()

	EventfdAdd, EventfdDel         func(s Section, match bool, data uint64, e *EventNotifier)
	CoalescedIOAdd, CoalescedIODel func(s Section, addr, size uint64)

	as *AddressSpace
}

// Space returns the address space the listener is registered with, or nil.
func (l *Listener) Space() *AddressSpace { return l.as }

// insertByPriority inserts l after every listener of lower or equal
// priority: ascending, registration order among equals (R-LSN-1).
func insertByPriority(list []*Listener, l *Listener) []*Listener {
	i := len(list)
	for i > 0 && list[i-1].Priority > l.Priority {
		i--
	}
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = l
	return list
}

func removeListener(list []*Listener, l *Listener) []*Listener {
	for i, x := range list {
		if x == l {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// AddListener registers l with the space and replays the current view to l
// alone (R-LSN-8): begin, log_global_start if global dirty tracking is on,
// then per range region_add, coalesced_io_add and log_start, then
// eventfd_add for every ioeventfd, then commit.
func (as *AddressSpace) AddListener(l *Listener) error {
	s := as.sys
	switch {
	case l.as != nil:
		return fmt.Errorf("memory: listener %q is already registered", l.Name)
	case as.destroyed:
		return fmt.Errorf("memory: address space '%s' is destroyed", as.name)
	case l.LogSync != nil && l.LogSyncGlobal != nil:
		return fmt.Errorf("memory: listener %q has both LogSync and LogSyncGlobal", l.Name) // R-LSN-11
	}
	if err := s.checkMutable(); err != nil {
		return err
	}
	l.as = as
	as.listeners = insertByPriority(as.listeners, l)
	s.listeners = insertByPriority(s.listeners, l)

	s.inCommit = true
	defer func() { s.inCommit = false }()
	call(l.Begin)
	if s.globalDirty != 0 && l.LogGlobalStart != nil {
		_ = l.LogGlobalStart()
	}
	v := as.current()
	for i := range v.ranges {
		fr := &v.ranges[i]
		sec := sectionOf(as, v, fr)
		if l.RegionAdd != nil {
			l.RegionAdd(sec)
		}
		replayCoalesced(fr, sec, l.CoalescedIOAdd)
		if fr.DirtyLogMask != 0 && l.LogStart != nil {
			l.LogStart(sec, 0, fr.DirtyLogMask)
		}
	}
	if l.EventfdAdd != nil {
		for _, e := range as.ioeventfds {
			l.EventfdAdd(e.section(as, v), e.match, e.data, e.notifier)
		}
	}
	call(l.Commit)
	return nil
}

// RemoveListener unregisters l, replaying the removal of the current view to
// l alone (R-LSN-9).
func (as *AddressSpace) RemoveListener(l *Listener) error {
	if l.as != as {
		return fmt.Errorf("memory: listener %q is not registered with '%s'", l.Name, as.name)
	}
	s := as.sys
	if err := s.checkMutable(); err != nil {
		return err
	}
	s.inCommit = true
	call(l.Begin)
	v := as.current()
	for i := range v.ranges {
		fr := &v.ranges[i]
		sec := sectionOf(as, v, fr)
		if fr.DirtyLogMask != 0 && l.LogStop != nil {
			l.LogStop(sec, fr.DirtyLogMask, 0)
		}
		replayCoalesced(fr, sec, l.CoalescedIODel)
		if l.RegionDel != nil {
			l.RegionDel(sec)
		}
	}
	if l.EventfdDel != nil {
		for _, e := range as.ioeventfds {
			l.EventfdDel(e.section(as, v), e.match, e.data, e.notifier)
		}
	}
	call(l.Commit)
	s.inCommit = false
	as.listeners = removeListener(as.listeners, l)
	s.listeners = removeListener(s.listeners, l)
	l.as = nil
	return nil
}

// RemoveListeners unregisters every listener of the space.
func (as *AddressSpace) RemoveListeners() {
	for len(as.listeners) > 0 {
		l := as.listeners[len(as.listeners)-1]
		if err := as.RemoveListener(l); err != nil {
			// Only possible from inside a callback; drop it silently then.
			as.listeners = removeListener(as.listeners, l)
			as.sys.listeners = removeListener(as.sys.listeners, l)
			l.as = nil
		}
	}
}

func call(f func()) {
	if f != nil {
		f()
	}
}

// replayCoalesced reports the coalesced ranges of fr's region that
// intersect fr, stopping at the first that does not: QEMU's replay helper
// has this quirk (R-LSN-10).
func replayCoalesced(fr *FlatRange, sec Section, cb func(Section, uint64, uint64)) {
	if cb == nil {
		return
	}
	for _, c := range fr.Region.coalesced {
		start, size, ok := coalescedInRange(fr, c)
		if !ok {
			return
		}
		cb(sec, start, size)
	}
}

// opKind is what happens to a range between two views.
type opKind uint8

const (
	opDel opKind = iota
	opNop
	opAdd
)

type diffOp struct {
	kind     opKind
	old, new *FlatRange
}

// viewDiff is the difference between two views, computed once per pair of
// views and replayed to the listeners of every space that made that
// transition (R-LSN-4).
type viewDiff struct {
	old, new *FlatView
	removals []diffOp // pass 1, ascending address
	updates  []diffOp // pass 2, ascending address: nops and additions
}

// diffViews walks both sorted range lists as QEMU does (R-LSN-5): an old
// range is removed when the new list is exhausted, when it starts first, or
// when it starts at the same address but differs (R-LSN-6); equal ranges are
// unchanged; otherwise the new range is added.
func diffViews(old, new *FlatView) *viewDiff {
	d := &viewDiff{old: old, new: new}
	var o, n []FlatRange
	if old != nil {
		o = old.ranges
	}
	n = new.ranges
	i, j := 0, 0
	for i < len(o) || j < len(n) {
		switch {
		case i < len(o) && (j == len(n) || o[i].Start < n[j].Start || (o[i].Start == n[j].Start && !o[i].sameAs(&n[j]))):
			d.removals = append(d.removals, diffOp{kind: opDel, old: &o[i]})
			i++
		case i < len(o) && o[i].sameAs(&n[j]):
			d.updates = append(d.updates, diffOp{kind: opNop, old: &o[i], new: &n[j]})
			i++
			j++
		default:
			d.updates = append(d.updates, diffOp{kind: opAdd, new: &n[j]})
			j++
		}
	}
	return d
}

// announce replays a diff to the space's listeners in QEMU's order.
func (as *AddressSpace) announce(d *viewDiff) {
	ls := as.listeners
	if len(ls) == 0 {
		return
	}
	for _, op := range d.removals {
		sec := sectionOf(as, d.old, op.old)
		for _, c := range op.old.Region.coalesced {
			if start, size, ok := coalescedInRange(op.old, c); ok {
				for k := len(ls) - 1; k >= 0; k-- {
					if f := ls[k].CoalescedIODel; f != nil {
						f(sec, start, size)
					}
				}
			}
		}
		for k := len(ls) - 1; k >= 0; k-- {
			if f := ls[k].RegionDel; f != nil {
				f(sec)
			}
		}
	}
	for _, op := range d.updates {
		sec := sectionOf(as, d.new, op.new)
		if op.kind == opNop {
			for _, l := range ls {
				if l.RegionNop != nil {
					l.RegionNop(sec)
				}
			}
			om, nm := op.old.DirtyLogMask, op.new.DirtyLogMask
			if nm&^om != 0 {
				for _, l := range ls {
					if l.LogStart != nil {
						l.LogStart(sec, om, nm)
					}
				}
			}
			if om&^nm != 0 {
				for k := len(ls) - 1; k >= 0; k-- {
					if f := ls[k].LogStop; f != nil {
						f(sec, om, nm)
					}
				}
			}
			continue
		}
		for _, l := range ls {
			if l.RegionAdd != nil {
				l.RegionAdd(sec)
			}
		}
		for _, c := range op.new.Region.coalesced {
			if start, size, ok := coalescedInRange(op.new, c); ok {
				for _, l := range ls {
					if l.CoalescedIOAdd != nil {
						l.CoalescedIOAdd(sec, start, size)
					}
				}
			}
		}
	}
}
