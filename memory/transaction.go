package memory

import (
	"errors"
	"slices"
)

// Begin opens a transaction (R-TX-1): it first flushes the coalesced MMIO
// buffer (SetCoalescedMMIOFlush), then counts one more level. Transactions
// nest; changes made inside are rendered and announced to listeners once,
// at the outermost Commit (R-TX-5). Requires the System's lock.
func (s *System) Begin() {
	if f := s.events.coalescedFlush.Load(); f != nil {
		(*f)()
	}
	s.depth++
}

// Commit closes a transaction (R-TX-2). At the outermost level it renders
// each flat view that a change can have affected, once, publishes the new
// views, tells the listeners the difference, and then releases whatever
// references the change dropped once their grace period has passed. Nothing
// is rendered and no listener is called when no view can have changed.
//
// Commit without Begin is an error (QEMU aborts).
func (s *System) Commit() error {
	if s.depth == 0 {
		return errors.New("memory: Commit without Begin")
	}
	s.depth--
	if s.depth > 0 {
		return nil
	}
	s.commitLocked()
	s.reclaim()
	return nil
}

// InTransaction reports whether a transaction is open.
func (s *System) InTransaction() bool { return s.depth > 0 }

// touch records that r's rendering may have changed.
func (s *System) touch(r *Region) { s.touched[r] = struct{}{} }

// touchAll marks every current view for re-rendering (global dirty log
// changes every range's mask).
func (s *System) touchAll() {
	for _, as := range s.spaces {
		s.touched[as.root] = struct{}{}
		// The view belongs to the flat-view root, which need not be
		// reachable upwards from the space's root (R-FVROOT-1).
		if r := flatViewRoot(as.root); r != nil {
			s.touched[r] = struct{}{}
		}
	}
}

// affected returns every region from which a touched region can be reached
// by the render walk: the touched regions, their containers up to the roots,
// and the aliases that point into them (transitively). A flat-view root in
// this set must be rendered again; any other view is unchanged.
func (s *System) affected() map[*Region]bool {
	seen := make(map[*Region]bool, len(s.touched)*4)
	stack := make([]*Region, 0, len(s.touched))
	for r := range s.touched {
		stack = append(stack, r)
	}
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[r] {
			continue
		}
		seen[r] = true
		if r.container != nil {
			stack = append(stack, r.container)
		}
		for a := range r.aliasedBy {
			stack = append(stack, a)
		}
	}
	return seen
}

// commitLocked is the body of an outermost commit (R-TX-3): render, publish,
// notify. Listener callbacks run with inCommit set, so they cannot change the
// topology.
func (s *System) commitLocked() {
	if len(s.touched) == 0 && !s.ioevPend && !s.spacesChanged {
		s.grace.publish()
		return
	}
	s.spacesChanged = false
	aff := s.affected()
	clear(s.touched)
	ioev := s.ioevPend
	s.ioevPend = false

	// One view per distinct flat-view root (R-FVROOT-2), rendered only when
	// new or affected.
	newViews := make(map[*Region]*FlatView, len(s.views))
	type change struct {
		as       *AddressSpace
		old, new *FlatView
	}
	var changes []change
	for _, as := range s.spaces {
		root := flatViewRoot(as.root)
		var v *FlatView
		switch {
		case root == nil:
			v = s.empty
		case newViews[root] != nil:
			v = newViews[root]
		case s.views[root] != nil && !aff[root]:
			v = s.views[root]
		default:
			v = s.render(root)
			if old := s.views[root]; old != nil && slices.Equal(old.ranges, v.ranges) {
				// The change was invisible (e.g. beneath a disabled
				// region): keep the published view, so that its spaces'
				// listeners hear nothing.
				v = old
			}
		}
		if root != nil {
			newViews[root] = v
		}
		if old := as.current(); old != v {
			changes = append(changes, change{as: as, old: old, new: v})
		}
	}
	s.views = newViews
	// The ioeventfds of a view are computed once for all its spaces.
	ioevs := map[*FlatView][]ioeventfdSection{}
	updateIoeventfds := func(as *AddressSpace) {
		v := as.current()
		next, ok := ioevs[v]
		if !ok {
			next = viewIoeventfds(v)
			ioevs[v] = next
		}
		as.setIoeventfds(next)
	}
	if len(changes) == 0 {
		s.grace.publish()
		if ioev {
			// R-TX-4: only ioeventfds changed; no begin/commit.
			s.inCommit = true
			for _, as := range s.spaces {
				updateIoeventfds(as)
			}
			s.inCommit = false
		}
		return
	}
	s.commits.Add(1)

	s.inCommit = true
	defer func() { s.inCommit = false }()
	for _, l := range s.listeners {
		if l.Begin != nil {
			l.Begin()
		}
	}
	// R-TX-3 step 3: per space in creation order, install the view, replay
	// the difference, then recompute the ioeventfds. The difference of a
	// pair of views is computed once for all the spaces sharing them, and
	// not at all when no listener hears it.
	diffs := map[[2]*FlatView]*viewDiff{}
	for _, as := range s.spaces {
		if len(changes) > 0 && changes[0].as == as {
			c := changes[0]
			changes = changes[1:]
			as.publish(c.new)
			if len(as.listeners) > 0 {
				key := [2]*FlatView{c.old, c.new}
				d := diffs[key]
				if d == nil {
					d = diffViews(c.old, c.new)
					diffs[key] = d
				}
				as.announce(d)
			}
		}
		if ioev || as.changedThisCommit {
			updateIoeventfds(as)
		}
		as.changedThisCommit = false
	}
	// Published: from here on a reader that enters sees only the new views.
	s.grace.publish()
	for _, l := range s.listeners {
		if l.Commit != nil {
			l.Commit()
		}
	}
}
