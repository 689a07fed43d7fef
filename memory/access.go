package memory

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The access path (A.13-A.16): reads and writes through an address space.
// A Reader loads the space's published view with one atomic load, finds the
// range (last hit first, then the view's index, a static B+tree over the
// range starts), and either copies host memory or calls the region's ops. It
// takes no lock, makes no shared atomic write (dirty logging aside, and only
// for the first write to a clean page) and allocates nothing.
//
// The view is loaded once per access, as QEMU does (address_space_read
// takes one flat view for the whole buffer); an IOMMU hop loads the view of
// the space it leads to.

// Read reads len(buf) bytes at addr of as (R-ACC-3). The result is the OR
// of every step's result; bytes of failed steps read as zero (or what the
// device returned). A zero-length read is OK and touches nothing.
func (rd *Reader) Read(as *AddressSpace, addr uint64, buf []byte, attrs Attrs) (res Result) {
	if len(buf) == 0 {
		return OK
	}
	rd.Enter()
	v := as.view.Load()
	// Fast paths in the range of the address (the last hit, else found by
	// the view's index): the whole buffer in direct RAM (R-ACC-4), one
	// MMIO callback known valid at creation (Region.fastRead), or one MMIO
	// step.
	e := rd.hit(v, addr)
	if e == nil {
		e = rd.lookupEntry(v, addr)
	}
	if e != nil {
		if off := addr - e.start; uint64(len(buf))-1 <= e.span-off {
			if e.mem != nil && !(attrs.Memory && e.romd) {
				ramLoad(buf, e.host(), off)
				rd.Exit()
				return OK
			}
			if mr := e.mr; mr != nil && !attrs.Memory {
				o := e.roff + off
				if mr.fastRead(o, uint64(len(buf))) && rd.nest == 0 && !rd.borrowed {
					// Reader.call written out, for a reader inside no
					// other callback. If the callback does not return
					// (it panics or calls runtime.Goexit), the
					// deferred function finds the reader still at its
					// level (see abandon). Measured: this saves a
					// tenth of an MMIO read against a call to a
					// function like writeFirst, and costs RAM reads
					// through Read 4 - 9 % (the deferred function's
					// bookkeeping); MMIO reads are what every MMIO
					// exit of a guest makes, RAM reads through Read
					// are DMA.
					rd.sys.prepareMMIO(mr)
					rd.enterFirst(mr, o, uint(len(buf)), false)
					defer func() {
						if rd.nest != 0 { // the callback did not return
							clear(buf)
							rd.abandonFirst(recover())
							res = Error
						}
					}()
					attrs.reader = rd
					x, r := mr.readFn(o, uint(len(buf)), attrs)
					rd.nest = 0
					// putValue with its commonest case, a 32-bit
					// little-endian register, written out (the call
					// saved measured 7% of the access; adding the
					// 8-byte case measured no better).
					if big := mr.big; len(buf) == 4 && !big {
						binary.LittleEndian.PutUint32(buf, uint32(x))
					} else {
						putValue(buf, x, big)
					}
					rd.Exit()
					return r
				}
				if res, ok := rd.mmioReadOne(mr, o, buf, attrs); ok {
					rd.Exit()
					return res
				}
			}
		}
	}
	res = rd.read(v, addr, buf, attrs)
	rd.Exit()
	return res
}

