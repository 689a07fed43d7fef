package memory

import (
	"fmt"
	"sync/atomic"

	"qmem.dev/qmem/qom"
)

// AddressSpace is a named view of a region tree as seen by a CPU or a DMA
// engine (A.9). Its current flat view is published atomically: readers load
// it without any lock.
type AddressSpace struct {
	sys      *System
	name     string
	root     *Region
	owner    *qom.Object // optional; an owned space dies with its owner
	heldRoot bool        // the space holds a reference on its root's owner

	view atomic.Pointer[FlatView]

	listeners  []*Listener // ascending priority (R-LSN-1)
	ioeventfds []ioeventfdSection

	changedThisCommit bool
	destroyed         bool

	bounceUsed atomic.Int64 // bytes of bounce buffers lent (Map)
}

// NewAddressSpace creates an address space rooted at root (R-AS-1). It holds
// a reference on root's owner until destroyed. An empty name becomes
// "anonymous". The space's view is installed at once, without listener
// callbacks.
func (s *System) NewAddressSpace(root *Region, name string) (*AddressSpace, error) {
	return s.newAddressSpace(nil, root, name)
}

// NewOwnedAddressSpace creates an address space that belongs to owner: it is
// destroyed automatically when owner is unrealized or unparented, and it
// holds no reference on root's owner when that is owner itself, so a device
// with a bus-master space rooted at its own region can still be finalized
// (DESIGN L2; QEMU leaks here, SPEC C-13).
func (s *System) NewOwnedAddressSpace(owner qom.Instance, root *Region, name string) (*AddressSpace, error) {
	if owner == nil {
		return nil, fmt.Errorf("memory: owned address space '%s' needs an owner", name)
	}
	return s.newAddressSpace(owner.QOM(), root, name)
}

func (s *System) newAddressSpace(owner *qom.Object, root *Region, name string) (*AddressSpace, error) {
	if root == nil {
		return nil, fmt.Errorf("memory: address space '%s' needs a root region", name)
	}
	if err := root.live("NewAddressSpace"); err != nil {
		return nil, err
	}
	if root.sys != s {
		return nil, fmt.Errorf("memory: root %s belongs to another memory system", root)
	}
	if owner != nil && !owner.Alive() {
		return nil, &qom.FinalizedError{Object: owner.String(), Op: "NewOwnedAddressSpace"}
	}
	if err := s.checkMutable(); err != nil {
		return nil, err
	}
	if name == "" {
		name = "anonymous"
	}
	as := &AddressSpace{sys: s, name: name, root: root, owner: owner}
	if ro := root.owner; ro != nil && ro != owner {
		ro.RefHold(as.rootHold())
		as.heldRoot = true
	}
	if owner != nil {
		os := s.ownedBy(owner)
		os.spaces = append(os.spaces, as)
	}
	s.spaces = append(s.spaces, as)
	// Install the current view of its flat-view root (rendering it if no
	// other space uses it yet), without a transaction.
	var v *FlatView
	if fr := flatViewRoot(root); fr == nil {
		v = s.empty
	} else if v = s.views[fr]; v == nil {
		v = s.render(fr)
		s.views[fr] = v
	}
	as.view.Store(v)
	as.updateIoeventfds()
	return as, nil
}

func (as *AddressSpace) rootHold() qomHold {
	return qomHold{By: as.owner, Via: "root of address space '" + as.name + "'"}
}

// Name returns the space's name.
func (as *AddressSpace) Name() string { return as.name }

// Root returns the space's root region.
func (as *AddressSpace) Root() *Region { return as.root }

// Owner returns the owner of an owned space, nil otherwise.
func (as *AddressSpace) Owner() *qom.Object { return as.owner }

// System returns the memory system the space belongs to.
func (as *AddressSpace) System() *System { return as.sys }

// View returns the currently published flat view. It is safe without the
// lock; the view may be replaced right after, but the one returned stays
// valid and immutable.
func (as *AddressSpace) View() *FlatView { return as.view.Load() }

func (as *AddressSpace) current() *FlatView { return as.view.Load() }

func (as *AddressSpace) publish(v *FlatView) {
	as.view.Store(v)
	as.changedThisCommit = true
}

// Destroyed reports whether Destroy was called.
func (as *AddressSpace) Destroyed() bool { return as.destroyed }

// Destroy removes the space (R-AS-2). All its listeners must have been
// unregistered first (RemoveListeners does it). The reference on the root's
// owner is released after the grace period.
func (as *AddressSpace) Destroy() error {
	if as.destroyed {
		return fmt.Errorf("memory: address space '%s' already destroyed", as.name)
	}
	if err := as.sys.checkMutable(); err != nil {
		return err
	}
	if len(as.listeners) > 0 {
		return fmt.Errorf("memory: address space '%s' still has %d listener(s)", as.name, len(as.listeners))
	}
	as.sys.Begin()
	as.destroyLocked()
	return as.sys.Commit()
}

// destroyLocked destroys the space inside an open transaction, removing its
// listeners first.
func (as *AddressSpace) destroyLocked() {
	s := as.sys
	as.RemoveListeners()
	as.destroyed = true
	for i, x := range s.spaces {
		if x == as {
			s.spaces = append(s.spaces[:i:i], s.spaces[i+1:]...)
			break
		}
	}
	if as.owner != nil {
		if os := s.owned[as.owner]; os != nil {
			for i, x := range os.spaces {
				if x == as {
					os.spaces = append(os.spaces[:i:i], os.spaces[i+1:]...)
					break
				}
			}
			s.forgetOwned(as.owner)
		}
	}
	if as.heldRoot {
		s.grace.deferUnref(as.root.owner, as.rootHold())
		as.heldRoot = false
	}
	s.spacesChanged = true
}
