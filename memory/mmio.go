package memory

import "math/bits"

// MMIO dispatch: validity (R-SIZE-3), step sizes (R-SIZE-1), splitting into
// callback sizes (R-SIZE-5/6) and byte order (A.15). Everything here runs on
// the access path: no lock, no allocation.

// deviceBigEndian reports whether values of ops are big-endian. Native is
// little-endian: qmem's targets are x86.
func (o *Ops) bigEndian() bool { return o != nil && o.Endianness == BigEndian }

// accessSize is R-SIZE-1: the size of the next step of a buffer access of
// remaining bytes at region offset off. Steps never exceed 8 bytes (QEMU's
// largest MemOp).
func accessSize(o *Ops, remaining uint64, off uint64) uint {
	max := uint64(4)
	implUnaligned := false
	if o != nil {
		if o.Valid.Max != 0 {
			max = uint64(min(o.Valid.Max, 8))
		}
		implUnaligned = o.Impl.Unaligned
	}
	if !implUnaligned && off != 0 {
		if a := off & -off; a < max {
			max = a
		}
	}
	l := min(remaining, max)
	return uint(1) << (63 - bits.LeadingZeros64(l)) // round down to a power of two
}

// invalidReason is R-SIZE-3: "" when the access is valid, else the reason
// QEMU logs. Nil ops are QEMU's unassigned ops, whose accepts hook refuses
// everything (R-UNAS-2).
func invalidReason(o *Ops, off uint64, size uint, write bool, attrs Attrs) string {
	if o == nil {
		return "rejected"
	}
	if o.Valid.Accepts != nil && !o.Valid.Accepts(off, size, write, attrs) {
		return "rejected"
	}
	if !o.Valid.Unaligned && off&uint64(size-1) != 0 {
		return "unaligned"
	}
	if o.Valid.Max == 0 {
		return ""
	}
	if size > o.Valid.Max || size < o.Valid.Min {
		return "invalid size"
	}
	return ""
}

func sizeMask(size uint) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*size) - 1
}

// implSizes returns the callback size bounds with QEMU's defaults (R-SIZE-5),
// at most 8 bytes.
func implSizes(o *Ops) (lo, hi uint) {
	lo, hi = o.Impl.Min, o.Impl.Max
	if lo == 0 {
		lo = 1
	}
	if hi == 0 {
		hi = 4
	}
	return min(lo, 8), min(hi, 8)
}

// validFast is the common case of R-SIZE-3 without an accepts hook: aligned
// (or unaligned allowed) and within the sizes. False means "ask
// invalidReason".
func validFast(o *Ops, off uint64, size uint) bool {
	return o != nil && o.Valid.Accepts == nil &&
		(o.Valid.Unaligned || off&uint64(size-1) == 0) &&
		(o.Valid.Max == 0 || size <= o.Valid.Max && size >= o.Valid.Min)
}

// setOps installs the region's ops and the size sets derived from them.
func (r *Region) setOps(o *Ops) {
	r.ops = o
	r.fastR, r.fastW, r.impl = 0, 0, 0
	r.readFn, r.writeFn, r.big = nil, nil, false
	if o == nil {
		return
	}
	r.readFn, r.writeFn, r.big = o.Read, o.Write, o.bigEndian()
	lo, hi := implSizes(o)
	for n := uint(1); n <= 8; n *= 2 {
		if n < lo || n > hi {
			continue
		}
		r.impl |= 1 << n
		// An aligned access of n bytes that passes R-SIZE-3 (with no
		// accepts hook) and is one step (R-SIZE-1): the access path may
		// call the callback at once.
		if !validFast(o, 0, n) || accessSize(o, uint64(n), 0) != n {
			continue
		}
		if o.Read != nil {
			r.fastR |= 1 << n
		}
		if o.Write != nil {
			r.fastW |= 1 << n
		}
	}
}