// Write writes buf at addr of as (R-ACC-3).
func (rd *Reader) Write(as *AddressSpace, addr uint64, buf []byte, attrs Attrs) Result {
	if len(buf) == 0 {
		return OK
	}
	rd.Enter()
	v := as.view.Load()
	e := rd.hit(v, addr)
	if e == nil {
		e = rd.lookupEntry(v, addr)
	}
	if e != nil {
		if off := addr - e.start; uint64(len(buf))-1 <= e.span-off {
			if e.writable {
				ramStore(e.host(), off, buf)
				if e.mask != 0 {
					e.block.markDirty(e.roff+off, uint64(len(buf)), e.mask) // R-DIRTY-5
				}
				rd.Exit()
				return OK
			}
			if mr := e.mr; mr != nil && e.mem == nil && !attrs.Memory {
				o := e.roff + off
				if mr.fastWrite(o, uint64(len(buf))) && rd.nest == 0 && !rd.borrowed && mr.ioevSnap.Load() == nil {
					return rd.writeFirst(mr, o, buf, attrs)
				}
				if res, ok := rd.mmioWriteOne(mr, o, buf, attrs); ok {
					rd.Exit()
					return res
				}
			}
		}
	}
	res := rd.write(v, addr, buf, attrs)
	rd.Exit()
	return res
}

// writeFirst is Reader.call for Write's shortcut (a region without
// ioeventfds, a reader inside no other callback), then leaves the access's
// section. Unlike Read's, it is a function of its own: a deferred function
// in Write measured 10-14% slower RAM writes.
func (rd *Reader) writeFirst(mr *Region, o uint64, buf []byte, attrs Attrs) (res Result) {
	rd.sys.prepareMMIO(mr)
	rd.enterFirst(mr, o, uint(len(buf)), true)
	defer func() {
		if rd.nest != 0 {
			rd.abandonFirst(recover())
			res = Error
		}
	}()
	attrs.reader = rd
	var x uint64
	if len(buf) == 4 && !mr.big { // getValue's commonest case (see Read)
		x = uint64(binary.LittleEndian.Uint32(buf))
	} else {
		x = getValue(buf, mr.big)
	}
	r := mr.writeFn(o, x, uint(len(buf)), attrs)
	rd.nest = 0
	rd.Exit()
	return r
}

// mmioReadOne performs a buffer read that is a single MMIO step of mr at
// offset off (R-SIZE-1 gives the whole buffer); ok is false when it is not.
func (rd *Reader) mmioReadOne(mr *Region, off uint64, buf []byte, attrs Attrs) (Result, bool) {
	n := uint64(len(buf))
	if n > 8 || uint64(accessSize(mr.ops, n, off)) != n {
		return 0, false
	}
	rd.sys.prepareMMIO(mr)
	x, res := rd.dispatchRead(mr, off, uint(n), attrs)
	putValue(buf, x, mr.ops.bigEndian())
	return res, true
}

// mmioWriteOne is mmioReadOne for writes.
func (rd *Reader) mmioWriteOne(mr *Region, off uint64, buf []byte, attrs Attrs) (Result, bool) {
	n := uint64(len(buf))
	if n > 8 || uint64(accessSize(mr.ops, n, off)) != n {
		return 0, false
	}
	rd.sys.prepareMMIO(mr)
	return rd.dispatchWrite(mr, off, getValue(buf, mr.ops.bigEndian()), uint(n), attrs), true
}

// xlat is the result of translating one address (R-ACC-1).
type xlat struct {
	mr    *Region        // the leaf; the unassigned region when nothing is there
	e     *dispatchEntry // the range's dispatch entry, nil for unassigned
	off   uint64         // offset in mr
	xaddr uint64         // the address in the view the range belongs to
	limit uint64         // bound on the step length set by IOMMU pages
}

// maxIOMMUHops bounds translation chains (an IOMMU whose target space
// leads back into it): the access then finds nothing.
const maxIOMMUHops = 16

// translate resolves addr of view v (R-ACC-1), walking through IOMMU
// regions into their target spaces (R-IOMMU-1). The common case, the range
// of the reader's last hit, is a few instructions (hit).
func (rd *Reader) translate(v *FlatView, addr uint64, write bool, attrs Attrs) xlat {
	if e := rd.hit(v, addr); e != nil && e.mr != nil {
		return xlat{mr: e.mr, e: e, off: e.roff + (addr - e.start), xaddr: addr, limit: ^uint64(0)}
	}
	return rd.translateSlow(v, addr, write, attrs)
}

