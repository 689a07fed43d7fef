package memory

import (
	"fmt"
)

// AddSubregion places sub inside r at offset with priority 0 (R-SUB-1).
// See AddSubregionOverlap.
func (r *Region) AddSubregion(offset uint64, sub *Region) error {
	return r.AddSubregionOverlap(offset, sub, 0)
}

// AddSubregionOverlap places sub inside r at offset with the given priority
// (R-SUB-1). Overlap is always allowed: among overlapping siblings the higher
// priority wins, and among equal priorities the one added last (R-SUB-4/5).
//
// It fails, leaving everything unchanged, when either region is finalized,
// when sub is already in a container (R-SUB-3), when r is an alias
// (R-KIND-11), when the addition would make a container cycle or an alias
// loop, or when offset + size of sub passes 2^64.
//
// If r and sub have different owners, r holds a reference on sub's owner
// while sub is inside it; regions of one owner hold none (R-LIFE-3).
func (r *Region) AddSubregionOverlap(offset uint64, sub *Region, priority int32) error {
	if err := r.checkAdd(offset, sub); err != nil {
		return err
	}
	// A container inside its own descendant: a loop of containment alone,
	// whatever aliases also connect them. Containers form a tree, so it is
	// enough to look for sub among r's containers.
	for c := r; c != nil; c = c.container {
		if c == sub {
			var chain []*Region // r, its containers up to sub's child, then sub
			for d := r; d != sub; d = d.container {
				chain = append(chain, d)
			}
			chain = append(chain, sub)
			return loopError(fmt.Sprintf("adding %s to %s", sub, r), chain, "contains a container in itself")
		}
	}
	if path := sub.reaches(r); path != nil {
		// A loop through an alias: accepted only when rendering it ends.
		action := fmt.Sprintf("adding %s to %s", sub, r)
		path = append(path, sub)
		oldAddr, oldPrio := sub.addr, sub.priority
		sub.addr, sub.priority = offset, priority
		r.link(sub)
		ok := r.rendersFinitely()
		r.unlink(sub)
		sub.addr, sub.priority = oldAddr, oldPrio
		if !ok {
			return loopError(action, path, fmt.Sprintf("never ends (or needs more than %d alias steps)", maxAliasHops))
		}
		r.sys.loops = true
	}
	s := r.sys
	s.Begin()
	sub.priority = priority
	sub.addr = offset
	r.link(sub)
	if (r.owner != sub.owner || s.compat.sameOwnerRefs) && sub.owner != nil {
		sub.owner.RefHold(sub.containerHold())
		sub.heldOwner = true
	}
	for a := sub; a.alias != nil; a = a.alias {
		a.alias.mappedViaAlias++
	}
	s.touch(r)
	s.touch(sub) // its address changed, which matters if it is a root (R-FLAT-1)
	return s.Commit()
}

