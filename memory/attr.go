package memory

import "fmt"

// Attribute setters (A.4). Each is a no-op when the value does not change,
// and otherwise runs as its own transaction (or joins the open one). A change
// only causes rendering of the flat views that can see the region.

// setFlag is the common body of the boolean setters.
func (r *Region) setFlag(op string, field *bool, v bool) error {
	if err := r.live(op); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	if *field == v {
		return nil
	}
	r.sys.Begin()
	*field = v
	r.sys.touch(r)
	return r.sys.Commit()
}

// SetEnabled enables or disables the region (R-ATTR-1). A disabled region
// and everything beneath it render nothing (R-FLAT-2).
func (r *Region) SetEnabled(on bool) error {
	if on && !r.enabled && r.sys.loops && r.Alive() && !r.sys.inCommit {
		if err := r.checkLoopAfter("enabling "+r.String(), func() { r.enabled = true }, func() { r.enabled = false }); err != nil {
			return err
		}
		r.enabled = false // setFlag applies it
	}
	return r.setFlag("SetEnabled", &r.enabled, on)
}

// SetReadonly sets the region's readonly flag (R-ATTR-5), which every flat
// range rendered through it inherits (R-FLAT-3).
//
// An MMIO region that is readonly is not covered by the re-entrancy guard
// (R-ACC-8).
func (r *Region) SetReadonly(on bool) error {
	err := r.setFlag("SetReadonly", &r.readonly, on)
	r.updateGuard()
	return err
}

// SetNonvolatile sets the region's nonvolatile flag (R-ATTR-5).
func (r *Region) SetNonvolatile(on bool) error {
	return r.setFlag("SetNonvolatile", &r.nonvolatile, on)
}

// SetUnmergeable sets the unmergeable flag: ranges rendered through the
// region are never merged with their neighbours (R-SIMP-1).
func (r *Region) SetUnmergeable(on bool) error {
	return r.setFlag("SetUnmergeable", &r.unmergeable, on)
}

// SetRomdMode switches a ROM device between romd mode (reads direct) and
// callback mode (R-KIND-5). It is an error on other kinds.
func (r *Region) SetRomdMode(on bool) error {
	if r.kind != KindROMDevice {
		return fmt.Errorf("memory: %s is not a ROM device", r)
	}
	return r.setFlag("SetRomdMode", &r.romdMode, on)
}

