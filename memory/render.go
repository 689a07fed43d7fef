package memory

import (
	"cmp"
	"slices"
	"unsafe"
)

// Rendering (A.6): the tree under a flat-view root becomes a sorted list of
// disjoint ranges, each mapping addresses to a leaf region at an offset.
//
// QEMU renders by walking the tree in priority order and letting each region
// fill only the addresses still free ("first rendered wins", R-FLAT-4),
// keeping the view in a sorted array that it scans and shifts for every
// region: quadratic in the number of regions.
//
// qmem computes the same result bottom-up. Painting "earlier over later" is
// associative, so a container's view is its subregions' views painted over
// one another in list order, plus, for a terminating region, its own content
// in the gaps (R-FLAT-7). Each subtree yields a sorted list; the lists of a
// container's subregions are combined either by concatenation (the common
// case: they do not overlap, checked after sorting them by address) or by a
// balanced sequence of linear two-list merges. A render of N regions in a
// tree of fan-out k therefore costs O(N log k) with sequential memory access
// and no final sort. All lists live in one arena that the System reuses, so
// a render allocates only the finished view.
//
// (The first implementation kept the occupied addresses in a B-tree and
// filled gaps region by region. It gave the same answer in O(N log N), but
// measured 2x slower at N=4096 and scaled 25-30x from 4,096 to 65,536
// regions because of pointer chasing; see BENCHMARKS.md.)

// prefetchAhead is how many subregions ahead the walk prefetches: visiting
// a region is a cache miss on large trees, and the misses of siblings can
// overlap (measured on BenchmarkRender/N=65536; see BENCHMARKS.md).
const prefetchAhead = 8

// list is a range of the renderer's arena: sorted, disjoint pieces.
type list struct{ a, b int }

// piece is a flat range in the arena. It holds no pointer (the leaf is an
// index into the renderer's leaf table) so that copying pieces costs no
// write barrier and the arena costs the garbage collector nothing to scan.
type piece struct {
	Start, Last, Offset uint64
	leaf                uint32
	mask                uint8
	flags               uint8
}

const (
	pieceRomd = 1 << iota
	pieceRO
	pieceNV
	pieceUM
	pieceLeafRO
)

func (l list) empty() bool { return l.a == l.b }

type renderer struct {
	pool    []piece     // arena of every list of the current render
	leaves  []leafInfo  // leaf table: piece.leaf indexes it
	infos   []leafInfo  // per range of the finished view
	stack   []list      // children lists of the containers being rendered
	keys    []keyedList // scratch for sorting children lists
	keyTmp  []keyedList
	migrate bool // global dirty tracking adds the MIGRATION bit
}

// render renders the view of root (a flat-view root, not nil).
func (s *System) render(root *Region) *FlatView {
	rd := s.rd
	if rd == nil {
		rd = &renderer{}
		s.rd = rd
	}
	rd.migrate = s.globalDirty != 0
	rd.pool = rd.pool[:0]
	rd.leaves = rd.leaves[:0]
	l := rd.region(root, i128{}, i128{}, two64, false, false, false, 0)
	ranges, infos := rd.finish(rd.pool[l.a:l.b])
	fv := &FlatView{sys: s, root: root, ranges: ranges}
	fv.buildIndexFrom(infos)
	clear(rd.leaves) // drop the region pointers
	clear(rd.infos)
	s.renders.Add(1)
	return fv
}

// region renders mr at base within the clip [clo, chi), with the flags
// inherited from the path, and returns its list (R-FLAT-1..7).
func (rd *renderer) region(mr *Region, base, clo, chi i128, ro, nv, um bool, hops int) list {
	if !mr.enabled { // R-FLAT-2
		return list{}
	}
	base = base.add(u64(mr.addr))
	lo := max128(base, clo)
	hi := min128(base.add(mr.size), chi)
	if !lo.less(hi) { // R-FLAT-3, R-FLAT-8
		return list{}
	}
	ro = ro || mr.readonly
	nv = nv || mr.nonvolatile
	um = um || mr.unmergeable
	if t := mr.alias; t != nil { // R-FLAT-5
		if hops == maxAliasHops {
			return list{} // unreachable: loops are accepted only within this bound (cycle.go)
		}
		return rd.region(t, base.sub(u64(t.addr)).sub(u64(mr.aliasOffset)), lo, hi, ro, nv, um, hops+1)
	}
	var children list
	if len(mr.subregions) > 0 { // R-FLAT-4
		mark := len(rd.stack)
		subs := mr.subregions
		for i := 0; i < min(prefetchAhead, len(subs)); i++ {
			prefetch(unsafe.Pointer(subs[i]))
		}
		for i, sub := range subs {
			if j := i + prefetchAhead; j < len(subs) {
				prefetch(unsafe.Pointer(subs[j]))
			}
			if l := rd.region(sub, base, lo, hi, ro, nv, um, hops); !l.empty() {
				rd.stack = append(rd.stack, l)
			}
		}
		children = rd.paint(rd.stack[mark:])
		rd.stack = rd.stack[:mark]
	}
	if !mr.terminates {
		return children
	}
	// R-FLAT-7: the region's own content fills the gaps of the clip.
	return rd.fillGaps(children, mr, base, lo.lo, hi.sub(u64(1)).lo, ro, nv, um)
}

