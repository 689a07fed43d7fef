package dump

import "fmt"

// resolveAliases replays QEMU's alias-target queue (SPEC R-MTREE-3, -8):
// walking the lines in file order (groups, then memory-region sections,
// which is print order), the first place of every alias region queues its
// direct target unless that region is queued already, and the k-th queued
// region is the one the k-th memory-region section prints. It sets
// Region.Alias and Region.AliasOffset, and fails when a section is printed
// before any alias queued it, or an alias has no section to mean.
func (d *Dump) resolveAliases() error {
	var queued []*Region
	var walk func(n *Node) error
	walk = func(n *Node) error {
		if r := n.Region; n.IsAlias && r.Alias == nil {
			t, err := d.pickTarget(n, queued)
			if err != nil {
				return err
			}
			if len(queued) < len(d.Targets) && t == d.Targets[len(queued)].Root.Region {
				queued = append(queued, t)
			}
			r.Alias, r.AliasOffset = t, n.AliasStart
		}
		for _, c := range n.Children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, g := range d.Groups {
		if err := walk(g.Root); err != nil {
			return err
		}
	}
	for k, s := range d.Targets {
		if k >= len(queued) {
			return errorf(s.Line, "memory-region section %q is not the target of any alias printed before it: QEMU prints a section only for a queued alias target", s.Target)
		}
		if err := walk(s.Root); err != nil {
			return err
		}
	}
	// An alias chain that never ends holds a loop; the error names the
	// first alias on the loop itself, not one that merely leads into it.
	for _, r := range d.Regions {
		t := r.Alias
		for steps := 0; t != nil && steps <= len(d.Regions); steps++ {
			if t == r {
				return errorf(r.Places[0].Line, "alias loop: alias %q leads back to itself", r.Name)
			}
			t = t.Alias
		}
	}
	return nil
}

// pickTarget decides which region the alias line n means: an already queued
// region, or the one printed by the next memory-region section not queued
// yet. A candidate must have the printed target name and the alias's type
// label (an alias prints its final target's label). When both kinds of
// candidate exist the pending section wins (it can be queued by nothing
// else later, whereas a queued one stays available) and a note is kept.
func (d *Dump) pickTarget(n *Node, queued []*Region) (*Region, error) {
	var old []*Region
	for _, q := range queued {
		if q.Name == n.Target && q.Kind == n.Kind {
			old = append(old, q)
		}
	}
	var pending *Region
	if k := len(queued); k < len(d.Targets) {
		if s := d.Targets[k]; s.Target == n.Target && s.Root.Kind == n.Kind {
			pending = s.Root.Region
		}
	}
	switch {
	case pending != nil && len(old) > 0:
		d.notes = append(d.notes, fmt.Sprintf("line %d: alias %q could mean the memory-region section at line %d or the one at line %d; taken as the latter", n.Line, n.Name, old[0].Places[0].Line, pending.Places[0].Line))
		return pending, nil
	case pending != nil:
		return pending, nil
	case len(old) > 1:
		d.notes = append(d.notes, fmt.Sprintf("line %d: alias %q could mean %d queued regions named %q; taken as the first", n.Line, n.Name, len(old), n.Target))
		return old[0], nil
	case len(old) == 1:
		return old[0], nil
	}
	next := "none is left"
	if k := len(queued); k < len(d.Targets) {
		s := d.Targets[k]
		next = fmt.Sprintf("the next one (line %d) prints %q with type %s", s.Line, s.Target, s.Root.Kind)
	}
	return nil, errorf(n.Line, "alias %q targets %q with type %s: expected a memory-region section %q of type %s for it (queued now or before), but %s", n.Name, n.Target, n.Kind, n.Target, n.Kind, next)
}
