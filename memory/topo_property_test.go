package memory

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"testing"

	"pgregory.net/rapid"
)

// The property test of the topology side: random trees, random changes,
// every view checked against a brute-force resolver after every step. It
// extends TestRenderMatchesReference (reference_test.go) with the shapes
// that one does not build: regions near 2^64 under a 2^64 root, alias
// offsets, aliases of subregion-less containers, SetAlias retargeting,
// SetSize, SetAliasOffset, the flags that are part of a range's identity,
// nested transactions, failed operations, and several address spaces rooted
// anywhere (containers, aliases, leaves; R-FVROOT-1) sharing views
// (R-FVROOT-2), each with a listener whose picture of the view must stay
// exact (R-LSN-4, R-LSN-5).

// appendPoint appends v when it is an address (0 <= v < 2^64); 2^64 is
// represented by its last address.
func appendPoint(ps []uint64, v i128) []uint64 {
	switch {
	case v.neg() || v.cmp(two64) > 0:
		return ps
	case v == two64:
		return append(ps, math.MaxUint64)
	}
	return append(ps, v.lo)
}

// boundaries appends the start and end of every region below r as the
// render walk places them (base is r's container's base). The walk is
// capped: DAGs of aliases could make it exponential.
//
// The walk clips like rendering (loops through aliases that rendering
// accepts end the same way) and is also capped.
func boundaries(r *Region, base i128, ps []uint64) []uint64 {
	return clippedBoundaries(r, base, i128{}, two64, ps, 0)
}

func clippedBoundaries(r *Region, base, clo, chi i128, ps []uint64, hops int) []uint64 {
	if len(ps) > 4096 || hops > maxAliasHops {
		return ps
	}
	base = base.add(u64(r.addr))
	ps = appendPoint(appendPoint(ps, base), base.add(r.size))
	lo, hi := max128(base, clo), min128(base.add(r.size), chi)
	if !lo.less(hi) {
		return ps
	}
	if t := r.alias; t != nil {
		return clippedBoundaries(t, base.sub(u64(t.addr)).sub(u64(r.aliasOffset)), lo, hi, ps, hops+1)
	}
	for _, c := range r.subregions {
		ps = clippedBoundaries(c, base, lo, hi, ps, hops)
	}
	return ps
}

