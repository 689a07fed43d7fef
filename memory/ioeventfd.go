package memory

import (
	"cmp"
	"fmt"
	"slices"
)

// addrRange is a region-relative range [start, start+size).
type addrRange struct{ start, size uint64 }

// coalescedInRange returns the absolute part of the coalesced range c (of
// fr's region) that lies inside fr.
func coalescedInRange(fr *FlatRange, c addrRange) (start, size uint64, ok bool) {
	shift := u64(fr.Start).sub(u64(fr.Offset))
	lo := max128(u64(c.start).add(shift), u64(fr.Start))
	hi := min128(u64(c.start).add(u64(c.size)).add(shift), u64(fr.Last).add(u64(1)))
	if !lo.less(hi) {
		return 0, 0, false
	}
	return lo.lo, hi.sub(lo).lo, true
}

// AddCoalescing marks [offset, offset+size) of an MMIO region as coalesced
// (R-COAL-1): the listeners of every address space hear coalesced_io_add for
// each visible part at once.
func (r *Region) AddCoalescing(offset, size uint64) error {
	if err := r.live("AddCoalescing"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	if size == 0 || offset+size < offset {
		return fmt.Errorf("memory: coalesced range %#x+%#x of %s is empty or wraps", offset, size, r)
	}
	c := addrRange{offset, size}
	r.coalesced = append(r.coalesced, c)
	r.flushCoalesc.Store(true)
	r.sys.eachVisibleRange(r, func(as *AddressSpace, v *FlatView, fr *FlatRange) {
		if start, n, ok := coalescedInRange(fr, c); ok {
			sec := sectionOf(as, v, fr)
			for _, l := range as.listeners {
				if l.CoalescedIOAdd != nil {
					l.CoalescedIOAdd(sec, start, n)
				}
			}
		}
	})
	return nil
}

// SetCoalescing makes the whole region coalesced.
func (r *Region) SetCoalescing() error {
	if err := r.ClearCoalescing(); err != nil {
		return err
	}
	return r.AddCoalescing(0, r.Size())
}

// ClearCoalescing removes every coalesced range (R-COAL-2), telling the
// listeners coalesced_io_del in reverse priority order.
func (r *Region) ClearCoalescing() error {
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	r.flushCoalesc.Store(false)
	for len(r.coalesced) > 0 {
		c := r.coalesced[0]
		r.coalesced = r.coalesced[1:]
		r.sys.eachVisibleRange(r, func(as *AddressSpace, v *FlatView, fr *FlatRange) {
			if start, n, ok := coalescedInRange(fr, c); ok {
				sec := sectionOf(as, v, fr)
				for k := len(as.listeners) - 1; k >= 0; k-- {
					if f := as.listeners[k].CoalescedIODel; f != nil {
						f(sec, start, n)
					}
				}
			}
		})
	}
	r.coalesced = nil
	return nil
}

// eachVisibleRange calls fn for every range of every address space's view
// whose leaf is r, spaces in creation order.
func (s *System) eachVisibleRange(r *Region, fn func(*AddressSpace, *FlatView, *FlatRange)) {
	s.inCommit = true
	defer func() { s.inCommit = false }()
	for _, as := range s.spaces {
		v := as.current()
		for i := range v.ranges {
			if v.ranges[i].Region == r {
				fn(as, v, &v.ranges[i])
			}
		}
	}
}

// EventNotifier is what an ioeventfd signals. Notify must be cheap and safe
// from any goroutine.
type EventNotifier struct {
	fn func()
	// FD is an eventfd file descriptor when the notifier has one (KVM), -1
	// otherwise.
	FD int
}

// NewEventNotifier returns a notifier that calls fn when signalled.
func NewEventNotifier(fn func()) *EventNotifier { return &EventNotifier{fn: fn, FD: -1} }

// Notify signals the notifier.
func (e *EventNotifier) Notify() {
	if e.fn != nil {
		e.fn()
	}
}

// ioeventfd is one registration on a region (R-IOEV-1).
type ioeventfd struct {
	addr, size uint64 // region-relative; size 0 matches any size
	match      bool
	data       uint64
	notifier   *EventNotifier
	seq        uint64 // registration order, the notifier tie-break
}

func cmpIoeventfd(a, b ioeventfd) int {
	if c := cmp.Compare(a.addr, b.addr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.size, b.size); c != 0 {
		return c
	}
	if a.match != b.match {
		if !a.match {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.data, b.data); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// AddEventfd registers e to be signalled, instead of the write callback, by
// writes of size bytes (0: any size) at offset addr of the region, and only
// of value data when match is set (R-IOEV-1, R-IOEV-3).
func (r *Region) AddEventfd(addr, size uint64, match bool, data uint64, e *EventNotifier) error {
	if err := r.live("AddEventfd"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	r.sys.eventfdSeq++
	fd := ioeventfd{addr: addr, size: size, match: match, data: r.deviceData(data, size), notifier: e, seq: r.sys.eventfdSeq}
	i, _ := slices.BinarySearchFunc(r.ioeventfds, fd, cmpIoeventfd)
	r.ioeventfds = slices.Insert(slices.Clone(r.ioeventfds), i, fd)
	r.publishIoeventfds()
	return r.ioeventfdChanged()
}

// publishIoeventfds gives the access path its own copy of the list (the
// field itself is reassigned by later changes), nil when it is empty (the
// access path then skips the check).
func (r *Region) publishIoeventfds() {
	if len(r.ioeventfds) == 0 {
		r.ioevSnap.Store(nil)
		return
	}
	snap := r.ioeventfds
	r.ioevSnap.Store(&snap)
}

// deviceData converts registered data from the target's byte order
// (little-endian) to the device's, as QEMU does (R-IOEV-1): writes are
// matched against device values.
func (r *Region) deviceData(data, size uint64) uint64 {
	if r.ops.bigEndian() && (size == 2 || size == 4 || size == 8) {
		return swapN(data, uint(size))
	}
	return data
}

// DelEventfd removes a registration made with the same arguments.
func (r *Region) DelEventfd(addr, size uint64, match bool, data uint64, e *EventNotifier) error {
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	data = r.deviceData(data, size)
	for i, fd := range r.ioeventfds {
		if fd.addr == addr && fd.size == size && fd.match == match && fd.data == data && fd.notifier == e {
			r.ioeventfds = slices.Delete(slices.Clone(r.ioeventfds), i, i+1)
			r.publishIoeventfds()
			return r.ioeventfdChanged()
		}
	}
	return fmt.Errorf("memory: no such ioeventfd on %s", r)
}

// ioeventfdChanged is R-ATTR-6: an ioeventfd update, pending only when the
// region is enabled.
func (r *Region) ioeventfdChanged() error {
	if !r.enabled {
		return nil
	}
	r.sys.Begin()
	r.sys.ioevPend = true
	return r.sys.Commit()
}

// ioeventfdSection is one active ioeventfd of an address space: absolute.
type ioeventfdSection struct {
	addr, size uint64
	match      bool
	data       uint64
	notifier   *EventNotifier
	seq        uint64
}

func (e ioeventfdSection) section(as *AddressSpace, v *FlatView) Section {
	return Section{Space: as, View: v, Addr: e.addr, Size: e.size}
}

func cmpIoevSection(a, b ioeventfdSection) int {
	return cmpIoeventfd(ioeventfd{a.addr, a.size, a.match, a.data, a.notifier, a.seq},
		ioeventfd{b.addr, b.size, b.match, b.data, b.notifier, b.seq})
}

// updateIoeventfds recomputes the space's active ioeventfds from its view
// and tells the listeners the difference (R-IOEV-2): eventfd_del forward,
// eventfd_add reverse.
func (as *AddressSpace) updateIoeventfds() {
	as.setIoeventfds(viewIoeventfds(as.current()))
}

// viewIoeventfds returns the ioeventfds active in a view, sorted. Spaces
// sharing the view share the result, which is never modified.
func viewIoeventfds(v *FlatView) []ioeventfdSection {
	var next []ioeventfdSection
	for i := range v.ranges {
		fr := &v.ranges[i]
		for _, fd := range fr.Region.ioeventfds {
			shift := u64(fr.Start).sub(u64(fr.Offset))
			start := u64(fd.addr).add(shift)
			if start.less(u64(fr.Start)) || u64(fr.Last).less(start) {
				continue
			}
			next = append(next, ioeventfdSection{addr: start.lo, size: fd.size, match: fd.match, data: fd.data, notifier: fd.notifier, seq: fd.seq})
		}
	}
	slices.SortFunc(next, cmpIoevSection)
	return next
}

// setIoeventfds installs the space's new active ioeventfds (those of its
// current view) and tells the listeners the difference.
func (as *AddressSpace) setIoeventfds(next []ioeventfdSection) {
	v := as.current()
	old := as.ioeventfds
	as.ioeventfds = next
	ls := as.listeners
	i, j := 0, 0
	for i < len(old) || j < len(next) {
		c := 1
		if i < len(old) && j < len(next) {
			c = cmpIoevSection(old[i], next[j])
		} else if i < len(old) {
			c = -1
		}
		switch {
		case c < 0:
			for _, l := range ls {
				if l.EventfdDel != nil {
					l.EventfdDel(old[i].section(as, v), old[i].match, old[i].data, old[i].notifier)
				}
			}
			i++
		case c == 0:
			i++
			j++
		default:
			for k := len(ls) - 1; k >= 0; k-- {
				if f := ls[k].EventfdAdd; f != nil {
					f(next[j].section(as, v), next[j].match, next[j].data, next[j].notifier)
				}
			}
			j++
		}
	}
}

// ioeventfdFor returns the notifier of an ioeventfd of r that a write of
// size bytes with value data at region offset addr matches, or nil
// (R-IOEV-3).
//
// It runs on the access path without the lock: it reads the snapshot.
func (r *Region) ioeventfdFor(addr uint64, size uint, data uint64) *EventNotifier {
	p := r.ioevSnap.Load()
	if p == nil {
		return nil
	}
	for _, fd := range *p {
		if fd.addr != addr {
			continue
		}
		if fd.size != 0 && size != 0 && fd.size != uint64(size) {
			continue
		}
		if fd.match && fd.data != data {
			continue
		}
		return fd.notifier
	}
	return nil
}
