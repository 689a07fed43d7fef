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

// Map maps up to length bytes at addr (address_space_map). A direct range
// (RAM, or a ROM device in romd mode for reads) yields its host memory,
// extended over following ranges of the same region; anything else yields a
// bounce buffer, read in advance for a read mapping and written back at Unmap
// for a write mapping. The mapping holds a reference on the region's owner
// until Unmap. It is safe from any goroutine.
func (as *AddressSpace) Map(addr, length uint64, write bool, attrs Attrs) (*Mapping, error) {
	return as.mapFor(nil, addr, length, write, attrs)
}

// MapFor is Map on behalf of requester. When requester owns the mapped
// region, the mapping holds no reference on it (a device mapping its own
// memory must not keep itself alive, DESIGN L2); it is unmapped automatically
// when requester is finalized.
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
	fr, off, xaddr, limit := rd.translate(as, addr, write, attrs)
	m := &Mapping{as: as, addr: addr, write: write, attrs: attrs}
	direct := fr != nil && (write && fr.writeDirect(attrs) || !write && fr.readDirect())
	if direct {
		mr := fr.Region
		l := min(length, fr.Last-xaddr+1, limit)
		// Extend over following ranges that continue the same region.
		v := as.view.Load()
		for i := v.lookup(fr.Last); l < length && i >= 0 && i+1 < len(v.ranges) && limit == ^uint64(0); i++ {
			cur, next := &v.ranges[i], &v.ranges[i+1]
			if cur.Last == ^uint64(0) || next.Start != cur.Last+1 || next.Region != mr ||
				next.Offset != cur.Offset+cur.Len() || (write && !next.writeDirect(attrs)) {
				break
			}
			l = min(length, l+next.Len())
		}
		if err := m.take(mr, req); err != nil {
			return nil, err
		}
		m.region, m.off, m.dirtyMask = mr, off, fr.DirtyLogMask
		m.buf = mr.ram.mem[off : off+l : off+l]
		mr.ram.maps.Add(1)
		return m, nil
	}
	l := min(length, BounceLimit)
	if n := as.bounceUsed.Add(int64(l)); n > BounceLimit {
		as.bounceUsed.Add(-int64(l))
		return nil, ErrBounceBusy
	}
	m.bounce = true
	m.buf = make([]byte, l)
	if fr != nil {
		if err := m.take(fr.Region, req); err != nil {
			as.bounceUsed.Add(-int64(l))
			return nil, err
		}
	}
	if !write {
		rd.read(as, addr, m.buf, attrs)
	}
	return m, nil
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
		if m.write && accessed > 0 && m.dirtyMask != 0 {
			m.region.ram.markDirty(m.off, accessed, m.dirtyMask)
		}
		m.region.ram.unmapped()
	}
	if m.held != nil {
		m.as.sys.grace.deferAsync(m.held, m.hold)
	}
	m.buf = nil
	return true
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
