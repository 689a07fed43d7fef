package memory

import "fmt"

// Loops in the region graph (R-KIND-7).
//
// QEMU does not check for loops: an alias that leads back to a region on
// its own render path recurses until the clip of R-FLAT-3 becomes empty, or
// forever. Real machines use such loops: the ARM SSE-200 container holds
// aliases of itself whose windows lie outside the aliases, so the second
// pass finds nothing to render (arm-mps2-an505 in the corpus). qmem accepts
// a loop when a render through it provably ends, and refuses it otherwise:
//
//   - a loop made of containment alone (a container inside its own
//     descendant) is always refused;
//   - a loop through at least one alias is accepted when a walk of the
//     render recursion from the region where the loop closes, with the
//     widest possible clip, ends within maxAliasHops alias steps on every
//     path and maxLoopWalk steps in all. Real renders clip at least as
//     much, so they end too, within the same bounds.
//
// Once a loop exists, later changes that can lengthen it (moving a region,
// resizing, enabling, changing an alias offset) are checked the same way.

const (
	// maxAliasHops bounds the aliases followed on one render path.
	maxAliasHops = 64
	// maxLoopWalk bounds the steps of the termination check.
	maxLoopWalk = 1 << 12
)

// loopError describes a refused loop.
func loopError(action string, path []*Region, why string) error {
	return fmt.Errorf("memory: %s would make a loop that %s: %s", action, why, loopString(path))
}

// hasAlias reports whether a render path goes through an alias.
func hasAlias(path []*Region) bool {
	for _, r := range path {
		if r.alias != nil {
			return true
		}
	}
	return false
}

// rendersFinitely reports whether the render recursion from r ends within
// the bounds, with the widest clip.
func (r *Region) rendersFinitely() bool {
	budget := maxLoopWalk
	return walkFinite(r, i128{}, i128{}, two64, 0, &budget)
}

func walkFinite(mr *Region, base, clo, chi i128, hops int, budget *int) bool {
	*budget--
	if *budget < 0 {
		return false
	}
	if !mr.enabled {
		return true
	}
	base = base.add(u64(mr.addr))
	lo := max128(base, clo)
	hi := min128(base.add(mr.size), chi)
	if !lo.less(hi) {
		return true
	}
	if t := mr.alias; t != nil {
		if hops == maxAliasHops {
			return false
		}
		return walkFinite(t, base.sub(u64(t.addr)).sub(u64(mr.aliasOffset)), lo, hi, hops+1, budget)
	}
	for _, s := range mr.subregions {
		if !walkFinite(s, base, lo, hi, hops, budget) {
			return false
		}
	}
	return true
}

// checkLoopAfter applies change, and if r is on a loop afterwards checks
// that rendering through it still ends; if not, undo reverts the change and
// the error says why. It is for changes to a region that may already sit on
// a loop.
func (r *Region) checkLoopAfter(action string, change, undo func()) error {
	change()
	if !r.sys.loops {
		return nil
	}
	path := r.loopPath()
	if path == nil || r.rendersFinitely() {
		return nil
	}
	undo()
	return loopError(action, path, fmt.Sprintf("never ends (or needs more than %d alias steps)", maxAliasHops))
}

// loopPath returns a render path from r back to r (r first, as reaches
// returns paths), nil when r is on no loop.
func (r *Region) loopPath() []*Region {
	for _, c := range r.renderChildren(nil) {
		if c == r {
			return []*Region{r}
		}
		if p := c.reaches(r); p != nil {
			return append(p, c)
		}
	}
	return nil
}
