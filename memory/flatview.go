package memory

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

	// Dispatch index: the start of every range, for the binary search.
	starts []uint64
}

// Root returns the region the view was rendered from, nil for the empty
// view (R-FVROOT-1's "nothing").
func (v *FlatView) Root() *Region { return v.root }

// Ranges returns the view's ranges in ascending address order. The slice is
// shared: callers must not modify it.
func (v *FlatView) Ranges() []FlatRange { return v.ranges }

// Empty reports whether the view has no ranges.
func (v *FlatView) Empty() bool { return len(v.ranges) == 0 }

func (v *FlatView) buildIndex() {
	v.starts = make([]uint64, len(v.ranges))
	for i := range v.ranges {
		v.starts[i] = v.ranges[i].Start
	}
}

// lookup returns the index of the range containing addr, or -1.
func (v *FlatView) lookup(addr uint64) int {
	// Branch-free lower bound: the last start <= addr.
	starts := v.starts
	n := len(starts)
	if n == 0 || addr < starts[0] {
		return -1
	}
	base := 0
	for n > 1 {
		half := n / 2
		if starts[base+half] <= addr {
			base += half
		}
		n -= half
	}
	if v.ranges[base].Last < addr {
		return -1
	}
	return base
}

// Find returns the range containing addr, or nil (R-ACC-1).
func (v *FlatView) Find(addr uint64) *FlatRange {
	if i := v.lookup(addr); i >= 0 {
		return &v.ranges[i]
	}
	return nil
}
