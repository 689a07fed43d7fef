package memory

import (
	"slices"

	"github.com/google/btree"
)

// Rendering (A.6): the tree under a flat-view root becomes a sorted list of
// disjoint ranges, each mapping addresses to a leaf region at an offset.
//
// QEMU renders by walking the tree in priority order and letting each region
// fill only the addresses still free ("first rendered wins", R-FLAT-4),
// keeping the view in a sorted array that it scans and shifts for every
// region: quadratic. qmem walks the same tree in the same order, so the
// result is identical, but tracks the occupied addresses as maximal spans in
// a B-tree: finding the free gaps of a clip costs O(log N) plus the gaps
// found, and every gap filled merges spans, so a render of N regions costs
// O(N log N). A subtree whose clip is already fully occupied is skipped.

// span is an occupied address interval [start, last].
type span struct{ start, last uint64 }

func spanLess(a, b span) bool { return a.start < b.start }

type renderer struct {
	occ      *btree.BTreeG[span]
	out      []FlatRange
	migrate  bool // global dirty tracking adds the MIGRATION bit
	scratchK []span
}

// render renders the view of root (a flat-view root, not nil).
func (s *System) render(root *Region) *FlatView {
	rd := &renderer{
		occ:     btree.NewG[span](32, spanLess),
		migrate: s.globalDirty != 0,
	}
	rd.region(root, i128{}, i128{}, two64, false, false, false)
	slices.SortFunc(rd.out, func(a, b FlatRange) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	fv := &FlatView{sys: s, root: root, ranges: simplify(rd.out)}
	fv.buildIndex()
	s.renders.Add(1)
	return fv
}

// region renders mr at base within the clip [clo, chi), with the flags
// inherited from the path (R-FLAT-1..7).
func (rd *renderer) region(mr *Region, base, clo, chi i128, ro, nv, um bool) {
	if !mr.enabled { // R-FLAT-2
		return
	}
	base = base.add(u64(mr.addr))
	lo := max128(base, clo)
	hi := min128(base.add(mr.size), chi)
	if !lo.less(hi) { // R-FLAT-3, R-FLAT-8
		return
	}
	ro = ro || mr.readonly
	nv = nv || mr.nonvolatile
	um = um || mr.unmergeable
	if t := mr.alias; t != nil { // R-FLAT-5
		rd.region(t, base.sub(u64(t.addr)).sub(u64(mr.aliasOffset)), lo, hi, ro, nv, um)
		return
	}
	first, last := lo.lo, hi.sub(u64(1)).lo // the clip is inside [0, 2^64)
	if rd.covered(first, last) {
		return
	}
	for _, sub := range mr.subregions { // R-FLAT-4
		rd.region(sub, base, lo, hi, ro, nv, um)
	}
	if mr.terminates { // R-FLAT-7
		rd.fill(mr, base, first, last, ro, nv, um)
	}
}

// covered reports whether [first, last] is entirely occupied.
func (rd *renderer) covered(first, last uint64) bool {
	hit := false
	rd.occ.DescendLessOrEqual(span{start: first}, func(sp span) bool {
		hit = sp.last >= last
		return false
	})
	return hit
}

// fill gives every free address of [first, last] to mr, then records the
// whole interval, merged with the spans it touches, as one occupied span.
func (rd *renderer) fill(mr *Region, base i128, first, last uint64, ro, nv, um bool) {
	doomed := rd.scratchK[:0]
	merged := span{start: first, last: last}
	cur, done := first, false
	// The span starting at or before first, if it overlaps or touches.
	rd.occ.DescendLessOrEqual(span{start: first}, func(sp span) bool {
		if sp.last >= first || sp.last == first-1 {
			doomed = append(doomed, sp)
			merged.start = sp.start
			merged.last = max(merged.last, sp.last)
			if sp.last >= last {
				done = true
			} else if sp.last >= first {
				cur = sp.last + 1
			}
		}
		return false
	})
	if done && len(doomed) == 1 && doomed[0].start <= first {
		rd.scratchK = doomed
		return // already fully occupied
	}
	if first != ^uint64(0) {
		rd.occ.AscendGreaterOrEqual(span{start: first + 1}, func(sp span) bool {
			if last != ^uint64(0) && sp.start > last+1 {
				return false
			}
			doomed = append(doomed, sp)
			merged.last = max(merged.last, sp.last)
			if sp.start > last { // touches the end
				return false
			}
			if !done && sp.start > cur {
				rd.emit(mr, base, cur, sp.start-1, ro, nv, um)
			}
			if sp.last >= last {
				done = true
			} else {
				cur = sp.last + 1
			}
			return true
		})
	}
	if !done {
		rd.emit(mr, base, cur, last, ro, nv, um)
	}
	for _, sp := range doomed {
		rd.occ.Delete(sp)
	}
	rd.occ.ReplaceOrInsert(merged)
	rd.scratchK = doomed
}

func (rd *renderer) emit(mr *Region, base i128, first, last uint64, ro, nv, um bool) {
	mask := mr.dirtyLogMask()
	if rd.migrate && (mr.ram != nil && !mr.IsRAMDevice() || mr.kind == KindIOMMU) {
		mask |= 1 << DirtyMigration
	}
	rd.out = append(rd.out, FlatRange{
		Start:        first,
		Last:         last,
		Region:       mr,
		Offset:       u64(first).sub(base).lo, // R-FLAT-6
		DirtyLogMask: mask,
		RomdMode:     mr.romdMode,
		Readonly:     ro,
		Nonvolatile:  nv,
		Unmergeable:  um,
	})
}

// simplify merges adjacent ranges that continue each other (R-SIMP-1),
// greedily from left to right.
func simplify(in []FlatRange) []FlatRange {
	if len(in) == 0 {
		return nil
	}
	out := in[:1]
	for _, fr := range in[1:] {
		p := &out[len(out)-1]
		if p.Last != ^uint64(0) && p.Last+1 == fr.Start && p.mergeable(&fr) {
			p.Last = fr.Last
			continue
		}
		out = append(out, fr)
	}
	return slices.Clip(out)
}

// mergeable is R-SIMP-1's condition for fr continuing p.
func (p *FlatRange) mergeable(fr *FlatRange) bool {
	return p.Region == fr.Region &&
		p.Offset+(p.Last-p.Start+1) == fr.Offset &&
		p.DirtyLogMask == fr.DirtyLogMask &&
		p.RomdMode == fr.RomdMode &&
		p.Readonly == fr.Readonly &&
		p.Nonvolatile == fr.Nonvolatile &&
		!p.Unmergeable && !fr.Unmergeable
}