// fastRead reports whether a read of n bytes at region offset off can call
// the read callback at once, with no validity check or splitting.
func (r *Region) fastRead(off, n uint64) bool {
	return r.fastR>>n&1 != 0 && off&(n-1) == 0 // no bit above 8 is set
}

// fastWrite is fastRead for writes.
func (r *Region) fastWrite(off, n uint64) bool {
	return r.fastW>>n&1 != 0 && off&(n-1) == 0
}

// dispatchRead reads a device value of size bytes at region offset off
// (memory_region_dispatch_read): validity, the re-entrancy guard, then the
// callbacks split to the implementation's sizes. The value is in the
// device's byte order sense (R-END-2).
func (rd *Reader) dispatchRead(mr *Region, off uint64, size uint, attrs Attrs) (uint64, Result) {
	o := mr.ops
	if !validFast(o, off, size) {
		if reason := invalidReason(o, off, size, false, attrs); reason != "" {
			rd.invalidAccess(mr, off, size, false, reason)
			return 0, DecodeError // R-SIZE-4
		}
	}
	return rd.call(mr, off, 0, size, false, attrs)
}

// dispatchWrite writes a device value (memory_region_dispatch_write),
// signalling a matching ioeventfd instead of calling the device (R-IOEV-3).
func (rd *Reader) dispatchWrite(mr *Region, off, v uint64, size uint, attrs Attrs) Result {
	o := mr.ops
	if !validFast(o, off, size) {
		if reason := invalidReason(o, off, size, true, attrs); reason != "" {
			rd.invalidAccess(mr, off, size, true, reason)
			return DecodeError
		}
	}
	_, res := rd.call(mr, off, v, size, true, attrs)
	return res
}

// call performs an MMIO read or write of size bytes at offset off of mr
// whose validity was checked: a write matching an ioeventfd signals it
// instead (R-IOEV-3); otherwise the re-entrancy guard (R-ACC-8), then the
// callbacks split to the implementation's sizes, with a panic recovered.
// v is the value written; x the value read.
func (rd *Reader) call(mr *Region, off, v uint64, size uint, write bool, attrs Attrs) (x uint64, res Result) {
	o := mr.ops
	if write {
		if e := mr.ioeventfdFor(off, size, v&sizeMask(size)); e != nil {
			e.Notify()
			return 0, OK
		}
	}
	if rd.nest == 0 && !rd.borrowed {
		rd.enterFirst(mr, off, size, write) // the common case, inlined
	} else if !rd.guardEnter(mr, off, size, write) {
		return 0, AccessError
	}
	// The results stay (0, Error) unless the callbacks return; see abandon.
	n := rd.nest
	res = Error
	defer func() {
		if rd.nest == n {
			rd.abandon(recover())
		}
	}()
	split := mr.impl>>size&1 == 0
	switch {
	case write && split:
		res = rd.adjustedWrite(o, off, v, size, attrs)
	case split:
		x, res = rd.adjustedRead(o, off, size, attrs)
	case write && o.Write != nil:
		attrs.reader = rd
		res = o.Write(off, v, size, attrs)
	case !write && o.Read != nil:
		attrs.reader = rd
		x, res = o.Read(off, size, attrs)
		x &= sizeMask(size)
	default:
		res = OK
	}
	rd.guardExit()
	return x, res
}

// abandon ends the callback level of a dispatch whose callbacks did not
// return: they panicked (p is the panic, now recovered) or called
// runtime.Goexit (p is nil). A dispatch leaves its level itself when its
// callbacks return, so its deferred function, which runs on every return,
// finds the reader still at the level only in these cases, and only then
// pays for recover.
//
// After a panic the reader's sections opened below this level are closed,
// the panic is reported once per region, and the dispatch completes as a
// device error: its results are (0, Error) until the callbacks return, and
// the remaining pieces of a split access are skipped. Levels entered inside
// the callback were left by their own dispatches while the panic unwound
// them. After Goexit the goroutine is ending: the reader leaves every level
// and section, so that no grace period waits for it.
//
// (Measured: a deferred closure that calls recover only in these cases
// costs about half of one that always calls it through a method with
// pointers to the results.)
func (rd *Reader) abandon(p any) {
	if p == nil {
		rd.forceExit()
		return
	}
	l := &rd.levels[rd.nest-1]
	rd.depth = l.depth
	rd.devicePanic(l.mr, l.off, l.size, l.write, p)
	rd.guardExit()
}

