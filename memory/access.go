package memory

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// The access path (A.13-A.16): reads and writes through an address space.
// A Reader loads the space's published view with one atomic load, finds the
// range (last hit first, then a binary search over the range starts), and
// either copies host memory or calls the region's ops. It takes no lock,
// makes no shared atomic write (dirty logging aside, and only for the first
// write to a clean page) and allocates nothing.

// Read reads len(buf) bytes at addr of as (R-ACC-3). The result is the OR
// of every step's result; bytes of failed steps read as zero (or what the
// device returned). A zero-length read is OK and touches nothing.
func (rd *Reader) Read(as *AddressSpace, addr uint64, buf []byte, attrs Attrs) Result {
	if len(buf) == 0 {
		return OK
	}
	rd.Enter()
	res := rd.read(as, addr, buf, attrs)
	rd.Exit()
	return res
}

// Write writes buf at addr of as (R-ACC-3).
func (rd *Reader) Write(as *AddressSpace, addr uint64, buf []byte, attrs Attrs) Result {
	if len(buf) == 0 {
		return OK
	}
	rd.Enter()
	res := rd.write(as, addr, buf, attrs)
	rd.Exit()
	return res
}

// translate resolves addr of as to a flat range (nil: unassigned), the
// offset in its region, the address in the range's view, and a bound on
// the step length set by IOMMU pages (R-ACC-1, R-IOMMU-1).
func (rd *Reader) translate(as *AddressSpace, addr uint64, write bool, attrs Attrs) (fr *FlatRange, off, xaddr, limit uint64) {
	v := as.view.Load()
	limit = ^uint64(0)
	for hops := 0; ; hops++ {
		fr = rd.find(v, addr)
		if fr == nil {
			return nil, addr, addr, limit
		}
		off = fr.Offset + (addr - fr.Start)
		if fr.Region.kind != KindIOMMU {
			return fr, off, addr, limit
		}
		if hops == 16 {
			return nil, addr, addr, limit // a translation loop: unassigned
		}
		e, ok := rd.iommuTranslate(fr.Region, off, write, attrs)
		if !ok || e.Target == nil {
			return nil, addr, addr, limit
		}
		next := (e.TranslatedAddr &^ e.AddrMask) | (off & e.AddrMask)
		if page := (next | e.AddrMask) - next + 1; page != 0 && page < limit {
			limit = page
		}
		v, addr = e.Target.view.Load(), next
	}
}

// find returns the range of v containing addr, or nil, trying the range of
// the reader's previous access first.
func (rd *Reader) find(v *FlatView, addr uint64) *FlatRange {
	if v == rd.lastView {
		if fr := &v.ranges[rd.lastRange]; addr-fr.Start <= fr.Last-fr.Start {
			return fr
		}
	}
	i := v.lookup(addr)
	if i < 0 {
		return nil
	}
	rd.lastView, rd.lastRange = v, i
	return &v.ranges[i]
}

// readDirect reports whether reads of the range copy host memory (R-ACC-4).
func (fr *FlatRange) readDirect() bool {
	k := fr.Region.kind
	return k == KindRAM || k == KindROM || (k == KindROMDevice && fr.RomdMode)
}

// writeDirect reports whether writes copy host memory (R-ACC-4): RAM that is
// not readonly itself, or any direct-readable leaf for debug accesses.
func (fr *FlatRange) writeDirect(attrs Attrs) bool {
	if !fr.readDirect() {
		return false
	}
	if attrs.Debug {
		return true
	}
	return !fr.leafReadonly && fr.Region.kind != KindROMDevice
}

func (rd *Reader) read(as *AddressSpace, addr uint64, buf []byte, attrs Attrs) Result {
	var res Result
	for len(buf) > 0 {
		fr, off, xaddr, limit := rd.translate(as, addr, false, attrs)
		n := min(uint64(len(buf)), limit)
		var l uint64
		if fr != nil && fr.readDirect() {
			l = min(n, fr.Last-xaddr+1) // R-ACC-2
			ramLoad(buf[:l], fr.Region.ram.mem, off)
		} else {
			mr := as.sys.unassigned
			if fr != nil {
				mr = fr.Region
			}
			l = uint64(accessSize(mr.ops, n, off)) // R-SIZE-1
			var v uint64
			var r Result
			if attrs.Memory && fr != nil {
				r = AccessError // R-ACC-5
			} else {
				v, r = rd.dispatchRead(mr, off, uint(l), attrs)
			}
			putValue(buf[:l], v, mr.ops.bigEndian())
			res |= r
		}
		buf = buf[l:]
		addr += l
	}
	return res
}

