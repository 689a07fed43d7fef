package memory

import "unsafe"

// FlatRange is one entry of a flat view: addresses [Start, Last] map to the
// leaf Region at Offset (R-FLAT-6, R-FLAT-9). Ranges are never empty; Len
// returns 0 only for a range covering all 2^64 addresses.
type FlatRange struct {
	Start, Last  uint64
	Region       *Region // the terminating leaf, never an alias or container
	Offset       uint64  // offset in Region of Start
	DirtyLogMask uint8
	RomdMode     bool
	Readonly     bool // OR of the readonly flags on the path (a view attribute, R-FLAT-10)
	Nonvolatile  bool
	Unmergeable  bool

	leafReadonly bool // the leaf's own readonly flag, for the access path (R-ACC-4)
}

// Len returns the number of addresses, 0 meaning 2^64.
func (fr *FlatRange) Len() uint64 { return fr.Last - fr.Start + 1 }

// sameAs is the range identity of R-LSN-6: everything but the dirty mask.
func (fr *FlatRange) sameAs(o *FlatRange) bool {
	return fr.Region == o.Region && fr.Start == o.Start && fr.Last == o.Last &&
		fr.Offset == o.Offset && fr.RomdMode == o.RomdMode && fr.Readonly == o.Readonly &&
		fr.Nonvolatile == o.Nonvolatile && fr.Unmergeable == o.Unmergeable
}

// FlatView is the rendered, simplified map of one flat-view root: sorted,
// disjoint ranges (A.6, A.7). A FlatView is immutable once published and is
// shared by every address space whose root resolves to the same region
// (R-FVROOT-2).
type FlatView struct {
	sys    *System
	root   *Region // nil for the empty view
	ranges []FlatRange

	// Dispatch index, built once by buildIndex: a search tree over the
	// start of every range and, per range, what the access path needs
	// without following pointers.
	index rangeIndex
	disp  []dispatchEntry
}

// dispatchEntry is the access path's copy of one range: its bounds and,
// for ranges that are copied directly (R-ACC-4), the host memory from the
// range's first byte. Built with the view, never changed. An entry is 64
// bytes, so that finding a range and reaching its memory costs one cache
// miss, not two: Go places the array on a cache line, or 8 bytes past one
// (the allocation header of a small object with pointers), and the fields
// an access reads end before byte 56 (TestDispatchIndexAligned).
type dispatchEntry struct {
	start uint64  // first address
	span  uint64  // last - start: the range holds span+1 bytes
	mr    *Region // the leaf; nil for an IOMMU region (translation goes on)
	// mem is the host memory of the range's first byte for direct reads
	// (span+1 bytes, see host), nil otherwise.
	mem   *byte
	block *ramBlock
	roff  uint64 // offset in the region of start, for dirty logging
	mask  uint8  // dirty log mask
	// romd: a ROM device read directly; not RAM for R-ACC-5.
	romd bool
	// writable: writes other than debug ones may copy into mem too.
	writable bool
	_        [13]byte
}

// An entry is exactly one cache line (a compile-time check).
var _ [unsafe.Sizeof(dispatchEntry{}) - 64]struct{}
var _ [64 - unsafe.Sizeof(dispatchEntry{})]struct{}

// host returns the range's host memory; e.mem must not be nil.
func (e *dispatchEntry) host() []byte { return unsafe.Slice(e.mem, e.span+1) }

// Root returns the region the view was rendered from, nil for the empty
// view (R-FVROOT-1's "nothing").
func (v *FlatView) Root() *Region { return v.root }

// Ranges returns the view's ranges in ascending address order. The slice is
// shared: callers must not modify it.
func (v *FlatView) Ranges() []FlatRange { return v.ranges }

// Empty reports whether the view has no ranges.
func (v *FlatView) Empty() bool { return len(v.ranges) == 0 }

// buildIndex prepares the dispatch index. It runs once, before the view is
// published.
func (v *FlatView) buildIndex() {
	infos := make([]leafInfo, len(v.ranges))
	for i := range v.ranges {
		r := v.ranges[i].Region
		infos[i] = leafInfo{mr: r, ram: r.ram, kind: r.kind}
	}
	v.buildIndexFrom(infos)
}

// buildIndexFrom is buildIndex with the leaves' kinds and host memory
// already at hand (infos[i] describes ranges[i]), so that no region is read.
func (v *FlatView) buildIndexFrom(infos []leafInfo) {
	starts := make([]uint64, len(v.ranges))
	v.disp = make([]dispatchEntry, len(v.ranges))
	for i := range v.ranges {
		fr := &v.ranges[i]
		li := &infos[i]
		starts[i] = fr.Start
		e := &v.disp[i]
		e.start, e.span = fr.Start, fr.Last-fr.Start
		e.roff, e.mask = fr.Offset, fr.DirtyLogMask
		if li.kind != KindIOMMU {
			e.mr = li.mr
		}
		b := li.ram
		direct := li.kind == KindRAM || li.kind == KindROM || li.kind == KindROMDevice && fr.RomdMode // R-ACC-4
		if b == nil || !direct || fr.Offset > uint64(len(b.mem)) || e.span >= uint64(len(b.mem))-fr.Offset {
			continue
		}
		e.mem, e.block = &b.mem[fr.Offset], b
		e.romd = li.kind == KindROMDevice
		e.writable = !fr.leafReadonly && li.kind != KindROMDevice // writeDirect without Debug
	}
	v.index = newRangeIndex(starts)
}

// lookup returns the index of the range containing addr, or -1.
func (v *FlatView) lookup(addr uint64) int {
	i := v.index.find(addr)
	if i < 0 || addr-v.disp[i].start > v.disp[i].span {
		return -1
	}
	return i
}

// Find returns the range containing addr, or nil (R-ACC-1).
func (v *FlatView) Find(addr uint64) *FlatRange {
	if i := v.lookup(addr); i >= 0 {
		return &v.ranges[i]
	}
	return nil
}