// paint combines lists in priority order: every address goes to the first
// list that covers it.
func (rd *renderer) paint(ls []list) list {
	switch len(ls) {
	case 0:
		return list{}
	case 1:
		return ls[0]
	}
	// Fast path: lists that do not overlap are concatenated in address order.
	// Each list's first and last address is read once (the pool is large and
	// the children's lists lie far apart), then the keys are sorted.
	keys := rd.keys[:0]
	for _, l := range ls {
		keys = append(keys, keyedList{start: rd.pool[l.a].Start, last: rd.pool[l.b-1].Last, l: l})
	}
	rd.keys = keys
	if !slices.IsSortedFunc(keys, cmpKeyed) {
		keys = rd.sortKeys(keys)
	}
	disjoint, contiguous := true, true
	for i := 1; i < len(keys); i++ {
		if keys[i-1].last >= keys[i].start {
			disjoint = false
			break
		}
		if keys[i-1].l.b != keys[i].l.a {
			contiguous = false
		}
	}
	if disjoint {
		if contiguous {
			return list{keys[0].l.a, keys[len(keys)-1].l.b}
		}
		a := len(rd.pool)
		for _, k := range keys {
			rd.pool = append(rd.pool, rd.pool[k.l.a:k.l.b]...)
		}
		return list{a, len(rd.pool)}
	}
	return rd.paintRange(ls)
}

// keyedList is a list with its first and last address, for sorting.
type keyedList struct {
	start, last uint64
	l           list
}

func cmpKeyed(x, y keyedList) int { return cmp.Compare(x.start, y.start) }