// abandonFirst is abandon for the callback Read and Write call themselves
// (the first level of a reader that is not borrowed), which also leaves
// the access's section.
func (rd *Reader) abandonFirst(p any) {
	rd.abandon(p)
	if rd.depth != 0 {
		rd.Exit()
	}
}

// adjustedRead is R-SIZE-5/6: callbacks of the implementation's size, each
// contributing its bits at the position the device's byte order gives.
// Ops without a read callback read as 0.
func (rd *Reader) adjustedRead(o *Ops, off uint64, size uint, attrs Attrs) (uint64, Result) {
	if o.Read == nil {
		return 0, OK
	}
	attrs.reader = rd
	lo, hi := implSizes(o)
	access := min(max(size, lo), hi)
	mask := sizeMask(access)
	var v uint64
	var res Result
	for i := uint(0); i < size; i += access {
		shift := 8 * int(i)
		if o.bigEndian() {
			shift = 8 * (int(size) - int(access) - int(i))
		}
		tmp, r := o.Read(off+uint64(i), access, attrs)
		res |= r
		if shift >= 0 {
			v |= (tmp & mask) << shift
		} else {
			v |= (tmp & mask) >> -shift
		}
	}
	return v, res
}

func (rd *Reader) adjustedWrite(o *Ops, off, v uint64, size uint, attrs Attrs) Result {
	if o.Write == nil {
		return OK
	}
	attrs.reader = rd
	lo, hi := implSizes(o)
	access := min(max(size, lo), hi)
	mask := sizeMask(access)
	var res Result
	for i := uint(0); i < size; i += access {
		shift := 8 * int(i)
		if o.bigEndian() {
			shift = 8 * (int(size) - int(access) - int(i))
		}
		var tmp uint64
		if shift >= 0 {
			tmp = (v >> shift) & mask
		} else {
			tmp = (v << -shift) & mask
		}
		res |= o.Write(off+uint64(i), tmp, access, attrs)
	}
	return res
}

// unwound restores the reader after a panic unwound through accesses the
// callback made with it.
func (rd *Reader) unwound(depth, nest int) {
	rd.depth = depth
	for rd.nest > nest {
		rd.guardExit()
	}
}

// maxNest bounds how deeply MMIO callbacks may nest on one reader (a
// callback accessing memory, whose callback accesses memory, ...). QEMU has
// no bound: its guard stops a device re-entering itself, but a chain
// through unguarded regions (ownerless, Reentrant) could recurse until the
// stack overflows, which a Go program cannot survive.
const maxNest = 16

// maxBorrowedNest bounds the callbacks that borrowed readers (the
// AddressSpace convenience methods) may be inside at once, over all of
// them. A callback that accesses memory through AddressSpace.Read gets a
// fresh reader, which the per-reader guard cannot connect to the reader
// already inside the device; without this bound a device reading its own
// registers that way would recurse without end. Borrowed readers are the
// control-side path, where a shared counter costs nothing that matters.
const maxBorrowedNest = 256

