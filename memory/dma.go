package memory

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"qmem.dev/qmem/qom"
)

// DMA mappings (R-ACC-9): direct access to guest memory for a device, with
// a bounce buffer when the range is not RAM.

// BounceLimit is the most bounce-buffer memory one address space lends at a
// time.
const BounceLimit = 64 << 10

// ErrBounceBusy is returned by Map when the address space's bounce budget is
// used up; the caller retries after unmapping.
var ErrBounceBusy = errors.New("memory: bounce buffer budget exhausted")

// Mapping is a range of an address space mapped for direct access. Bytes
// stays valid until Unmap.
type Mapping struct {
	as        *AddressSpace
	addr      uint64
	buf       []byte
	write     bool
	attrs     Attrs
	bounce    bool
	region    *Region     // the mapped region (direct mappings)
	off       uint64      // offset of buf in region
	dirtyMask uint8       // the range's dirty log mask at Map time
	held      *qom.Object // owner referenced by the mapping, nil if none
	hold      qom.Hold
	done      atomic.Bool
}

// Bytes returns the mapped memory; it may be shorter than requested (the
// mapping stops where the region or the direct range ends).
func (m *Mapping) Bytes() []byte { return m.buf }

// Bounce reports whether the mapping is a bounce buffer.
func (m *Mapping) Bounce() bool { return m.bounce }

// Map maps up to length bytes at addr (address_space_map, R-ACC-9). A
// direct range (RAM, or a ROM device in romd mode for reads) yields its
// host memory, extended over the following pieces that continue the same
// region (flatview_extend_translation); anything else yields a bounce
// buffer, read in advance for a read mapping and written back at Unmap for
// a write mapping. The address space lends at most BounceLimit bytes of
// bounce buffers at a time: like QEMU, a mapping gets what is left of that
// budget (possibly less than asked), and ErrBounceBusy when nothing is.
// The mapping holds a reference on the region's owner until Unmap. It is
// safe from any goroutine.
func (as *AddressSpace) Map(addr, length uint64, write bool, attrs Attrs) (*Mapping, error) {
	return as.mapFor(nil, addr, length, write, attrs)
}

// MapFor is Map on behalf of requester. When requester owns the mapped
// region, the mapping holds no reference on it (a device mapping its own
// memory must not keep itself alive, DESIGN L2; QEMU leaks here); it is
// unmapped automatically when requester is finalized, and the region's
// host memory is freed only after that. That case registers a cleanup on
// requester, so it requires the lock.
func (as *AddressSpace) MapFor(requester qom.Instance, addr, length uint64, write bool, attrs Attrs) (*Mapping, error) {
	var req *qom.Object
	if requester != nil {
		req = requester.QOM()
	}
	return as.mapFor(req, addr, length, write, attrs)
}

func (as *AddressSpace) mapFor(req *qom.Object, addr, length uint64, write bool, attrs Attrs) (*Mapping, error) {
	if length == 0 {
		return nil, fmt.Errorf("memory: map of 0 bytes at %#x", addr)
	}
	s := as.sys
	rd := s.borrowReader()
	defer s.returnReader(rd)
	rd.Enter()
	defer rd.Exit()
	v := as.view.Load()
	t := rd.translate(v, addr, write, attrs)
	m := &Mapping{as: as, addr: addr, write: write, attrs: attrs}
	if t.direct(write, attrs) {
		mr := t.mr
		l := rd.extend(v, addr, length, write, attrs, t)
		if err := m.take(mr, req); err != nil {
			return nil, err
		}
		m.region, m.off, m.dirtyMask = mr, t.off, t.e.mask
		m.buf = mr.ram.mem[t.off : t.off+l : t.off+l]
		mr.ram.maps.Add(1)
		return m, nil
	}
	// Bounce buffer: the step's translated length (not clamped for MMIO,
	// R-ACC-2; clamped by an IOMMU page), within what is left of the budget.
	l := min(length, t.limit)
	for {
		used := as.bounceUsed.Load()
		alloc := min(uint64(BounceLimit-max(used, 0)), l)
		if alloc == 0 {
			return nil, ErrBounceBusy
		}
		if as.bounceUsed.CompareAndSwap(used, used+int64(alloc)) {
			l = alloc
			break
		}
	}
	m.bounce = true
	m.buf = make([]byte, l)
	if t.mr != s.unassigned {
		if err := m.take(t.mr, req); err != nil {
			as.bounceUsed.Add(-int64(l))
			return nil, err
		}
	}
	if !write {
		rd.read(v, addr, m.buf, attrs)
	}
	return m, nil
}