// hit returns the dispatch entry of the reader's last hit when v is still
// its view and addr lies in the range, else nil.
func (rd *Reader) hit(v *FlatView, addr uint64) *dispatchEntry {
	if v == rd.view {
		if e := &v.disp[rd.idx]; addr-e.start <= e.span {
			return e
		}
	}
	return nil
}

func (rd *Reader) translateSlow(v *FlatView, addr uint64, write bool, attrs Attrs) xlat {
	limit := ^uint64(0)
	for hops := 0; ; hops++ {
		i := rd.find(v, addr)
		if i < 0 {
			return xlat{mr: rd.sys.unassigned, off: addr, xaddr: addr, limit: limit}
		}
		e := &v.disp[i]
		off := e.roff + (addr - e.start)
		if e.mr != nil {
			return xlat{mr: e.mr, e: e, off: off, xaddr: addr, limit: limit}
		}
		mr := v.ranges[i].Region // an IOMMU region
		if hops == maxIOMMUHops {
			return xlat{mr: rd.sys.unassigned, off: off, xaddr: addr, limit: limit}
		}
		te, ok := rd.iommuTranslate(mr, off, write, attrs)
		if !ok || te.Target == nil {
			// QEMU returns io_mem_unassigned with the IOMMU offset.
			return xlat{mr: rd.sys.unassigned, off: off, xaddr: addr, limit: limit}
		}
		next := (te.TranslatedAddr &^ te.AddrMask) | (off & te.AddrMask)
		if page := (next | te.AddrMask) - next + 1; page != 0 && page < limit {
			limit = page
		}
		v, addr = te.Target.view.Load(), next
	}
}

// lookupEntry finds the range of v containing addr with the view's index,
// remembers it as the reader's last hit and returns its entry (nil when
// nothing is there). It is FlatView.lookup written out: one call less on
// every miss of the last hit.
func (rd *Reader) lookupEntry(v *FlatView, addr uint64) *dispatchEntry {
	i := v.index.find(addr)
	if i < 0 {
		return nil
	}
	e := &v.disp[i]
	if addr-e.start > e.span {
		return nil
	}
	rd.view, rd.idx = v, i
	return e
}