func (rd *Reader) write(as *AddressSpace, addr uint64, buf []byte, attrs Attrs) Result {
	var res Result
	for len(buf) > 0 {
		fr, off, xaddr, limit := rd.translate(as, addr, true, attrs)
		n := min(uint64(len(buf)), limit)
		var l uint64
		if fr != nil && fr.writeDirect(attrs) {
			l = min(n, fr.Last-xaddr+1)
			ramStore(fr.Region.ram.mem, off, buf[:l])
			if fr.DirtyLogMask != 0 {
				fr.Region.ram.markDirty(off, l, fr.DirtyLogMask) // R-DIRTY-5
			}
		} else {
			mr := as.sys.unassigned
			if fr != nil {
				mr = fr.Region
			}
			l = uint64(accessSize(mr.ops, n, off))
			if attrs.Memory && fr != nil {
				res |= AccessError
			} else {
				res |= rd.dispatchWrite(mr, off, getValue(buf[:l], mr.ops.bigEndian()), uint(l), attrs)
			}
		}
		buf = buf[l:]
		addr += l
	}
	return res
}

// Load is a typed load of size bytes (1, 2, 4 or 8) with byte order e
// (address_space_ld*, R-ACC-7): one translation; host memory when the whole
// access lies in a direct range, otherwise ONE dispatch of the full width,
// whose validity alone decides (no splitting).
//
// A size other than 1, 2, 4 or 8 is refused with AccessError.
func (rd *Reader) Load(as *AddressSpace, addr uint64, size uint, e Endianness, attrs Attrs) (uint64, Result) {
	if !validSize(size) {
		return 0, AccessError
	}
	rd.Enter()
	v, res := rd.load(as, addr, size, e, attrs)
	rd.Exit()
	return v, res
}

func (rd *Reader) load(as *AddressSpace, addr uint64, size uint, e Endianness, attrs Attrs) (uint64, Result) {
	fr, off, xaddr, limit := rd.translate(as, addr, false, attrs)
	if fr != nil && fr.readDirect() && fr.Last-xaddr >= uint64(size-1) && limit >= uint64(size) {
		var b [8]byte
		ramLoad(b[:size], fr.Region.ram.mem, off)
		return getValue(b[:size], e == BigEndian), OK
	}
	mr := as.sys.unassigned
	if fr != nil {
		mr = fr.Region
		if attrs.Memory {
			return 0, AccessError
		}
	}
	v, res := rd.dispatchRead(mr, off, size, attrs)
	if (e == BigEndian) != mr.ops.bigEndian() {
		v = swapN(v, size)
	}
	return v & sizeMask(size), res
}

// Store is a typed store (address_space_st*, R-ACC-7).
func (rd *Reader) Store(as *AddressSpace, addr uint64, size uint, v uint64, e Endianness, attrs Attrs) Result {
	if !validSize(size) {
		return AccessError
	}
	rd.Enter()
	res := rd.store(as, addr, size, v, e, attrs)
	rd.Exit()
	return res
}

func (rd *Reader) store(as *AddressSpace, addr uint64, size uint, v uint64, e Endianness, attrs Attrs) Result {
	fr, off, xaddr, limit := rd.translate(as, addr, true, attrs)
	if fr != nil && fr.writeDirect(attrs) && fr.Last-xaddr >= uint64(size-1) && limit >= uint64(size) {
		var b [8]byte
		putValue(b[:size], v, e == BigEndian)
		ramStore(fr.Region.ram.mem, off, b[:size])
		if fr.DirtyLogMask != 0 {
			fr.Region.ram.markDirty(off, uint64(size), fr.DirtyLogMask)
		}
		return OK
	}
	mr := as.sys.unassigned
	if fr != nil {
		mr = fr.Region
		if attrs.Memory {
			return AccessError
		}
	}
	if (e == BigEndian) != mr.ops.bigEndian() {
		v = swapN(v, size)
	}
	return rd.dispatchWrite(mr, off, v&sizeMask(size), size, attrs)
}