// extend is flatview_extend_translation: how many of length bytes from addr
// continue the direct piece t found there (same region, contiguous
// offsets), translating each following piece like an access would.
func (rd *Reader) extend(v *FlatView, addr, length uint64, write bool, attrs Attrs, t xlat) uint64 {
	done := min(t.directLen(length), t.limit)
	for done < length {
		next := rd.translate(v, addr+done, write, attrs)
		if next.mr != t.mr || next.off != t.off+done || !next.direct(write, attrs) {
			break
		}
		done += min(next.directLen(length-done), next.limit)
	}
	return done
}

// take references the region's owner for the mapping unless the requester
// is that owner, in which case the mapping is tied to the requester's life.
func (m *Mapping) take(mr *Region, req *qom.Object) error {
	o := mr.owner
	if o == nil {
		return nil
	}
	if req != nil && req == o {
		return req.OnFinalize(func() { m.unmap(0, false) })
	}
	m.hold = qom.Hold{By: req, Via: fmt.Sprintf("DMA mapping of %s at %#x in '%s'", mr, m.addr, m.as.name)}
	if err := o.TryRef(); err != nil {
		return err
	}
	o.Unref()
	o.RefHold(m.hold)
	m.held = o
	return nil
}

// Unmap ends the mapping; accessed is how many bytes the device wrote (for
// a write mapping: written back from a bounce buffer, marked dirty in RAM).
// The owner reference is released at the system's next reclaim (under the
// machine lock). Unmapping twice is an error.
func (m *Mapping) Unmap(accessed uint64) error {
	if !m.unmap(accessed, true) {
		return fmt.Errorf("memory: mapping at %#x already unmapped", m.addr)
	}
	return nil
}

func (m *Mapping) unmap(accessed uint64, writeBack bool) bool {
	if !m.done.CompareAndSwap(false, true) {
		return false
	}
	accessed = min(accessed, uint64(len(m.buf)))
	if m.bounce {
		if m.write && writeBack && accessed > 0 {
			m.as.Write(m.addr, m.buf[:accessed], m.attrs)
		}
		m.as.bounceUsed.Add(-int64(len(m.buf)))
	} else if m.region != nil {
		if m.write && accessed > 0 {
			if mask := m.currentDirtyMask(); mask != 0 {
				m.region.ram.markDirty(m.off, accessed, mask)
			}
		}
		m.region.ram.unmapped()
	}
	if m.held != nil {
		m.as.sys.grace.deferAsync(m.held, m.hold)
	}
	m.buf = nil
	return true
}

// currentDirtyMask is the region's dirty log mask now, as QEMU's
// address_space_unmap computes it (logging may have started since Map):
// the mask of the range of the space's current view that shows the mapped
// bytes, or the mask at Map time when the region left the view.
func (m *Mapping) currentDirtyMask() uint8 {
	if fr := m.as.view.Load().Find(m.addr); fr != nil && fr.Region == m.region {
		return fr.DirtyLogMask
	}
	return m.dirtyMask
}

// unmapped drops a mapping count; the block is freed now if it was released
// while mapped.
func (b *ramBlock) unmapped() {
	if b.maps.Add(-1) == 0 && b.freeWhenUnmapped.Load() {
		b.freeOnce()
	}
}

// release frees the block unless mappings still use it; the last Unmap then
// frees it.
func (b *ramBlock) release() {
	b.freeWhenUnmapped.Store(true)
	if b.maps.Load() == 0 {
		b.freeOnce()
	}
}

func (b *ramBlock) freeOnce() {
	b.freeMu.Lock()
	defer b.freeMu.Unlock()
	if b.maps.Load() == 0 {
		b.free()
	}
}

// asyncState collects releases made outside the lock (Unmap), performed at
// the next reclaim.
type asyncState struct {
	mu    sync.Mutex
	items []retireItem
}

func (g *graceState) deferAsync(o *qom.Object, h qom.Hold) {
	g.async.mu.Lock()
	g.async.items = append(g.async.items, retireItem{obj: o, hold: h})
	g.async.mu.Unlock()
}

func (g *graceState) takeAsync() []retireItem {
	g.async.mu.Lock()
	defer g.async.mu.Unlock()
	items := g.async.items
	g.async.items = nil
	return items
}