// withNeighbours adds p-1 and p+1 (modulo 2^64) to every point, sorted and
// without duplicates.
func withNeighbours(ps []uint64) []uint64 {
	out := make([]uint64, 0, 3*len(ps))
	for _, p := range ps {
		out = append(out, p-1, p, p+1)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// refPath is a second brute-force resolver: it returns the regions the
// render walk passes through to reach addr (root first, leaf last) and the
// leaf's base, so that every attribute of the hit (leaf, offset, OR-ed
// flags, romd) follows from the path. Siblings are tried in the model's
// order (priority, then newest first), not the list order.
func refPath(mr *Region, base, addr i128, order map[*Region]int) ([]*Region, i128) {
	if !mr.enabled {
		return nil, i128{}
	}
	base = base.add(u64(mr.addr))
	if addr.less(base) || !addr.less(base.add(mr.size)) {
		return nil, i128{}
	}
	if t := mr.alias; t != nil {
		path, leafBase := refPath(t, base.sub(u64(t.addr)).sub(u64(mr.aliasOffset)), addr, order)
		if path == nil {
			return nil, i128{}
		}
		return append([]*Region{mr}, path...), leafBase
	}
	subs := slices.Clone(mr.subregions)
	slices.SortStableFunc(subs, func(a, b *Region) int {
		if a.priority != b.priority {
			return int(b.priority) - int(a.priority)
		}
		return order[b] - order[a]
	})
	for _, sub := range subs {
		if path, leafBase := refPath(sub, base, addr, order); path != nil {
			return append([]*Region{mr}, path...), leafBase
		}
	}
	if mr.terminates {
		return []*Region{mr}, base
	}
	return nil, i128{}
}

// hitOf summarizes what a view shows at one address.
type hitOf struct {
	leaf             *Region
	offset           uint64
	ro, nv, um, romd bool
}

func (h hitOf) String() string {
	if h.leaf == nil {
		return "nothing"
	}
	return fmt.Sprintf("%s@%#x ro=%v nv=%v um=%v romd=%v", h.leaf, h.offset, h.ro, h.nv, h.um, h.romd)
}

func refHitAt(root *Region, addr uint64, order map[*Region]int) hitOf {
	if root == nil {
		return hitOf{}
	}
	path, leafBase := refPath(root, i128{}, u64(addr), order)
	if path == nil {
		return hitOf{}
	}
	leaf := path[len(path)-1]
	h := hitOf{leaf: leaf, offset: u64(addr).sub(leafBase).lo, romd: leaf.romdMode}
	for _, r := range path {
		h.ro = h.ro || r.readonly
		h.nv = h.nv || r.nonvolatile
		h.um = h.um || r.unmergeable
	}
	return h
}

func viewHitAt(v *FlatView, addr uint64) hitOf {
	fr := v.Find(addr)
	if fr == nil {
		return hitOf{}
	}
	return hitOf{leaf: fr.Region, offset: fr.Offset + (addr - fr.Start), ro: fr.Readonly, nv: fr.Nonvolatile, um: fr.Unmergeable, romd: fr.RomdMode}
}

// viewModel is a listener's picture of its space's view, built only from
// the callbacks (R-LSN-4, R-LSN-8, R-LSN-9).
type viewModel struct {
	ranges map[uint64]Section
	open   int // begin without commit
	errs   []string
}

func (vm *viewModel) listener(name string) *Listener {
	key := func(s Section) Section { s.Space, s.View, s.DirtyLogMask = nil, nil, 0; return s }
	return &Listener{
		Name:   name,
		Begin:  func() { vm.open++ },
		Commit: func() { vm.open-- },
		RegionAdd: func(s Section) {
			if _, dup := vm.ranges[s.Addr]; dup {
				vm.errs = append(vm.errs, "region_add over a range: "+secText(s))
			}
			vm.ranges[s.Addr] = key(s)
		},
		RegionDel: func(s Section) {
			if old, ok := vm.ranges[s.Addr]; !ok || old != key(s) {
				vm.errs = append(vm.errs, "region_del of an unknown range: "+secText(s))
			}
			delete(vm.ranges, s.Addr)
		},
		RegionNop: func(s Section) {
			if old, ok := vm.ranges[s.Addr]; !ok || old != key(s) {
				vm.errs = append(vm.errs, "region_nop of an unknown range: "+secText(s))
			}
		},
	}
}

// check compares the model with the view.
func (vm *viewModel) check(v *FlatView) error {
	if len(vm.errs) > 0 {
		return fmt.Errorf("listener: %s", strings.Join(vm.errs, "; "))
	}
	if vm.open != 0 {
		return fmt.Errorf("listener: %d begin without commit", vm.open)
	}
	if len(vm.ranges) != len(v.Ranges()) {
		return fmt.Errorf("listener knows %d ranges, the view has %d", len(vm.ranges), len(v.Ranges()))
	}
	for i := range v.Ranges() {
		fr := &v.Ranges()[i]
		want := sectionOf(nil, nil, fr)
		want.DirtyLogMask = 0
		if got := vm.ranges[fr.Start]; got != want {
			return fmt.Errorf("listener has %s, view has %s", secText(got), secText(want))
		}
	}
	return nil
}

// regionState is what a failed operation must leave unchanged in a region.
type regionState struct {
	addr, aliasOffset         uint64
	size                      i128
	priority                  int32
	enabled, ro, nv, um, romd bool
	vgaLog, mappedViaAlias    int
	container, alias          *Region
	subregions                string
}

// topoState snapshots every region and the view of every space.
type topoState struct {
	regions []regionState
	views   []*FlatView
}

func snapshot(regions []*Region, spaces []*AddressSpace) topoState {
	var st topoState
	for _, r := range regions {
		subs := make([]byte, 0, 8*len(r.subregions))
		for _, c := range r.subregions {
			subs = fmt.Appendf(subs, "%p ", c)
		}
		st.regions = append(st.regions, regionState{
			addr: r.addr, aliasOffset: r.aliasOffset, size: r.size, priority: r.priority,
			enabled: r.enabled, ro: r.readonly, nv: r.nonvolatile, um: r.unmergeable, romd: r.romdMode,
			vgaLog: r.vgaLogCount, mappedViaAlias: r.mappedViaAlias, container: r.container, alias: r.alias,
			subregions: string(subs),
		})
	}
	for _, as := range spaces {
		st.views = append(st.views, as.View())
	}
	return st
}

// diff names the first difference between two snapshots, "" for none.
func (st topoState) diff(o topoState, regions []*Region) string {
	for i := range st.regions {
		if st.regions[i] != o.regions[i] {
			return fmt.Sprintf("%s: %+v, was %+v", regions[i], o.regions[i], st.regions[i])
		}
	}
	if !slices.Equal(st.views, o.views) {
		return "a view changed"
	}
	return ""
}

// checkMappedViaAlias recomputes R-SUB-9's counts from scratch.
func checkMappedViaAlias(regions []*Region) error {
	want := map[*Region]int{}
	for _, r := range regions {
		if r.container == nil {
			continue
		}
		for a := r; a.alias != nil; a = a.alias {
			want[a.alias]++
		}
	}
	for _, r := range regions {
		if r.mappedViaAlias != want[r] {
			return fmt.Errorf("%s: mapped via alias %d, want %d", r, r.mappedViaAlias, want[r])
		}
	}
	return nil
}

func isAlias(r *Region) bool { return r.alias != nil }

type topoModel struct {
	rt      *rapid.T
	s       *System
	regions []*Region
	spaces  []*AddressSpace
	models  map[*AddressSpace]*viewModel
	order   map[*Region]int
	stamp   int
}

var (
	// Rapid favours the first elements: useful values first.
	topoSizes   = []uint64{0x1000, 0x800, 0x3000, 0x100, 0x10000, 0x10, 1, 0, math.MaxUint64}
	topoOffsets = []uint64{0, 0x800, 0x1000, 0x10, 0x2800, math.MaxUint64 - 0xfff, 1 << 63}
)

var (
	topoLow  = rapid.Uint64Range(0, 0x3000)
	topoHigh = rapid.Uint64Range(math.MaxUint64-0x3000, math.MaxUint64)
	topoEdge = rapid.SampledFrom([]uint64{0, 0x800, 0x1000, 0x2000, math.MaxUint64 - 0xfff})
	topoAddr = rapid.OneOf(topoEdge, topoLow, topoEdge, topoLow, topoHigh)
)

func (tm *topoModel) addr(label string) uint64 { return topoAddr.Draw(tm.rt, label) }

func (tm *topoModel) pick(label string) *Region {
	return tm.regions[rapid.IntRange(0, len(tm.regions)-1).Draw(tm.rt, label)]
}

// pickWhere picks a region satisfying ok most of the time, any region
// otherwise (so that refused operations are tried too).
func (tm *topoModel) pickWhere(label string, ok func(*Region) bool) *Region {
	if rapid.IntRange(0, 4).Draw(tm.rt, label+" any") < 4 { // rapid favours small values
		var c []*Region
		for _, r := range tm.regions {
			if ok(r) {
				c = append(c, r)
			}
		}
		if len(c) > 0 {
			return c[rapid.IntRange(0, len(c)-1).Draw(tm.rt, label)]
		}
	}
	return tm.pick(label)
}

func (tm *topoModel) stampIf(r *Region, err error) {
	if err == nil {
		tm.stamp++
		tm.order[r] = tm.stamp
	}
}

func (tm *topoModel) newRegion() {
	rt, s := tm.rt, tm.s
	name := fmt.Sprintf("r%d", len(tm.regions))
	size := rapid.SampledFrom(topoSizes).Draw(rt, "size")
	small := rapid.SampledFrom(topoSizes[:len(topoSizes)-1]).Draw(rt, "ram size")
	var r *Region
	var err error
	switch rapid.IntRange(0, 6).Draw(rt, "kind") {
	case 0, 1:
		r, err = s.NewIO(nil, name, size, nil)
	case 2:
		r, err = s.NewRAM(nil, name, small)
	case 3:
		r, err = s.NewContainer(nil, name, size)
	case 4:
		r, err = s.NewROMDevice(nil, name, small, nil)
	case 5, 6:
		r, err = s.NewAlias(nil, name, tm.pick("target"), rapid.SampledFrom(topoOffsets).Draw(rt, "offset"), size)
	}
	if err != nil {
		rt.Fatal(err)
	}
	tm.regions = append(tm.regions, r)
}

func (tm *topoModel) newSpace() {
	root := tm.regions[0] // the 2^64 root first
	if len(tm.spaces) > 0 {
		root = tm.pickWhere("root", func(r *Region) bool { return !r.terminates })
	}
	as, err := tm.s.NewAddressSpace(root, fmt.Sprintf("as%d", len(tm.spaces)))
	if err != nil {
		tm.rt.Fatal(err)
	}
	vm := &viewModel{ranges: map[uint64]Section{}}
	if err := as.AddListener(vm.listener(as.name)); err != nil {
		tm.rt.Fatal(err)
	}
	tm.spaces = append(tm.spaces, as)
	tm.models[as] = vm
}

// change applies one random change; it may fail (the caller checks that a
// failure changed nothing).
func (tm *topoModel) change(depth int) error {
	rt := tm.rt
	switch op := rapid.IntRange(0, 14).Draw(rt, "op"); op {
	case 0, 1, 2:
		// Mostly grow the trees under the roots, so that views are not empty.
		c := tm.pickWhere("container", func(r *Region) bool {
			return r.alias == nil && (r == tm.regions[0] || r == tm.regions[1] || r.container != nil)
		})
		sub := tm.pickWhere("sub", func(r *Region) bool { return r.container == nil && r != c && r != tm.regions[0] })
		err := c.AddSubregionOverlap(tm.addr("addr"), sub, int32(rapid.IntRange(-2, 2).Draw(rt, "prio")))
		tm.stampIf(sub, err)
		return err
	case 3:
		sub := tm.pickWhere("sub", func(r *Region) bool { return r.container != nil })
		if sub.container == nil {
			return nil
		}
		return sub.container.DelSubregion(sub)
	case 4:
		sub := tm.pickWhere("sub", func(r *Region) bool { return r.container != nil })
		a := tm.addr("addr")
		moved := a != sub.addr && sub.container != nil
		err := sub.SetAddress(a)
		if moved {
			tm.stampIf(sub, err)
		}
		return err
	case 5:
		// Mostly re-enabling: rapid favours false, and a disabled root
		// hides everything.
		return tm.pick("r").SetEnabled(rapid.IntRange(0, 2).Draw(rt, "on") != 1)
	case 6:
		r := tm.pick("r")
		on := rapid.Bool().Draw(rt, "on")
		switch rapid.IntRange(0, 2).Draw(rt, "flag") {
		case 0:
			return r.SetReadonly(on)
		case 1:
			return r.SetNonvolatile(on)
		}
		return r.SetUnmergeable(on)
	case 7:
		return tm.pick("r").SetSize(rapid.SampledFrom(topoSizes).Draw(rt, "size"))
	case 8:
		return tm.pickWhere("alias", isAlias).SetAliasOffset(rapid.SampledFrom(topoOffsets).Draw(rt, "offset"))
	case 9:
		return tm.pickWhere("alias", isAlias).SetAlias(tm.pick("target"), rapid.SampledFrom(topoOffsets).Draw(rt, "offset"))
	case 10:
		r := tm.pick("r")
		if r.kind == KindROMDevice {
			return r.SetRomdMode(!r.romdMode)
		}
		return r.SetLogVGA(rapid.Bool().Draw(rt, "on"))
	case 11, 12:
		if depth >= 3 {
			return nil
		}
		tm.s.Begin()
		for n := rapid.IntRange(0, 4).Draw(rt, "changes"); n > 0; n-- {
			_ = tm.change(depth + 1) // errors inside are checked at the top level
		}
		return tm.s.Commit()
	case 13:
		if depth == 0 && len(tm.spaces) < 5 {
			tm.newSpace()
		}
		return nil
	case 14:
		if depth == 0 && len(tm.spaces) > 1 {
			i := rapid.IntRange(0, len(tm.spaces)-1).Draw(rt, "space")
			as := tm.spaces[i]
			as.RemoveListeners()
			if err := tm.models[as].check(tm.s.empty); err != nil {
				rt.Fatalf("after RemoveListeners: %v", err)
			}
			tm.spaces = slices.Delete(tm.spaces, i, i+1)
			delete(tm.models, as)
			return as.Destroy()
		}
	}
	return nil
}

// verify checks every space against the reference.
func (tm *topoModel) verify(step int) {
	rt := tm.rt
	if err := checkMappedViaAlias(tm.regions); err != nil {
		rt.Fatalf("step %d: %v", step, err)
	}
	shared := map[*Region]*FlatView{}
	for _, as := range tm.spaces {
		v := as.View()
		root := refFlatViewRoot(as.Root())
		if root == nil && v != tm.s.empty || root != nil && v.Root() != root {
			rt.Fatalf("step %d: %s: view of %v, want %v (R-FVROOT-1)", step, as.name, v.Root(), root)
		}
		if root != nil {
			if other := shared[root]; other != nil && other != v {
				rt.Fatalf("step %d: %s does not share the view of %s (R-FVROOT-2)", step, as.name, root)
			}
			shared[root] = v
		}
		if err := checkViewInvariants(v); err != nil {
			rt.Fatalf("step %d: %s: %v\n%s", step, as.name, err, viewText(v))
		}
		var ps []uint64
		if root != nil {
			ps = boundaries(root, i128{}, nil)
		}
		for _, fr := range v.Ranges() {
			ps = append(ps, fr.Start, fr.Last)
		}
		for _, a := range withNeighbours(ps) {
			if got, want := viewHitAt(v, a), refHitAt(root, a, tm.order); got != want {
				rt.Fatalf("step %d: %s at %#x: view has %v, reference has %v\n%s", step, as.name, a, got, want, viewText(v))
			}
		}
		if err := tm.models[as].check(v); err != nil {
			rt.Fatalf("step %d: %s: %v", step, as.name, err)
		}
	}
}

// TestTopologyMatchesReference: R-FLAT-1..9, R-SIMP-1, R-SUB-4/5/9,
// R-ATTR-1..5, R-FVROOT-1/2, R-TX-3/5, R-LSN-4/5/6/8/9, DESIGN §5.
func TestTopologyMatchesReference(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		reg, s := newTestSystem(rt)
		tm := &topoModel{rt: rt, s: s, models: map[*AddressSpace]*viewModel{}, order: map[*Region]int{}}
		for _, size := range []uint64{math.MaxUint64, 0x10000} {
			r, err := s.NewContainer(nil, fmt.Sprintf("r%d", len(tm.regions)), size)
			if err != nil {
				rt.Fatal(err)
			}
			tm.regions = append(tm.regions, r)
		}
		tm.newSpace()
		for len(tm.regions) < 6 {
			tm.newRegion()
		}
		steps := rapid.IntRange(20, 120).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			if rapid.IntRange(0, 5).Draw(rt, "grow") == 5 {
				tm.newRegion()
				continue
			}
			before := snapshot(tm.regions, tm.spaces)
			stats := s.Stats()
			err := tm.change(0)
			d := statsSince(s, stats)
			if err != nil {
				if d := before.diff(snapshot(tm.regions, tm.spaces), tm.regions); d != "" {
					rt.Fatalf("step %d: failed change (%v) changed the state: %s", i, err, d)
				}
				if d.Commits != 0 || d.Renders != 0 {
					rt.Fatalf("step %d: failed change (%v) rendered: %+v", i, err, d)
				}
			}
			// One render per distinct flat-view root at most (R-TX-3).
			roots := map[*Region]bool{}
			for _, as := range tm.spaces {
				if r := refFlatViewRoot(as.Root()); r != nil {
					roots[r] = true
				}
			}
			if d.Renders > uint64(len(roots))+1 { // +1: a space created by this step renders once
				rt.Fatalf("step %d: %d renders for %d flat-view roots", i, d.Renders, len(roots))
			}
			tm.verify(i)
		}
		for _, as := range tm.spaces {
			as.RemoveListeners()
			if err := as.Destroy(); err != nil {
				rt.Fatal(err)
			}
		}
		for _, r := range tm.regions {
			r.Unparent()
		}
		synchronize(s)
		if leaks := reg.Leaks(); len(leaks) != 0 {
			rt.Fatalf("leaks after unparenting every region: %d", len(leaks))
		}
	})
}
