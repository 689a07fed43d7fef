package memory

import (
	"fmt"
	"sort"
)

// Verify checks an address space's published view against a brute-force
// resolution of its tree: for every address where something can change
// (the edges of every region and alias window reachable from the root,
// projected to absolute addresses) it walks the tree the way SPEC A.6
// describes rendering, and compares leaf, offset and the readonly and
// nonvolatile flags with the view. It also checks that the view is sorted,
// disjoint and simplified. It returns the first difference.
//
// Verify is for tests and the torture command: it costs
// O(points x depth). It requires the lock, and the space must have no
// transaction pending (call it after Commit).
func Verify(as *AddressSpace) error {
	v := as.View()
	if err := checkRanges(v.ranges); err != nil {
		return fmt.Errorf("view of '%s': %w", as.name, err)
	}
	root := flatViewRoot(as.root)
	if root != v.root {
		return fmt.Errorf("view of '%s' was rendered from %v, its root resolves to %v", as.name, v.root, root)
	}
	if root == nil {
		if len(v.ranges) != 0 {
			return fmt.Errorf("view of '%s' should be empty", as.name)
		}
		return nil
	}
	pts := map[uint64]struct{}{}
	collectPoints(root, i128{}, i128{}, two64, pts, 0)
	for i := range v.ranges {
		pts[v.ranges[i].Start] = struct{}{}
		pts[v.ranges[i].Last] = struct{}{}
	}
	addrs := make([]uint64, 0, len(pts))
	for a := range pts {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	for _, a := range addrs {
		want, ok := bruteForce(root, i128{}, u64(a), false, false, 0)
		fr := v.Find(a)
		switch {
		case !ok && fr == nil:
			continue
		case !ok:
			return fmt.Errorf("'%s' at %#x: view has %s, the tree has nothing", as.name, a, fr.Region)
		case fr == nil:
			return fmt.Errorf("'%s' at %#x: view has nothing, the tree has %s@%#x", as.name, a, want.leaf, want.offset)
		}
		got := bruteHit{leaf: fr.Region, offset: fr.Offset + (a - fr.Start), ro: fr.Readonly, nv: fr.Nonvolatile}
		if got != want {
			return fmt.Errorf("'%s' at %#x: view has %s@%#x ro=%v nv=%v, the tree has %s@%#x ro=%v nv=%v",
				as.name, a, got.leaf, got.offset, got.ro, got.nv, want.leaf, want.offset, want.ro, want.nv)
		}
	}
	return nil
}

func checkRanges(rs []FlatRange) error {
	for i := range rs {
		if rs[i].Last < rs[i].Start {
			return fmt.Errorf("range %d is inverted", i)
		}
		if i > 0 {
			if rs[i-1].Last >= rs[i].Start {
				return fmt.Errorf("ranges %d and %d overlap", i-1, i)
			}
			if rs[i-1].Last+1 == rs[i].Start && rs[i-1].mergeable(&rs[i]) {
				return fmt.Errorf("ranges %d and %d should have been merged", i-1, i)
			}
		}
	}
	return nil
}

// collectPoints adds the absolute first and last address (and the one past
// the end) of every region reachable from mr rendered at base, clipped as
// rendering clips (so that loops through aliases end as renders do).
func collectPoints(mr *Region, base, clo, chi i128, pts map[uint64]struct{}, hops int) {
	if hops > maxAliasHops || !mr.enabled || len(pts) > maxLoopWalk {
		return
	}
	base = base.add(u64(mr.addr))
	lo := max128(base, clo)
	hi := min128(base.add(mr.size), chi)
	if !lo.less(hi) {
		return
	}
	for _, p := range []i128{lo, hi.sub(u64(1)), hi} {
		if !p.neg() && p.hi == 0 {
			pts[p.lo] = struct{}{}
		}
	}
	if t := mr.alias; t != nil {
		collectPoints(t, base.sub(u64(t.addr)).sub(u64(mr.aliasOffset)), lo, hi, pts, hops+1)
		return
	}
	for _, s := range mr.subregions {
		collectPoints(s, base, lo, hi, pts, hops)
	}
}

type bruteHit struct {
	leaf   *Region
	offset uint64
	ro, nv bool
}

// bruteForce resolves one address by walking the tree in render order.
func bruteForce(mr *Region, base, addr i128, ro, nv bool, hops int) (bruteHit, bool) {
	if !mr.enabled || hops > maxAliasHops {
		return bruteHit{}, false
	}
	base = base.add(u64(mr.addr))
	if addr.less(base) || !addr.less(base.add(mr.size)) {
		return bruteHit{}, false
	}
	ro = ro || mr.readonly
	nv = nv || mr.nonvolatile
	if t := mr.alias; t != nil {
		return bruteForce(t, base.sub(u64(t.addr)).sub(u64(mr.aliasOffset)), addr, ro, nv, hops+1)
	}
	for _, s := range mr.subregions {
		if h, ok := bruteForce(s, base, addr, ro, nv, hops); ok {
			return h, true
		}
	}
	if mr.terminates {
		return bruteHit{leaf: mr, offset: addr.sub(base).lo, ro: ro, nv: nv}, true
	}
	return bruteHit{}, false
}
