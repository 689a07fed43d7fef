package dump

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// link turns the printed lines into regions: it merges the places that
// print one region (identity), builds the Region values, resolves alias
// targets against the memory-region sections and gives every region its
// default facts. See the package doc for the rules.
func (d *Dump) link() error {
	var all []*Node
	for _, n := range d.nodes {
		if n != nil {
			all = append(all, n)
		}
	}
	id := newIdentity(d, all)
	id.mergeRoots()
	if err := d.buildRegions(id, all); err != nil {
		return err
	}
	if err := d.resolveAliases(); err != nil {
		return err
	}
	d.applyDefaults()
	return nil
}

// identity is a union-find over printed lines, with what is needed to keep
// each class a possible region: at most one address-space-root place, at
// most one memory-region-root place, and one container.
type identity struct {
	d      *Dump
	all    []*Node // lines in file order; index = position
	index  map[*Node]int
	parent []int   // union-find links
	sig    []int   // structural signature of each line's subtree
	bucket [][]int // lines by signature
	// per class representative:
	groupRoots, targetRoots []int
	nested                  []*Node // some nested place (its Parent gives the container), or nil
}

func newIdentity(d *Dump, all []*Node) *identity {
	id := &identity{
		d:           d,
		all:         all,
		index:       make(map[*Node]int, len(all)),
		parent:      make([]int, len(all)),
		sig:         make([]int, len(all)),
		groupRoots:  make([]int, len(all)),
		targetRoots: make([]int, len(all)),
		nested:      make([]*Node, len(all)),
	}
	for i, n := range all {
		id.index[n] = i
		id.parent[i] = i
		switch {
		case n.Parent != nil:
			id.nested[i] = n
		case n.Section.IsAddressSpace():
			id.groupRoots[i] = 1
		default:
			id.targetRoots[i] = 1
		}
	}
	interned := map[string]int{}
	// Children follow their parent in file order, so walk backwards to have
	// every child's signature before its parent's.
	for i := len(all) - 1; i >= 0; i-- {
		s, ok := interned[signatureKey(all[i], id)]
		if !ok {
			s = len(interned)
			interned[signatureKey(all[i], id)] = s
			id.bucket = append(id.bucket, nil)
		}
		id.sig[i] = s
		id.bucket[s] = append(id.bucket[s], i)
	}
	for _, b := range id.bucket {
		sort.Ints(b)
	}
	return id
}

// signatureKey encodes everything a line says about its region, with the
// offset relative to the parent line, plus its children's signatures: two
// places of one region always have equal keys.
func signatureKey(n *Node, id *identity) string {
	b := make([]byte, 0, 64+len(n.Name)+len(n.Target)+4*len(n.Children))
	b = binary.LittleEndian.AppendUint64(b, n.Addr())
	b = binary.LittleEndian.AppendUint64(b, n.End-n.Start)
	b = binary.LittleEndian.AppendUint64(b, n.AliasStart)
	b = binary.LittleEndian.AppendUint32(b, uint32(n.Priority))
	var flags byte
	for i, f := range []bool{n.NV, n.IsAlias, n.Disabled, n.Owner != nil} {
		if f {
			flags |= 1 << i
		}
	}
	b = append(b, flags, byte(n.Kind))
	for _, s := range []string{n.Name, n.Target, n.Owner.String()} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, c := range n.Children {
		b = binary.LittleEndian.AppendUint32(b, uint32(id.sig[id.index[c]]))
	}
	return string(b)
}

func (id *identity) node(i int) *Node { return id.all[i] }

func (id *identity) find(i int) int {
	for id.parent[i] != i {
		id.parent[i] = id.parent[id.parent[i]]
		i = id.parent[i]
	}
	return i
}

// compatible reports whether the lines a and b (equal signatures) can be
// places of one region: merging them, and pairwise their children, must not
// give a class two address-space-root places, two memory-region-root places
// or two containers.
func (id *identity) compatible(a, b int) bool {
	ra, rb := id.find(a), id.find(b)
	if ra == rb {
		return true
	}
	if na, nb := id.nested[ra], id.nested[rb]; na != nil && nb != nil &&
		id.find(id.index[na.Parent]) != id.find(id.index[nb.Parent]) {
		return false
	}
	return id.rootsCompatible(a, b)
}

