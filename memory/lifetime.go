package memory

import (
	"errors"
	"fmt"

	"qmem.dev/qmem/qom"
)

// Lifetime rules (DESIGN §3) as the memory system applies them:
//
//   - L1: a region is a child of its owner; references on a region are
//     references on its owner (R-LIFE-1).
//   - L2: a container holds a reference on a subregion's owner only when the
//     owners differ (R-LIFE-3); an alias likewise on its target's owner; an
//     address space on its root's owner unless the space is owned by that
//     same object.
//   - L3: a finalized region leaves its container and empties itself,
//     whichever of a family of regions goes first (R-LIFE-4).
//   - L4: when an owner is unrealized or unparented, its regions leave the
//     containers of other owners, aliases of other owners stop holding it,
//     and its address spaces are destroyed, in one transaction.
//   - L5: every reference the topology drops (container, alias, address
//     space, detach) is released only after a grace period, so an owner is
//     never finalized while a reader may still be inside one of its regions.
//     Flat views themselves hold no references.

type qomHold = qom.Hold

// errInCommit is returned by mutators called from a listener callback.
var errInCommit = errors.New("memory: the topology cannot change inside a listener callback")

func (s *System) checkMutable() error {
	if s.inCommit {
		return errInCommit
	}
	return nil
}

func (r *Region) aliasHold() qomHold {
	return qomHold{By: r.owner, Via: "alias " + r.String() + " of region " + r.alias.String()}
}

// takeAliasRef makes an alias hold its target's owner when the owners differ.
func (r *Region) takeAliasRef() {
	if t := r.alias.owner; t != nil && t != r.owner {
		t.RefHold(r.aliasHold())
		r.aliasHeld = true
	}
}

func (r *Region) dropAliasRef() {
	if r.aliasHeld {
		r.sys.grace.deferUnref(r.alias.owner, r.aliasHold())
		r.aliasHeld = false
	}
}

// owned indexes regions and address spaces by owner for DESIGN L4.
type ownedSet struct {
	regions map[*Region]struct{}
	spaces  []*AddressSpace
}

func (s *System) ownedBy(o *qom.Object) *ownedSet {
	if s.owned == nil {
		s.owned = map[*qom.Object]*ownedSet{}
	}
	os := s.owned[o]
	if os == nil {
		os = &ownedSet{regions: map[*Region]struct{}{}}
		s.owned[o] = os
	}
	return os
}

func (s *System) forgetOwned(o *qom.Object) {
	if os := s.owned[o]; os != nil && len(os.regions) == 0 && len(os.spaces) == 0 {
		delete(s.owned, o)
	}
}

// finalize is the region's instance_finalize (R-LIFE-4, DESIGN L3). By the
// time it runs the region has no QOM parent; it may still sit in a
// container and hold subregions, in any order relative to its siblings.
func (r *Region) finalize() {
	s := r.sys
	if s == nil {
		return // made by qom alone (e.g. a scratch instance): nothing to undo
	}
	r.enabled = false
	s.Begin()
	if c := r.container; c != nil {
		c.detachSub(r)
	}
	for len(r.subregions) > 0 {
		r.detachSub(r.subregions[0])
	}
	if r.alias != nil {
		delete(r.alias.aliasedBy, r)
		r.dropAliasRef()
	}
	// Aliases that still point here now render nothing (the target is
	// disabled); make their views notice. Those of other owners stop
	// holding our owner: there is nothing left for them to show.
	for a := range r.aliasedBy {
		a.dropAliasRef()
		s.touch(a)
	}
	s.touch(r)
	if r.owner != nil {
		if os := s.owned[r.owner]; os != nil {
			delete(os.regions, r)
			s.forgetOwned(r.owner)
		}
	}
	if b := r.ram; b != nil {
		s.grace.deferFunc(b.release)
	}
	r.coalesced = nil
	r.ioeventfds = nil
	if err := s.Commit(); err != nil {
		panic("memory: commit while finalizing " + r.String() + ": " + err.Error())
	}
}

// detachOwner is the registry's detach hook (DESIGN L4): when o is
// unrealized or unparented, its regions leave containers owned by others,
// aliases owned by others release the references they hold on o, and the
// address spaces it owns are destroyed, in one transaction. o itself is
// held until the grace period of that transaction has passed, so it cannot
// be finalized while a reader is still inside one of its regions.
func (s *System) detachOwner(o *qom.Object) {
	os := s.owned[o]
	if os == nil || !o.Alive() || s.compat.noDetach {
		return
	}
	s.Begin()
	for r := range os.regions {
		if c := r.container; c != nil && c.owner != o {
			c.detachSub(r)
		}
		// Aliases of other owners that target r stop holding o, as a
		// foreign container does: otherwise two devices aliasing each
		// other's memory would hold each other forever after both are
		// unplugged. They keep pointing at r, which renders nothing once
		// o's regions are finalized.
		for a := range r.aliasedBy {
			a.dropAliasRef()
		}
	}
	for _, as := range append([]*AddressSpace(nil), os.spaces...) {
		as.destroyLocked()
	}
	h := qomHold{Via: "grace period after detach"}
	o.RefHold(h)
	s.grace.deferUnref(o, h)
	if err := s.Commit(); err != nil {
		panic("memory: commit while detaching " + o.String() + ": " + err.Error())
	}
}

// keepUnnamed keeps an unnamed region of an owner alive until the owner is
// finalized (qmem's addition to R-MRQOM-2, where QEMU never frees such a
// region). The region is held as a child of the registry's internal root:
// that gives it no canonical path and no QOM parent (QOMParent is nil), but
// the leak report counts it as reachable while its owner lives. The owner's
// finalization unparents it, which finalizes it; an earlier explicit
// Unparent does the same, once.
func (s *System) keepUnnamed(r *Region) error {
	holder := s.reg.InternalRoot()
	if _, err := holder.AddChild(fmt.Sprintf("unnamed-region@%p", r), r); err != nil {
		r.Unref()
		return err
	}
	r.Unref() // the internal root's reference is its only one
	if err := r.owner.OnFinalize(r.Unparent); err != nil {
		r.Unparent()
		return err
	}
	return nil
}
