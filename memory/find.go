package memory

import "qmem.dev/qmem/qom"

// FindResult is the piece of an address space found by Region.Find
// (memory_region_find). Release it when done.
type FindResult struct {
	Section
	held *qom.Object
	hold qom.Hold
}

// Release drops the reference the result holds on its region's owner.
func (f *FindResult) Release() {
	if f.held != nil {
		f.held.UnrefHold(f.hold)
		f.held = nil
	}
}

// Find looks up [addr, addr+size) of r in the address space whose root is
// the top of r's container chain (R-FIND-1): the address is made absolute by
// adding the addresses of r and its containers (aliases are not followed),
// and the lowest range intersecting it is returned clipped, with a reference
// on its region's owner. ok is false when no space is rooted there or nothing
// intersects. Requires the lock.
func (r *Region) Find(addr, size uint64) (res FindResult, ok bool) {
	abs := addr
	top := r
	for ; top != nil; top = top.container {
		abs += top.addr
		if top.container == nil {
			break
		}
	}
	var as *AddressSpace
	for _, x := range r.sys.spaces {
		if x.root == top {
			as = x
			break
		}
	}
	if as == nil || size == 0 {
		return FindResult{}, false
	}
	v := as.current()
	last := abs + size - 1
	if last < abs {
		last = ^uint64(0)
	}
	for i := range v.ranges {
		fr := &v.ranges[i]
		if fr.Last < abs {
			continue
		}
		if fr.Start > last {
			break
		}
		lo, hi := max(fr.Start, abs), min(fr.Last, last)
		sec := sectionOf(as, v, fr)
		sec.OffsetInRegion = fr.Offset + (lo - fr.Start)
		sec.Addr, sec.Size = lo, hi-lo+1
		res = FindResult{Section: sec}
		if o := fr.Region.owner; o != nil {
			res.hold = qom.Hold{Via: "memory_region_find result in '" + as.name + "'"}
			o.RefHold(res.hold)
			res.held = o
		}
		return res, true
	}
	return FindResult{}, false
}

// Present reports whether a 1-byte Find at addr inside r yields a region
// other than r itself (R-FIND-2).
func (r *Region) Present(addr uint64) bool {
	f, ok := r.Find(addr, 1)
	if !ok {
		return false
	}
	defer f.Release()
	return f.Region != r
}

// AccessValid reports whether an access of length bytes at addr would pass
// every MMIO validity check without performing it (R-ACC-9,
// address_space_access_valid). Like QEMU it sizes each MMIO step by the
// alignment of the address in the space (not in the region) and, through
// the validity check, reports invalid steps as access events; it does not
// apply R-ACC-5.
func (as *AddressSpace) AccessValid(addr, length uint64, write bool, attrs Attrs) bool {
	rd := as.sys.borrowReader()
	defer as.sys.returnReader(rd)
	rd.Enter()
	defer rd.Exit()
	v := as.view.Load()
	for length > 0 {
		t := rd.translate(v, addr, write, attrs)
		n := min(length, t.limit)
		var l uint64
		if t.direct(write, attrs) {
			l = t.directLen(n)
		} else {
			l = uint64(accessSize(t.mr.ops, n, addr))
			if reason := invalidReason(t.mr.ops, t.off, uint(l), write, attrs); reason != "" {
				rd.invalidAccess(t.mr, t.off, uint(l), write, reason)
				return false
			}
		}
		length -= l
		addr += l
	}
	return true
}