// checkAdd validates AddSubregionOverlap's arguments without changing
// anything.
func (r *Region) checkAdd(offset uint64, sub *Region) error {
	if sub == nil {
		return fmt.Errorf("memory: add a nil subregion to %s", r)
	}
	if err := r.live("AddSubregion"); err != nil {
		return err
	}
	if err := sub.live("AddSubregion"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	switch {
	case sub.sys != r.sys:
		return fmt.Errorf("memory: %s and %s belong to different memory systems", r, sub)
	case sub.container != nil:
		return fmt.Errorf("memory: region %s is already in container %s", sub, sub.container)
	case r.alias != nil:
		return fmt.Errorf("memory: cannot add %s to %s: an alias cannot have subregions", sub, r)
	case sub == r:
		return fmt.Errorf("memory: cannot add region %s to itself", r)
	}
	if u64(offset).add(sub.size).cmp(two64) > 0 {
		return fmt.Errorf("memory: region %s at %#x with size %s wraps past 2^64", sub, offset, sizeString(sub.size))
	}
	return nil
}

// reaches reports whether the render walk from r (subregions and alias
// targets) can arrive at target; it returns the path from r to target
// (target first) or nil.
//
// The answer is decided by searching down from r and up from target
// (containers and the aliases pointing at a region) in lockstep, which
// costs twice the smaller of the two searches: adding a leaf under a
// region that a thousand bus-master aliases point at stays cheap, and so
// does adding a large tree under a new root. Only when there is a loop is
// the path computed, for the error message.
func (r *Region) reaches(target *Region) []*Region {
	if !r.mayReach(target) {
		return nil
	}
	return r.pathTo(target)
}

// mayReach is the lockstep search of reaches.
func (r *Region) mayReach(target *Region) bool {
	if r == target {
		return true
	}
	down := search{frontier: []*Region{r}, seen: map[*Region]bool{r: true}}
	up := search{frontier: []*Region{target}, seen: map[*Region]bool{target: true}}
	for len(down.frontier) > 0 && len(up.frontier) > 0 {
		if down.step(target, (*Region).renderChildren) || up.step(r, (*Region).renderParents) {
			return true
		}
	}
	return false
}

// search is one direction of mayReach: a depth-first frontier.
type search struct {
	frontier []*Region
	seen     map[*Region]bool
	buf      []*Region
}

// step expands one region of the frontier and reports whether goal is
// among its neighbours.
func (sr *search) step(goal *Region, neighbours func(*Region, []*Region) []*Region) bool {
	x := sr.frontier[len(sr.frontier)-1]
	sr.frontier = sr.frontier[:len(sr.frontier)-1]
	sr.buf = neighbours(x, sr.buf[:0])
	for _, y := range sr.buf {
		if y == goal {
			return true
		}
		if !sr.seen[y] {
			sr.seen[y] = true
			sr.frontier = append(sr.frontier, y)
		}
	}
	return false
}

// renderChildren appends the regions the render walk goes to from r: its
// alias target and its subregions.
func (r *Region) renderChildren(out []*Region) []*Region {
	if r.alias != nil {
		out = append(out, r.alias)
	}
	return append(out, r.subregions...)
}

// renderParents appends the regions whose render walk comes to r directly:
// its container and the aliases pointing at it.
func (r *Region) renderParents(out []*Region) []*Region {
	if r.container != nil {
		out = append(out, r.container)
	}
	for a := range r.aliasedBy {
		out = append(out, a)
	}
	return out
}

// pathTo returns the path of the render walk from r to target (target
// first), nil when there is none.
func (r *Region) pathTo(target *Region) []*Region {
	seen := map[*Region]bool{}
	var walk func(x *Region) []*Region
	walk = func(x *Region) []*Region {
		if x == target {
			return []*Region{x}
		}
		if seen[x] {
			return nil
		}
		seen[x] = true
		if x.alias != nil {
			if p := walk(x.alias); p != nil {
				return append(p, x)
			}
		}
		for _, c := range x.subregions {
			if p := walk(c); p != nil {
				return append(p, x)
			}
		}
		return nil
	}
	p := walk(r)
	if p == nil {
		return nil
	}
	return p[:len(p)-1]
}

func loopString(path []*Region) string {
	s := ""
	for i := len(path) - 1; i >= 0; i-- {
		if s != "" {
			s += " -> "
		}
		s += path[i].String()
	}
	return s + " -> " + path[len(path)-1].String()
}

func sizeString(v i128) string {
	if v.hi != 0 {
		return "2^64"
	}
	return fmt.Sprintf("%#x", v.lo)
}

// link inserts sub into r's list before the first sibling whose priority is
// not higher than sub's (R-SUB-4).
func (r *Region) link(sub *Region) {
	sub.container = r
	i := 0
	for i < len(r.subregions) && r.subregions[i].priority > sub.priority {
		i++
	}
	r.subregions = append(r.subregions, nil)
	copy(r.subregions[i+1:], r.subregions[i:])
	r.subregions[i] = sub
}

// unlink removes sub from r's list.
func (r *Region) unlink(sub *Region) {
	for i, c := range r.subregions {
		if c == sub {
			r.subregions = append(r.subregions[:i:i], r.subregions[i+1:]...)
			break
		}
	}
	sub.container = nil
}

// containerHold names the reference a container holds on sub's owner.
func (sub *Region) containerHold() qomHold {
	return qomHold{By: sub.container.owner, Via: "region " + sub.String() + " in container " + sub.container.String()}
}

// DelSubregion removes sub from r (R-SUB-7). The reference r held on sub's
// owner is released once no reader can still see sub (DESIGN L5).
func (r *Region) DelSubregion(sub *Region) error {
	if sub == nil || sub.container != r {
		return fmt.Errorf("memory: %v is not a subregion of %s", sub, r)
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	s := r.sys
	s.Begin()
	r.detachSub(sub)
	return s.Commit()
}

// detachSub removes sub from r inside an open transaction.
func (r *Region) detachSub(sub *Region) {
	if sub.heldOwner {
		r.sys.grace.deferUnref(sub.owner, sub.containerHold())
		sub.heldOwner = false
	}
	for a := sub; a.alias != nil; a = a.alias {
		a.alias.mappedViaAlias--
	}
	r.unlink(sub)
	r.sys.touch(r)
}

// SetAddress moves the region inside its container (R-ATTR-3): it is taken
// out and put back at the new address with the same priority, so it becomes
// the newest of its equal-priority siblings. The reference its container
// holds stays held throughout. A new address whose end passes 2^64 is an
// error.
func (r *Region) SetAddress(addr uint64) error {
	if err := r.live("SetAddress"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	if addr == r.addr {
		return nil
	}
	if u64(addr).add(r.size).cmp(two64) > 0 {
		return fmt.Errorf("memory: region %s at %#x with size %s wraps past 2^64", r, addr, sizeString(r.size))
	}
	old := r.addr
	if err := r.checkLoopAfter(fmt.Sprintf("moving %s to %#x", r, addr), func() { r.addr = addr }, func() { r.addr = old }); err != nil {
		return err
	}
	s := r.sys
	s.Begin()
	s.touch(r)
	if c := r.container; c != nil {
		c.unlink(r)
		c.link(r)
		s.touch(c)
	}
	return s.Commit()
}
