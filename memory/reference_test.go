package memory

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// refHit is what the brute-force resolver finds at one address.
type refHit struct {
	leaf        *Region
	offset      uint64
	readonly    bool
	nonvolatile bool
}

// refResolve walks the tree from root for one address, in render order,
// the way SPEC A.6 describes rendering: the reference model the renderer is
// checked against.
//
// The order of siblings comes from order (the model's own record of when
// each region was last added or moved), not from the region's list, so that
// the list order of R-SUB-4 is checked too. With a nil order the list order
// is used.
func refResolve(root *Region, addr uint64, order map[*Region]int) (refHit, bool) {
	return refWalk(root, i128{}, u64(addr), false, false, order)
}

func refWalk(mr *Region, base, addr i128, ro, nv bool, order map[*Region]int) (refHit, bool) {
	if !mr.enabled {
		return refHit{}, false
	}
	base = base.add(u64(mr.addr))
	if addr.less(base) || !addr.less(base.add(mr.size)) {
		return refHit{}, false
	}
	ro = ro || mr.readonly
	nv = nv || mr.nonvolatile
	if t := mr.alias; t != nil {
		return refWalk(t, base.sub(u64(t.addr)).sub(u64(mr.aliasOffset)), addr, ro, nv, order)
	}
	subs := mr.subregions
	if order != nil {
		subs = slices.Clone(subs)
		sort.SliceStable(subs, func(i, j int) bool {
			if subs[i].priority != subs[j].priority {
				return subs[i].priority > subs[j].priority
			}
			return order[subs[i]] > order[subs[j]]
		})
	}
	for _, sub := range subs {
		if h, ok := refWalk(sub, base, addr, ro, nv, order); ok {
			return h, true
		}
	}
	if mr.terminates {
		return refHit{leaf: mr, offset: addr.sub(base).lo, readonly: ro, nonvolatile: nv}, true
	}
	return refHit{}, false
}

// checkViewInvariants checks that a view is sorted, disjoint and
// simplified (the same check Verify makes).
func checkViewInvariants(v *FlatView) error { return checkRanges(v.Ranges()) }

// compareWithReference checks every interesting address of the view of as
// (boundaries of all regions, projected through the tree) against the
// brute-force resolver.
func compareWithReference(as *AddressSpace, points []uint64, order map[*Region]int) error {
	v := as.View()
	if err := checkViewInvariants(v); err != nil {
		return err
	}
	root := flatViewRoot(as.Root())
	for _, a := range points {
		var want refHit
		ok := false
		if root != nil {
			want, ok = refResolve(root, a, order)
		}
		fr := v.Find(a)
		switch {
		case !ok && fr == nil:
			continue
		case !ok:
			return fmt.Errorf("addr %#x: view has %s, reference has nothing", a, fr.Region)
		case fr == nil:
			return fmt.Errorf("addr %#x: view has nothing, reference has %s@%#x", a, want.leaf, want.offset)
		}
		got := refHit{leaf: fr.Region, offset: fr.Offset + (a - fr.Start), readonly: fr.Readonly, nonvolatile: fr.Nonvolatile}
		if got != want {
			return fmt.Errorf("addr %#x: view has %s@%#x ro=%v nv=%v, reference has %s@%#x ro=%v nv=%v",
				a, got.leaf, got.offset, got.readonly, got.nonvolatile, want.leaf, want.offset, want.readonly, want.nonvolatile)
		}
	}
	return nil
}

