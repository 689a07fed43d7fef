package memory

// flatViewRoot returns the region actually rendered for an address space
// rooted at r, or nil for "nothing" (R-FVROOT-1): disabled regions render
// nothing; an alias at offset 0 at least as large as its target is replaced
// by the target; a pure container with no enabled subregion renders nothing,
// and one whose only enabled subregion sits at 0 and fits is replaced by that
// subregion. The flags and clipping of the skipped regions are not applied
// (R-FVROOT-3).
func flatViewRoot(r *Region) *Region {
	for steps := 0; r.enabled; steps++ {
		if steps > maxLoopWalk {
			return r // only an accepted loop can get here; render from r
		}
		if t := r.alias; t != nil {
			if r.aliasOffset == 0 && r.size.cmp(t.size) >= 0 {
				r = t
				continue
			}
			return r
		}
		if r.terminates {
			return r
		}
		found := 0
		var next *Region
		for _, c := range r.subregions {
			if !c.enabled {
				continue
			}
			found++
			if found > 1 {
				next = nil
				break
			}
			if c.addr == 0 && r.size.cmp(c.size) >= 0 {
				next = c
			}
		}
		if found == 0 {
			return nil
		}
		if next == nil {
			return r
		}
		r = next
	}
	return nil
}