// guardEnter records that the reader enters a callback of mr. It refuses
// (reporting once) an access to a device's MMIO made while the same reader
// is inside one of that device's callbacks (R-ACC-8; e.g. the device DMAs
// into itself with the reader it was handed in attrs), and any nesting
// beyond maxNest (or maxBorrowedNest). The guard applies to regions whose
// owner is a device and that are not RAM, ROM, ROM devices or RAM devices,
// unless the ops are marked Reentrant. Concurrent accesses from other
// readers are not re-entrant and are never refused.
//
// Callers use enterFirst instead when the reader is not inside any
// callback and not borrowed: there is nothing to refuse then.
func (rd *Reader) guardEnter(mr *Region, off uint64, size uint, write bool) bool {
	dev := mr.guardDev.Load()
	if dev != nil {
		for i := 0; i < rd.nest; i++ {
			if rd.levels[i].mr.guardDev.Load() == dev {
				rd.reentrancy(mr, off, size, write, "re-entrant access refused")
				return false
			}
		}
	}
	if rd.nest == maxNest {
		rd.reentrancy(mr, off, size, write, "MMIO callbacks nested too deeply")
		return false
	}
	if rd.borrowed && !rd.sys.pool.enterCallback() {
		rd.reentrancy(mr, off, size, write, "MMIO callbacks nested too deeply")
		return false
	}
	rd.levels[rd.nest].set(mr, off, size, write, rd.depth)
	rd.nest++
	return true
}

// enterFirst is guardEnter for a reader that is inside no callback and is
// not borrowed.
func (rd *Reader) enterFirst(mr *Region, off uint64, size uint, write bool) {
	rd.levels[0].set(mr, off, size, write, rd.depth)
	rd.nest = 1
}

// set fills the level field by field (a struct literal is built on the
// stack and copied, which stalls on store forwarding on the hot path).
func (l *callbackLevel) set(mr *Region, off uint64, size uint, write bool, depth int) {
	l.mr, l.off, l.size, l.write, l.depth = mr, off, size, write, depth
}

func (rd *Reader) guardExit() {
	rd.nest-- // the level's fields are overwritten when it is entered again
	if rd.borrowed {
		rd.sys.pool.inCallback.Add(-1)
	}
}

func swapN(v uint64, size uint) uint64 {
	switch size {
	case 2:
		return uint64(bits.ReverseBytes16(uint16(v)))
	case 4:
		return uint64(bits.ReverseBytes32(uint32(v)))
	case 8:
		return bits.ReverseBytes64(v)
	}
	return v
}

// DispatchRead is memory_region_dispatch_read: a read of size bytes (1, 2,
// 4 or 8) at offset off of mr itself, for a device that forwards accesses
// to a region of its own. Aliases are followed to their target, at offset
// off plus the alias offset (R-ACC-6); the validity check, re-entrancy
// guard and splitting are those of any MMIO step (A.14), and the value is
// returned in byte order e (R-END-2). A region without ops (RAM, a
// container) answers like unassigned memory.
//
// The caller must keep mr's alias chain from changing meanwhile (hold the
// lock, or own the regions).
func (rd *Reader) DispatchRead(mr *Region, off uint64, size uint, e Endianness, attrs Attrs) (uint64, Result) {
	if !validSize(size) {
		return 0, AccessError
	}
	for mr.alias != nil {
		off += mr.aliasOffset
		mr = mr.alias
	}
	rd.Enter()
	x, res := rd.dispatchRead(mr, off, size, attrs)
	rd.Exit()
	if (e == BigEndian) != mr.ops.bigEndian() {
		x = swapN(x, size)
	}
	return x & sizeMask(size), res
}

// DispatchWrite is memory_region_dispatch_write (see DispatchRead).
func (rd *Reader) DispatchWrite(mr *Region, off uint64, size uint, x uint64, e Endianness, attrs Attrs) Result {
	if !validSize(size) {
		return AccessError
	}
	for mr.alias != nil {
		off += mr.aliasOffset
		mr = mr.alias
	}
	if (e == BigEndian) != mr.ops.bigEndian() {
		x = swapN(x, size)
	}
	rd.Enter()
	res := rd.dispatchWrite(mr, off, x&sizeMask(size), size, attrs)
	rd.Exit()
	return res
}