// SetSize changes the size; math.MaxUint64 means 2^64 (R-ATTR-2).
// Subregions are not touched: rendering clips them. A size that would make
// the region pass 2^64 at its address is an error.
func (r *Region) SetSize(size uint64) error {
	if err := r.live("SetSize"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	v := sizeFromUser(size)
	if v == r.size {
		return nil
	}
	if r.ram != nil && v.cmp(u64(uint64(len(r.ram.mem)))) > 0 {
		return fmt.Errorf("memory: cannot grow %s beyond its host memory (%#x bytes)", r, len(r.ram.mem))
	}
	if u64(r.addr).add(v).cmp(two64) > 0 {
		return fmt.Errorf("memory: region %s at %#x with size %s wraps past 2^64", r, r.addr, sizeString(v))
	}
	old := r.size
	if err := r.checkLoopAfter(fmt.Sprintf("resizing %s to %s", r, sizeString(v)), func() { r.size = v }, func() { r.size = old }); err != nil {
		return err
	}
	r.sys.Begin()
	r.sys.touch(r)
	return r.sys.Commit()
}

// SetAliasOffset changes where an alias's window starts in its target
// (R-ATTR-4). It is an error on a region that is not an alias.
func (r *Region) SetAliasOffset(offset uint64) error {
	if r.kind != KindAlias {
		return fmt.Errorf("memory: %s is not an alias", r)
	}
	if err := r.live("SetAliasOffset"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	if r.aliasOffset == offset {
		return nil
	}
	old := r.aliasOffset
	if err := r.checkLoopAfter(fmt.Sprintf("setting the offset of %s to %#x", r, offset), func() { r.aliasOffset = offset }, func() { r.aliasOffset = old }); err != nil {
		return err
	}
	r.sys.Begin()
	r.sys.touch(r)
	return r.sys.Commit()
}

// SetAlias points an alias at a new target and offset (qmem's addition; QEMU
// aliases are fixed at creation). A target whose render walk leads back to
// the alias makes a loop, accepted only when rendering through it ends (see
// cycle.go).
func (r *Region) SetAlias(target *Region, offset uint64) error {
	if r.kind != KindAlias {
		return fmt.Errorf("memory: %s is not an alias", r)
	}
	if target == nil {
		return fmt.Errorf("memory: alias %s needs a target", r)
	}
	if err := r.live("SetAlias"); err != nil {
		return err
	}
	if err := target.live("SetAlias"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	if target.sys != r.sys {
		return fmt.Errorf("memory: alias %s: target %s belongs to another memory system", r, target)
	}
	if target == r {
		return fmt.Errorf("memory: alias %s cannot target itself", r)
	}
	if target == r.alias && offset == r.aliasOffset {
		return nil
	}
	for a, n := target, 0; a != nil; a, n = a.alias, n+1 {
		if a == r || n > maxAliasHops {
			// An alias chain must end in a region that is not an alias:
			// its type label and its mapping follow it (R-KIND-9, R-SUB-9).
			chain := []*Region{r}
			for b := target; b != r && len(chain) <= maxAliasHops; b = b.alias {
				chain = append([]*Region{b}, chain...)
			}
			return loopError(fmt.Sprintf("aliasing %s to %s", r, target), chain, "is made of aliases alone")
		}
	}
	if path := target.reaches(r); path != nil {
		// A loop through this alias: accepted only when rendering it ends.
		oldT, oldOff := r.alias, r.aliasOffset
		r.alias, r.aliasOffset = target, offset
		ok := r.rendersFinitely()
		r.alias, r.aliasOffset = oldT, oldOff
		if !ok {
			return loopError(fmt.Sprintf("aliasing %s to %s", r, target), append(path, target),
				fmt.Sprintf("never ends (or needs more than %d alias steps)", maxAliasHops))
		}
		r.sys.loops = true
	}
	s := r.sys
	s.Begin()
	// R-SUB-9: every mapped alias chain through r (r's own mapping and
	// those of the aliases that lead to r) now continues to the new target.
	chains := r.mappedViaAlias
	if r.container != nil {
		chains++
	}
	for a := r; a.alias != nil; a = a.alias {
		a.alias.mappedViaAlias -= chains
	}
	old := r.alias
	delete(old.aliasedBy, r)
	r.dropAliasRef()
	r.alias, r.aliasOffset = target, offset
	target.addAliasedBy(r)
	r.takeAliasRef()
	for a := r; a.alias != nil; a = a.alias {
		a.alias.mappedViaAlias += chains
	}
	s.touch(r)
	return s.Commit()
}

// SetLogVGA turns VGA dirty logging of the region on or off (R-ATTR-5,
// R-DIRTY-1). Calls are counted: logging stays on while more calls turned it
// on than off.
func (r *Region) SetLogVGA(on bool) error {
	if err := r.live("SetLog"); err != nil {
		return err
	}
	if err := r.sys.checkMutable(); err != nil {
		return err
	}
	before := r.vgaLogCount > 0
	if on {
		r.vgaLogCount++
	} else if r.vgaLogCount > 0 {
		r.vgaLogCount--
	}
	if before == (r.vgaLogCount > 0) {
		return nil
	}
	r.sys.Begin()
	r.sys.touch(r)
	return r.sys.Commit()
}

// dirtyLogMask is the region's own mask: the VGA bit while VGA logging is on.
func (r *Region) dirtyLogMask() uint8 {
	if r.vgaLogCount > 0 {
		return 1 << DirtyVGA
	}
	return 0
}