// find returns the index of the range of v containing addr, or -1, trying
// the range of the reader's previous access first.
func (rd *Reader) find(v *FlatView, addr uint64) int {
	if rd.hit(v, addr) == nil && rd.lookupEntry(v, addr) == nil {
		return -1
	}
	return rd.idx
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

// direct reports whether the step copies host memory (R-ACC-4): a direct
// range, for writes one that is writable or a debug access.
func (t *xlat) direct(write bool, attrs Attrs) bool {
	if t.e == nil || t.e.mem == nil {
		return false
	}
	return !write || t.e.writable || attrs.Debug
}

// directLen is how many of n bytes at t.xaddr the direct range holds.
func (t *xlat) directLen(n uint64) uint64 {
	return min(n, t.e.span-(t.xaddr-t.e.start)+1) // R-ACC-2
}

// refuseNonRAM is R-ACC-5: with attrs.Memory, a step whose leaf is not RAM
// (RAM, ROM, RAM device) is refused. QEMU checks each step before anything
// else, with the step's unclamped length, which for a non-RAM leaf is the
// rest of the buffer (up to an IOMMU page).
func (rd *Reader) refuseNonRAM(t *xlat, n uint64, write bool, attrs Attrs) bool {
	if !attrs.Memory || t.mr.IsRAM() {
		return false
	}
	rd.nonRAMAccess(t.mr, t.off, n, write)
	return true
}

func (rd *Reader) read(v *FlatView, addr uint64, buf []byte, attrs Attrs) Result {
	var res Result
	for len(buf) > 0 {
		t := rd.translate(v, addr, false, attrs)
		n := min(uint64(len(buf)), t.limit)
		var l uint64
		switch {
		case rd.refuseNonRAM(&t, n, false, attrs):
			l = n
			clear(buf[:l])
			res |= AccessError
		case t.direct(false, attrs):
			l = t.directLen(n)
			ramLoad(buf[:l], t.e.host(), t.xaddr-t.e.start)
		default:
			mr := t.mr
			rd.sys.prepareMMIO(mr)
			l = uint64(accessSize(mr.ops, n, t.off)) // R-SIZE-1
			x, r := rd.dispatchRead(mr, t.off, uint(l), attrs)
			putValue(buf[:l], x, mr.ops.bigEndian())
			res |= r
		}
		buf = buf[l:]
		addr += l
	}
	return res
}

func (rd *Reader) write(v *FlatView, addr uint64, buf []byte, attrs Attrs) Result {
	var res Result
	for len(buf) > 0 {
		t := rd.translate(v, addr, true, attrs)
		n := min(uint64(len(buf)), t.limit)
		var l uint64
		switch {
		case rd.refuseNonRAM(&t, n, true, attrs):
			l = n
			res |= AccessError
		case t.direct(true, attrs):
			l = t.directLen(n)
			o := t.xaddr - t.e.start
			ramStore(t.e.host(), o, buf[:l])
			if t.e.mask != 0 {
				t.e.block.markDirty(t.e.roff+o, l, t.e.mask) // R-DIRTY-5
			}
		default:
			mr := t.mr
			rd.sys.prepareMMIO(mr)
			l = uint64(accessSize(mr.ops, n, t.off))
			res |= rd.dispatchWrite(mr, t.off, getValue(buf[:l], mr.ops.bigEndian()), uint(l), attrs)
		}
		buf = buf[l:]
		addr += l
	}
	return res
}

// Load is a typed load of size bytes (1, 2, 4 or 8) with byte order e
// (address_space_ld*, R-ACC-7): one translation; host memory when the whole
// access lies in a direct range, otherwise ONE dispatch of the full width,
// whose validity alone decides (no splitting). Like QEMU's typed helpers it
// does not apply R-ACC-5 (Attrs.Memory).
//
// A size other than 1, 2, 4 or 8 is refused with AccessError.
func (rd *Reader) Load(as *AddressSpace, addr uint64, size uint, e Endianness, attrs Attrs) (uint64, Result) {
	if !validSize(size) {
		return 0, AccessError
	}
	rd.Enter()
	v := as.view.Load()
	d := rd.hit(v, addr)
	if d == nil {
		d = rd.lookupEntry(v, addr)
	}
	if d != nil && d.mem != nil {
		if off := addr - d.start; uint64(size)-1 <= d.span-off {
			x := loadValue(d.host(), off, size, e == BigEndian)
			rd.Exit()
			return x, OK
		}
	}
	x, res := rd.load(v, addr, size, e, attrs)
	rd.Exit()
	return x, res
}

func (rd *Reader) load(v *FlatView, addr uint64, size uint, e Endianness, attrs Attrs) (uint64, Result) {
	t := rd.translate(v, addr, false, attrs)
	if t.direct(false, attrs) && t.limit >= uint64(size) && t.directLen(uint64(size)) == uint64(size) {
		return loadValue(t.e.host(), t.xaddr-t.e.start, size, e == BigEndian), OK
	}
	// Not direct, or straddling the end of the range or of an IOMMU page:
	// one dispatch to the leaf, even a RAM leaf, whose ops are the
	// unassigned ones (R-ACC-7's quirk).
	mr := t.mr
	rd.sys.prepareMMIO(mr)
	x, res := rd.dispatchRead(mr, t.off, size, attrs)
	if (e == BigEndian) != mr.ops.bigEndian() {
		x = swapN(x, size) // R-END-2
	}
	return x & sizeMask(size), res
}

// Store is a typed store (address_space_st*, R-ACC-7).
func (rd *Reader) Store(as *AddressSpace, addr uint64, size uint, x uint64, e Endianness, attrs Attrs) Result {
	if !validSize(size) {
		return AccessError
	}
	rd.Enter()
	v := as.view.Load()
	d := rd.hit(v, addr)
	if d == nil {
		d = rd.lookupEntry(v, addr)
	}
	if d != nil && d.writable {
		if off := addr - d.start; uint64(size)-1 <= d.span-off {
			storeValue(d.host(), off, size, x, e == BigEndian)
			if d.mask != 0 {
				d.block.markDirty(d.roff+off, uint64(size), d.mask)
			}
			rd.Exit()
			return OK
		}
	}
	res := rd.store(v, addr, size, x, e, attrs)
	rd.Exit()
	return res
}

func (rd *Reader) store(v *FlatView, addr uint64, size uint, x uint64, e Endianness, attrs Attrs) Result {
	t := rd.translate(v, addr, true, attrs)
	if t.direct(true, attrs) && t.limit >= uint64(size) && t.directLen(uint64(size)) == uint64(size) {
		o := t.xaddr - t.e.start
		storeValue(t.e.host(), o, size, x, e == BigEndian)
		if t.e.mask != 0 {
			t.e.block.markDirty(t.e.roff+o, uint64(size), t.e.mask)
		}
		return OK
	}
	mr := t.mr
	rd.sys.prepareMMIO(mr)
	if (e == BigEndian) != mr.ops.bigEndian() {
		x = swapN(x, size)
	}
	return rd.dispatchWrite(mr, t.off, x&sizeMask(size), size, attrs)
}

func validSize(size uint) bool { return size == 1 || size == 2 || size == 4 || size == 8 }

// loadValue reads size bytes of host memory at off as a value of the given
// byte order.
func loadValue(mem []byte, off uint64, size uint, big bool) uint64 {
	var b [8]byte
	ramLoad(b[:size], mem, off)
	return getValue(b[:size], big)
}

// storeValue writes the low size bytes of x at off in the given byte order.
func storeValue(mem []byte, off uint64, size uint, x uint64, big bool) {
	var b [8]byte
	putValue(b[:size], x, big)
	ramStore(mem, off, b[:size])
}

// putValue stores the low len(b) bytes of v in b, big-endian or
// little-endian: a device value as the bytes it stands for (R-END-2).
func putValue(b []byte, v uint64, big bool) {
	switch {
	case len(b) == 1:
		b[0] = byte(v)
	case len(b) == 2 && !big:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case len(b) == 2:
		binary.BigEndian.PutUint16(b, uint16(v))
	case len(b) == 4 && !big:
		binary.LittleEndian.PutUint32(b, uint32(v))
	case len(b) == 4:
		binary.BigEndian.PutUint32(b, uint32(v))
	case len(b) == 8 && !big:
		binary.LittleEndian.PutUint64(b, v)
	case len(b) == 8:
		binary.BigEndian.PutUint64(b, v)
	default:
		n := len(b)
		for i := 0; i < n; i++ {
			if big {
				b[n-1-i] = byte(v >> (8 * i))
			} else {
				b[i] = byte(v >> (8 * i))
			}
		}
	}
}

// getValue is the inverse of putValue.
func getValue(b []byte, big bool) uint64 {
	switch {
	case len(b) == 1:
		return uint64(b[0])
	case len(b) == 2 && !big:
		return uint64(binary.LittleEndian.Uint16(b))
	case len(b) == 2:
		return uint64(binary.BigEndian.Uint16(b))
	case len(b) == 4 && !big:
		return uint64(binary.LittleEndian.Uint32(b))
	case len(b) == 4:
		return uint64(binary.BigEndian.Uint32(b))
	case len(b) == 8 && !big:
		return binary.LittleEndian.Uint64(b)
	case len(b) == 8:
		return binary.BigEndian.Uint64(b)
	}
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

// ramLoad copies host memory at off into dst. Naturally aligned accesses
// of 4 and 8 bytes are single atomic loads, so a concurrent aligned store is
// never seen half done (and the race detector knows they are atomic).
// Alignment is that of the host address: host memory of RAM is page
// aligned, so it is the guest's alignment.
func ramLoad(dst, mem []byte, off uint64) {
	src := mem[off:][:len(dst)]
	p := unsafe.Pointer(unsafe.SliceData(src))
	switch len(dst) {
	case 8:
		if uintptr(p)&7 == 0 {
			binary.NativeEndian.PutUint64(dst, atomic.LoadUint64((*uint64)(p)))
			return
		}
	case 4:
		if uintptr(p)&3 == 0 {
			binary.NativeEndian.PutUint32(dst, atomic.LoadUint32((*uint32)(p)))
			return
		}
	}
	copy(dst, src)
}

// ramStore copies src into host memory at off; aligned 4 and 8 byte stores
// are single atomic stores.
func ramStore(mem []byte, off uint64, src []byte) {
	dst := mem[off:][:len(src)]
	p := unsafe.Pointer(unsafe.SliceData(dst))
	switch len(src) {
	case 8:
		if uintptr(p)&7 == 0 {
			atomic.StoreUint64((*uint64)(p), binary.NativeEndian.Uint64(src))
			return
		}
	case 4:
		if uintptr(p)&3 == 0 {
			atomic.StoreUint32((*uint32)(p), binary.NativeEndian.Uint32(src))
			return
		}
	}
	copy(dst, src)
}

// readerPool lends readers to the AddressSpace convenience methods.
type readerPool struct {
	mu   sync.Mutex
	free []*Reader
	// inCallback counts the MMIO callbacks borrowed readers are inside
	// (maxBorrowedNest).
	inCallback atomic.Int32
}

// maxPooled is how many idle readers the pool keeps registered.
const maxPooled = 64

func (p *readerPool) enterCallback() bool {
	if p.inCallback.Add(1) > maxBorrowedNest {
		p.inCallback.Add(-1)
		return false
	}
	return true
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
	rd := s.NewReader()
	rd.borrowed = true
	return rd
}

// returnReader takes a reader back. A reader a panic unwound through is
// made to leave its sections first.
func (s *System) returnReader(rd *Reader) {
	if rd.depth != 0 || rd.nest != 0 {
		rd.forceExit()
	}
	p := &s.pool
	p.mu.Lock()
	if len(p.free) < maxPooled {
		p.free = append(p.free, rd)
		rd = nil
	}
	p.mu.Unlock()
	if rd != nil {
		rd.Close()
	}
}

// Read reads through a reader borrowed for the call: for control-side code
// and tests. vCPUs and DMA engines should own a Reader; device callbacks
// should use attrs.Reader().
func (as *AddressSpace) Read(addr uint64, buf []byte, attrs Attrs) Result {
	rd := as.sys.borrowReader()
	defer as.sys.returnReader(rd)
	return rd.Read(as, addr, buf, attrs)
}

// Write writes through a borrowed reader (see Read).
func (as *AddressSpace) Write(addr uint64, buf []byte, attrs Attrs) Result {
	rd := as.sys.borrowReader()
	defer as.sys.returnReader(rd)
	return rd.Write(as, addr, buf, attrs)
}

// Load is a typed load through a borrowed reader (see Read).
func (as *AddressSpace) Load(addr uint64, size uint, e Endianness, attrs Attrs) (uint64, Result) {
	rd := as.sys.borrowReader()
	defer as.sys.returnReader(rd)
	return rd.Load(as, addr, size, e, attrs)
}

// Store is a typed store through a borrowed reader (see Read).
func (as *AddressSpace) Store(addr uint64, size uint, v uint64, e Endianness, attrs Attrs) Result {
	rd := as.sys.borrowReader()
	defer as.sys.returnReader(rd)
	return rd.Store(as, addr, size, v, e, attrs)
}