// TestRenderMatchesReference builds random trees (nested containers,
// aliases of aliases, overlaps, disabled and readonly regions) and random
// add/del/move/enable sequences, and compares every rendered view with the
// brute-force resolver after every step. R-FLAT-1..9, R-SIMP-1, R-SUB-4/5,
// R-FVROOT-1.
func TestRenderMatchesReference(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		_, s := newTestSystem(rt)
		const space = 1 << 12
		root, err := s.NewContainer(nil, "root", space)
		if err != nil {
			rt.Fatal(err)
		}
		as, err := s.NewAddressSpace(root, "as")
		if err != nil {
			rt.Fatal(err)
		}
		regions := []*Region{root}
		order := map[*Region]int{}
		stamp := 0
		added := func(r *Region, err error) {
			if err == nil {
				stamp++
				order[r] = stamp
			}
		}
		points := func() []uint64 {
			var ps []uint64
			for a := uint64(0); a < space; a += 61 {
				ps = append(ps, a)
			}
			for _, r := range regions {
				for _, d := range []uint64{0, r.Size() - 1, r.Size(), 1} {
					ps = append(ps, (r.addr+d)%space, (r.aliasOffset+d)%space)
				}
			}
			return ps
		}
		sizeGen := rapid.SampledFrom([]uint64{0, 1, 0x10, 0x100, 0x333, 0x800, 0x1000, 0x2000})
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			op := rapid.IntRange(0, 9).Draw(rt, "op")
			pick := func(label string) *Region {
				return regions[rapid.IntRange(0, len(regions)-1).Draw(rt, label)]
			}
			name := fmt.Sprintf("r%d", len(regions))
			switch op {
			case 0, 1: // new leaf or container
				size := sizeGen.Draw(rt, "size")
				var r *Region
				switch rapid.IntRange(0, 2).Draw(rt, "kind") {
				case 0:
					r, err = s.NewContainer(nil, name, size)
				case 1:
					r, err = s.NewIO(nil, name, size, nil)
				case 2:
					r, err = s.NewRAM(nil, name, size)
				}
				if err != nil {
					rt.Fatal(err)
				}
				regions = append(regions, r)
			case 2: // new alias (possibly of an alias)
				target := pick("target")
				r, err := s.NewAlias(nil, name, target, rapid.Uint64Range(0, 0x1000).Draw(rt, "aoff"), sizeGen.Draw(rt, "size"))
				if err != nil {
					rt.Fatal(err)
				}
				regions = append(regions, r)
			case 3, 4: // add
				c, sub := pick("container"), pick("sub")
				added(sub, c.AddSubregionOverlap(rapid.Uint64Range(0, space).Draw(rt, "addr"), sub, int32(rapid.IntRange(-2, 2).Draw(rt, "prio"))))
			case 5: // del
				sub := pick("sub")
				if sub.container != nil {
					if err := sub.container.DelSubregion(sub); err != nil {
						rt.Fatal(err)
					}
				}
			case 6: // move
				sub := pick("sub")
				a := rapid.Uint64Range(0, space).Draw(rt, "addr")
				moved := a != sub.addr && sub.container != nil
				if err := sub.SetAddress(a); moved {
					added(sub, err)
				}
			case 7:
				// Enabling may be refused when it would close a loop that
				// never ends (cycle.go).
				if err := pick("r").SetEnabled(rapid.Bool().Draw(rt, "on")); err != nil && !strings.Contains(err.Error(), "never ends") {
					rt.Fatal(err)
				}
			case 8:
				if err := pick("r").SetReadonly(rapid.Bool().Draw(rt, "on")); err != nil {
					rt.Fatal(err)
				}
			case 9: // transaction of several changes
				s.Begin()
				for k := 0; k < 3; k++ {
					sub := pick("sub")
					a := rapid.Uint64Range(0, space).Draw(rt, "addr")
					moved := a != sub.addr && sub.container != nil
					if err := sub.SetAddress(a); moved {
						added(sub, err)
					}
					_ = pick("r").SetNonvolatile(rapid.Bool().Draw(rt, "nv"))
				}
				if err := s.Commit(); err != nil {
					rt.Fatal(err)
				}
			}
			if err := compareWithReference(as, points(), order); err != nil {
				rt.Fatalf("after step %d: %v\n%s", i, err, viewText(as.View()))
			}
		}
	})
}
