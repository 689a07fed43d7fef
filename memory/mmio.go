package memory

import (
	"fmt"
	"math/bits"
)

// MMIO dispatch: validity (R-SIZE-3), step sizes (R-SIZE-1), splitting into
// callback sizes (R-SIZE-5/6) and byte order (A.15). Everything here runs on
// the access path: no lock, no allocation.

// deviceBigEndian reports whether values of ops are big-endian. Native is
// little-endian: qmem's targets are x86.
func (o *Ops) bigEndian() bool { return o != nil && o.Endianness == BigEndian }

// accessSize is R-SIZE-1: the size of the next step of a buffer access of
// remaining bytes at region offset off.
func accessSize(o *Ops, remaining uint64, off uint64) uint {
	max := uint64(4)
	implUnaligned := false
	if o != nil {
		if o.Valid.Max != 0 {
			max = uint64(o.Valid.Max)
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

// implSizes returns the callback size bounds with QEMU's defaults.
func implSizes(o *Ops) (lo, hi uint) {
	lo, hi = o.Impl.Min, o.Impl.Max
	if lo == 0 {
		lo = 1
	}
	if hi == 0 {
		hi = 4
	}
	return lo, hi
}

// dispatchRead reads a device value of size bytes at region offset off
// (memory_region_dispatch_read): validity, the re-entrancy guard, then the
// callbacks split to the implementation's sizes. The value is in the
// device's byte order sense (R-END-2).
func (rd *Reader) dispatchRead(mr *Region, off uint64, size uint, attrs Attrs) (uint64, Result) {
	o := mr.ops
	if reason := invalidReason(o, off, size, false, attrs); reason != "" {
		mr.sys.invalidAccess(mr, off, size, false, reason)
		return 0, DecodeError // R-SIZE-4
	}
	if !rd.guardEnter(mr) {
		return 0, AccessError // R-ACC-8
	}
	v, res := rd.adjustedRead(mr, o, off, size, attrs)
	rd.guardExit(mr)
	return v, res
}

// dispatchWrite writes a device value (memory_region_dispatch_write),
// signalling a matching ioeventfd instead of calling the device (R-IOEV-3).
func (rd *Reader) dispatchWrite(mr *Region, off, v uint64, size uint, attrs Attrs) Result {
	o := mr.ops
	if reason := invalidReason(o, off, size, true, attrs); reason != "" {
		mr.sys.invalidAccess(mr, off, size, true, reason)
		return DecodeError
	}
	if e := mr.ioeventfdFor(off, size, v&sizeMask(size)); e != nil {
		e.Notify()
		return OK
	}
	if !rd.guardEnter(mr) {
		return AccessError
	}
	res := rd.adjustedWrite(mr, o, off, v, size, attrs)
	rd.guardExit(mr)
	return res
}

// adjustedRead is R-SIZE-5/6: callbacks of the implementation's size, each
// contributing its bits at the position the device's byte order gives.
func (rd *Reader) adjustedRead(mr *Region, o *Ops, off uint64, size uint, attrs Attrs) (uint64, Result) {
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
		tmp, r := rd.callRead(mr, o, off+uint64(i), access, attrs)
		res |= r
		if shift >= 0 {
			v |= (tmp & mask) << shift
		} else {
			v |= (tmp & mask) >> -shift
		}
	}
	return v, res
}

func (rd *Reader) adjustedWrite(mr *Region, o *Ops, off, v uint64, size uint, attrs Attrs) Result {
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
		res |= rd.callWrite(mr, o, off+uint64(i), tmp, access, attrs)
	}
	return res
}

// callRead calls the device; a panic becomes a device error, reported once
// per region.
func (rd *Reader) callRead(mr *Region, o *Ops, off uint64, size uint, attrs Attrs) (v uint64, res Result) {
	if o.Read == nil {
		return 0, OK
	}
	attrs.reader = rd
	defer func() {
		if p := recover(); p != nil {
			mr.sys.devicePanic(mr, off, size, false, p)
			v, res = 0, Error
		}
	}()
	return o.Read(off, size, attrs)
}

func (rd *Reader) callWrite(mr *Region, o *Ops, off, v uint64, size uint, attrs Attrs) (res Result) {
	if o.Write == nil {
		return OK
	}
	attrs.reader = rd
	defer func() {
		if p := recover(); p != nil {
			mr.sys.devicePanic(mr, off, size, true, p)
			res = Error
		}
	}()
	return o.Write(off, v, size, attrs)
}

// guardEnter is the re-entrancy guard of R-ACC-8, kept per reader: an
// access to a device's MMIO made while the same reader is inside one of that
// device's callbacks (e.g. the device DMAs into itself with the reader it was
// handed in attrs) is refused. It applies to regions whose owner is a device
// and that are not RAM, ROM, ROM devices, RAM devices or readonly, unless the
// ops are marked Reentrant. Concurrent accesses from other readers are not
// re-entrant and are never refused.
func (rd *Reader) guardEnter(mr *Region) bool {
	dev := mr.guardDev
	if dev == nil || mr.ops.Reentrant {
		return true
	}
	for i := 0; i < rd.inside; i++ {
		if rd.insideDev[i] == dev {
			mr.sys.reentrancy(mr)
			return false
		}
	}
	if rd.inside < len(rd.insideDev) {
		rd.insideDev[rd.inside] = dev
	}
	rd.inside++
	return true
}

func (rd *Reader) guardExit(mr *Region) {
	if mr.guardDev == nil || mr.ops.Reentrant {
		return
	}
	rd.inside--
	if rd.inside < len(rd.insideDev) {
		rd.insideDev[rd.inside] = nil
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

// AccessEvent describes an access that failed in a way QEMU logs.
type AccessEvent struct {
	Region string
	Offset uint64
	Size   uint
	Write  bool
	Reason string // R-SIZE-3 reason, "re-entrant access", or the panic value
}

// String renders the event in QEMU's words (R-SIZE-3).
func (e AccessEvent) String() string {
	op := "read"
	if e.Write {
		op = "write"
	}
	return fmt.Sprintf("Invalid %s at addr 0x%X, size %d, region '%s', reason: %s", op, e.Offset, e.Size, e.Region, e.Reason)
}