// sortKeys sorts keys by start: a comparison sort for a few, an LSD radix
// sort on the bytes that differ for many (a container with hundreds of
// subregions, whose lists arrive in priority order, not address order).
func (rd *renderer) sortKeys(keys []keyedList) []keyedList {
	if len(keys) < 48 {
		slices.SortFunc(keys, cmpKeyed)
		return keys
	}
	var or, and uint64 = 0, ^uint64(0)
	for _, k := range keys {
		or |= k.start
		and &= k.start
	}
	differ := or ^ and // bits that are not the same in every key
	tmp := slices.Grow(rd.keyTmp[:0], len(keys))[:len(keys)]
	rd.keyTmp = tmp
	src, dst := keys, tmp
	var count [256]int
	for shift := uint(0); shift < 64; shift += 8 {
		if (differ>>shift)&0xff == 0 {
			continue
		}
		clear(count[:])
		for _, k := range src {
			count[byte(k.start>>shift)]++
		}
		pos := 0
		for d := range count {
			c := count[d]
			count[d] = pos
			pos += c
		}
		for _, k := range src {
			d := byte(k.start >> shift)
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
	return keys
}

// paintRange paints ls by halves: (first half) over (second half).
func (rd *renderer) paintRange(ls []list) list {
	if len(ls) == 1 {
		return ls[0]
	}
	mid := len(ls) / 2
	return rd.over(rd.paintRange(ls[:mid]), rd.paintRange(ls[mid:]))
}

// trim returns fr restricted to [start, last] (inside fr).
func trim(fr piece, start, last uint64) piece {
	fr.Offset += start - fr.Start
	fr.Start, fr.Last = start, last
	return fr
}

// over returns top painted over bottom: all of top, and the parts of bottom
// that top does not cover, in address order. Linear in both lists.
func (rd *renderer) over(top, bottom list) list {
	out := len(rd.pool)
	pa := top.a
	covered, any := uint64(0), false // last address of the last top range emitted
	for pb := bottom.a; pb < bottom.b; pb++ {
		cur := rd.pool[pb]
		if any && covered >= cur.Start {
			if covered >= cur.Last {
				continue
			}
			cur = trim(cur, covered+1, cur.Last)
		}
		for {
			for pa < top.b && rd.pool[pa].Last < cur.Start {
				rd.pool = append(rd.pool, rd.pool[pa])
				covered, any = rd.pool[pa].Last, true
				pa++
			}
			if pa == top.b || rd.pool[pa].Start > cur.Last {
				rd.pool = append(rd.pool, cur)
				break
			}
			a := rd.pool[pa]
			if a.Start > cur.Start {
				rd.pool = append(rd.pool, trim(cur, cur.Start, a.Start-1))
			}
			rd.pool = append(rd.pool, a)
			covered, any = a.Last, true
			pa++
			if a.Last >= cur.Last {
				break
			}
			cur = trim(cur, a.Last+1, cur.Last)
		}
	}
	rd.pool = append(rd.pool, rd.pool[pa:top.b]...)
	return list{out, len(rd.pool)}
}

// fillGaps returns l plus mr's own ranges in every gap of [first, last]
// that l leaves (l lies inside it).
func (rd *renderer) fillGaps(l list, mr *Region, base i128, first, last uint64, ro, nv, um bool) list {
	out := len(rd.pool)
	proto := rd.leaf(mr, ro, nv, um)
	cur, done := first, false
	for p := l.a; p < l.b; p++ {
		fr := rd.pool[p]
		if fr.Start > cur {
			rd.pool = append(rd.pool, proto.at(base, cur, fr.Start-1))
		}
		rd.pool = append(rd.pool, fr)
		if fr.Last >= last {
			done = true
			break
		}
		cur = fr.Last + 1
	}
	if !done {
		rd.pool = append(rd.pool, proto.at(base, cur, last))
	}
	return list{out, len(rd.pool)}
}

// leaf returns a piece of mr's own content with everything but its
// addresses set, registering mr in the leaf table.
func (rd *renderer) leaf(mr *Region, ro, nv, um bool) piece {
	mask := mr.dirtyLogMask()
	if rd.migrate && (mr.ram != nil && !mr.IsRAMDevice() || mr.kind == KindIOMMU) {
		mask |= 1 << DirtyMigration
	}
	var f uint8
	for _, b := range []struct {
		on  bool
		bit uint8
	}{{mr.romdMode, pieceRomd}, {ro, pieceRO}, {nv, pieceNV}, {um, pieceUM}, {mr.readonly, pieceLeafRO}} {
		if b.on {
			f |= b.bit
		}
	}
	rd.leaves = append(rd.leaves, leafInfo{mr: mr, ram: mr.ram, kind: mr.kind})
	return piece{leaf: uint32(len(rd.leaves) - 1), mask: mask, flags: f}
}

// at places a leaf piece at [first, last] of a region rendered at base.
func (p piece) at(base i128, first, last uint64) piece {
	p.Start, p.Last = first, last
	p.Offset = u64(first).sub(base).lo // R-FLAT-6
	return p
}

// finish turns the root's pieces into the view's ranges, merging adjacent
// ranges that continue each other (R-SIMP-1) greedily from left to right.
//
// It also returns, per range, what the dispatch index needs of its leaf,
// read while the leaf was hot in the cache (buildIndex would otherwise visit
// every region again).
func (rd *renderer) finish(ps []piece) ([]FlatRange, []leafInfo) {
	out := make([]FlatRange, 0, len(ps))
	infos := rd.infos[:0]
	for _, p := range ps {
		li := rd.leaves[p.leaf]
		fr := FlatRange{
			Start: p.Start, Last: p.Last, Region: li.mr, Offset: p.Offset,
			DirtyLogMask: p.mask,
			RomdMode:     p.flags&pieceRomd != 0,
			Readonly:     p.flags&pieceRO != 0,
			Nonvolatile:  p.flags&pieceNV != 0,
			Unmergeable:  p.flags&pieceUM != 0,
			leafReadonly: p.flags&pieceLeafRO != 0,
		}
		if n := len(out); n > 0 {
			q := &out[n-1]
			if q.Last != ^uint64(0) && q.Last+1 == fr.Start && q.mergeable(&fr) {
				q.Last = fr.Last
				continue
			}
		}
		out = append(out, fr)
		infos = append(infos, li)
	}
	rd.infos = infos
	return slices.Clip(out), infos
}

// leafInfo is what the renderer records of a leaf it fills from: the
// region and the fields the dispatch index needs.
type leafInfo struct {
	mr   *Region
	ram  *ramBlock
	kind Kind
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