func validSize(size uint) bool { return size == 1 || size == 2 || size == 4 || size == 8 }

// putValue stores the low len(b) bytes of v in b, big-endian or
// little-endian: a device value as the bytes it stands for (R-END-2).
func putValue(b []byte, v uint64, big bool) {
	n := len(b)
	for i := 0; i < n; i++ {
		if big {
			b[n-1-i] = byte(v >> (8 * i))
		} else {
			b[i] = byte(v >> (8 * i))
		}
	}
}

// getValue is the inverse of putValue.
func getValue(b []byte, big bool) uint64 {
	var v uint64
	n := len(b)
	for i := 0; i < n; i++ {
		if big {
			v |= uint64(b[n-1-i]) << (8 * i)
		} else {
			v |= uint64(b[i]) << (8 * i)
		}
	}
	return v
}

// ramLoad copies host memory into dst. Naturally aligned accesses of 2, 4
// and 8 bytes are single loads, so a concurrent aligned store is never seen
// half done.
func ramLoad(dst, mem []byte, off uint64) {
	p := unsafe.Pointer(&mem[off])
	switch len(dst) {
	case 8:
		if off&7 == 0 {
			v := atomic.LoadUint64((*uint64)(p))
			*(*uint64)(unsafe.Pointer(&dst[0])) = v
			return
		}
	case 4:
		if off&3 == 0 {
			v := atomic.LoadUint32((*uint32)(p))
			*(*uint32)(unsafe.Pointer(&dst[0])) = v
			return
		}
	case 2:
		if off&1 == 0 {
			*(*uint16)(unsafe.Pointer(&dst[0])) = *(*uint16)(p)
			return
		}
	}
	copy(dst, mem[off:])
}

// ramStore copies src into host memory; aligned 2, 4 and 8 byte stores are
// single stores.
func ramStore(mem []byte, off uint64, src []byte) {
	p := unsafe.Pointer(&mem[off])
	switch len(src) {
	case 8:
		if off&7 == 0 {
			atomic.StoreUint64((*uint64)(p), *(*uint64)(unsafe.Pointer(&src[0])))
			return
		}
	case 4:
		if off&3 == 0 {
			atomic.StoreUint32((*uint32)(p), *(*uint32)(unsafe.Pointer(&src[0])))
			return
		}
	case 2:
		if off&1 == 0 {
			*(*uint16)(p) = *(*uint16)(unsafe.Pointer(&src[0]))
			return
		}
	}
	copy(mem[off:], src)
}

// readerPool lends readers to the AddressSpace convenience methods.
type readerPool struct {
	mu   sync.Mutex
	free []*Reader
}

func (s *System) borrowReader() *Reader {
	p := &s.pool
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		rd := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return rd
	}
	p.mu.Unlock()
	return s.NewReader()
}

func (s *System) returnReader(rd *Reader) {
	p := &s.pool
	p.mu.Lock()
	p.free = append(p.free, rd)
	p.mu.Unlock()
}

// Read reads through a reader borrowed for the call: for control-side code
// and tests. vCPUs and DMA engines should own a Reader; device callbacks
// should use attrs.Reader().
func (as *AddressSpace) Read(addr uint64, buf []byte, attrs Attrs) Result {
	rd := as.sys.borrowReader()
	res := rd.Read(as, addr, buf, attrs)
	as.sys.returnReader(rd)
	return res
}

// Write writes through a borrowed reader (see Read).
func (as *AddressSpace) Write(addr uint64, buf []byte, attrs Attrs) Result {
	rd := as.sys.borrowReader()
	res := rd.Write(as, addr, buf, attrs)
	as.sys.returnReader(rd)
	return res
}

// Load is a typed load through a borrowed reader (see Read).
func (as *AddressSpace) Load(addr uint64, size uint, e Endianness, attrs Attrs) (uint64, Result) {
	rd := as.sys.borrowReader()
	v, res := rd.Load(as, addr, size, e, attrs)
	as.sys.returnReader(rd)
	return v, res
}

// Store is a typed store through a borrowed reader (see Read).
func (as *AddressSpace) Store(addr uint64, size uint, v uint64, e Endianness, attrs Attrs) Result {
	rd := as.sys.borrowReader()
	res := rd.Store(as, addr, size, v, e, attrs)
	as.sys.returnReader(rd)
	return res
}