// rootsCompatible checks the root-place counts of a, b and their
// descendants; their containers agree once their parents are merged.
func (id *identity) rootsCompatible(a, b int) bool {
	ra, rb := id.find(a), id.find(b)
	if ra == rb {
		return true
	}
	if id.groupRoots[ra]+id.groupRoots[rb] > 1 || id.targetRoots[ra]+id.targetRoots[rb] > 1 {
		return false
	}
	na, nb := id.node(a), id.node(b)
	for k := range na.Children {
		if !id.rootsCompatible(id.index[na.Children[k]], id.index[nb.Children[k]]) {
			return false
		}
	}
	return true
}

// merge unites a and b and, pairwise, their children.
func (id *identity) merge(a, b int) {
	ra, rb := id.find(a), id.find(b)
	if ra == rb {
		return
	}
	id.parent[rb] = ra
	id.groupRoots[ra] += id.groupRoots[rb]
	id.targetRoots[ra] += id.targetRoots[rb]
	if id.nested[ra] == nil {
		id.nested[ra] = id.nested[rb]
	}
	na, nb := id.node(a), id.node(b)
	for k := range na.Children {
		id.merge(id.index[na.Children[k]], id.index[nb.Children[k]])
	}
}

// mergeRoots decides, for every section root, which other places print the
// same region, until nothing changes: a root is merged with every place of
// equal signature that stays compatible, candidates taken in file order.
// When taking one candidate rules out another that was possible before, the
// choice is recorded in Notes.
func (id *identity) mergeRoots() {
	var roots []int
	for _, secs := range [][]*Section{id.d.Groups, id.d.Targets} {
		for _, s := range secs {
			roots = append(roots, id.index[s.Root])
		}
	}
	var lost [][2]int // (root, candidate) pairs a merge ruled out
	for changed := true; changed; {
		changed = false
		for _, t := range roots {
			for _, c := range id.bucket[id.sig[t]] {
				if id.find(c) == id.find(t) || !id.compatible(t, c) {
					continue
				}
				before := id.possible(t)
				id.merge(t, c)
				changed = true
				for _, o := range before {
					if id.find(o) != id.find(t) && !id.compatible(t, o) {
						lost = append(lost, [2]int{t, o})
					}
				}
			}
		}
	}
	seen := map[[2]int]bool{}
	for _, p := range lost {
		t, o := p[0], p[1]
		if seen[p] || id.find(t) == id.find(o) {
			continue
		}
		seen[p] = true
		id.d.notes = append(id.d.notes, fmt.Sprintf("line %d: the region of this line could also be the one printed at line %d; taken as a different region", id.node(t).Line, id.node(o).Line))
	}
}

// possible lists the other places of t's signature still compatible with it.
func (id *identity) possible(t int) []int {
	var out []int
	for _, c := range id.bucket[id.sig[t]] {
		if id.find(c) != id.find(t) && id.compatible(t, c) {
			out = append(out, c)
		}
	}
	return out
}

// buildRegions creates one Region per class, in order of first place, and
// fills its fields, container and children; it checks that the places
// agree (they do by construction; the check guards the construction).
func (d *Dump) buildRegions(id *identity, all []*Node) error {
	byClass := map[int]*Region{}
	for i, n := range all {
		r := byClass[id.find(i)]
		if r == nil {
			r = &Region{
				ID:          len(d.Regions),
				Name:        n.Name,
				Addr:        n.Addr(),
				Size:        SizeFromRange(n.Start, n.End),
				Priority:    n.Priority,
				NV:          n.NV,
				Kind:        n.Kind,
				Enabled:     !n.Disabled,
				Owner:       n.Owner,
				AliasOffset: n.AliasStart,
			}
			if n.Start == n.End && n.IsAlias {
				r.Size = Size{}
			}
			byClass[id.find(i)] = r
			d.Regions = append(d.Regions, r)
		}
		n.Region = r
		r.Places = append(r.Places, n)
	}
	for _, r := range d.Regions {
		first := r.Places[0]
		for _, c := range first.Children {
			r.Children = append(r.Children, c.Region)
		}
		for _, p := range r.Places {
			if p.Parent != nil {
				if r.Container == nil {
					r.Container = p.Parent.Region
				} else if r.Container != p.Parent.Region {
					return errorf(p.Line, "region %q is printed inside two different containers (lines %d and %d)", r.Name, r.Container.Places[0].Line, p.Parent.Line)
				}
			}
		}
	}
	// A container chain can only loop if identities were merged wrongly.
	for _, r := range d.Regions {
		c := r.Container
		for steps := 0; c != nil; steps++ {
			if steps > len(d.Regions) || c == r {
				return errorf(r.Places[0].Line, "region %q contains itself", r.Name)
			}
			c = c.Container
		}
	}
	return nil
}
