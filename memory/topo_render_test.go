package memory

import (
	"math"
	"testing"
)

// renderCase builds a tree in s and returns the root of an address space;
// the test compares the view with want.
type renderCase struct {
	name  string
	build func(t *testing.T, s *System) *Region
	want  string
}

func runRenderCases(t *testing.T, cases []renderCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg, s := newTestSystem(t)
			root := c.build(t, s)
			as := must[*AddressSpace](t)(s.NewAddressSpace(root, c.name))
			expectView(t, as, c.want)
			if err := checkViewInvariants(as.View()); err != nil {
				t.Fatal(err)
			}
			if err := compareWithReference(as, refPoints(as), nil); err != nil {
				t.Fatal(err)
			}
			check(t, as.Destroy())
			noLeaks(t, reg)
		})
	}
}

// refPoints returns the boundaries of every region reachable from the
// space's flat-view root, placed as rendering places them, and their
// neighbours.
func refPoints(as *AddressSpace) []uint64 {
	var ps []uint64
	if root := refFlatViewRoot(as.Root()); root != nil {
		ps = boundaries(root, i128{}, ps)
	}
	for _, fr := range as.View().Ranges() {
		ps = append(ps, fr.Start, fr.Last)
	}
	return withNeighbours(ps)
}

// R-FLAT-1..9 on small trees, each named after the rule it shows.
func TestRenderRules(t *testing.T) {
	m := func(t *testing.T) func(*Region, error) *Region { return must[*Region](t) }
	runRenderCases(t, []renderCase{
		{"R-FLAT-1 root address shifts the view", func(t *testing.T, s *System) *Region {
			outer := m(t)(s.NewContainer(nil, "outer", 0x100000))
			root := m(t)(s.NewRAM(nil, "ram", 0x1000))
			check(t, outer.AddSubregion(0x4000, root))
			return root
		}, "0000000000004000-0000000000004fff (prio 0, ram): ram\n"},
		{"R-FLAT-2 disabled container hides enabled children", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			c := m(t)(s.NewContainer(nil, "c", 0x4000))
			check(t, c.AddSubregion(0, m(t)(s.NewRAM(nil, "hidden", 0x1000))))
			check(t, c.SetEnabled(false))
			check(t, root.AddSubregion(0, c))
			check(t, root.AddSubregion(0x8000, m(t)(s.NewIO(nil, "shown", 0x10, nil))))
			return root
		}, "0000000000008000-000000000000800f (prio 0, i/o): shown\n"},
		{"R-FLAT-2 disabled alias target", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			target := m(t)(s.NewRAM(nil, "target", 0x1000))
			check(t, target.SetEnabled(false))
			check(t, root.AddSubregion(0, m(t)(s.NewAlias(nil, "alias", target, 0, 0x1000))))
			check(t, root.AddSubregion(0x8000, m(t)(s.NewIO(nil, "shown", 0x10, nil))))
			return root
		}, "0000000000008000-000000000000800f (prio 0, i/o): shown\n"},
		{"R-FLAT-3 clipping and inherited readonly", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			c := m(t)(s.NewContainer(nil, "c", 0x1800))
			check(t, c.SetReadonly(true))
			check(t, c.AddSubregion(0x1000, m(t)(s.NewRAM(nil, "ram", 0x1000))))
			check(t, root.AddSubregion(0x2000, c))
			check(t, root.AddSubregion(0, m(t)(s.NewRAM(nil, "plain", 0x1000))))
			return root
		}, "" +
			"0000000000000000-0000000000000fff (prio 0, ram): plain\n" +
			"0000000000003000-00000000000037ff (prio 0, rom): ram\n"},
		{"R-FLAT-4 first rendered wins", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			check(t, root.AddSubregion(0, m(t)(s.NewIO(nil, "old", 0x2000, nil))))
			check(t, root.AddSubregion(0x1000, m(t)(s.NewIO(nil, "new", 0x2000, nil))))
			return root
		}, "" +
			"0000000000000000-0000000000000fff (prio 0, i/o): old\n" +
			"0000000000001000-0000000000002fff (prio 0, i/o): new\n"},
		{"R-FLAT-5 target address irrelevant, target flags OR-ed", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			elsewhere := m(t)(s.NewContainer(nil, "elsewhere", 0x100000))
			target := m(t)(s.NewRAM(nil, "target", 0x2000))
			check(t, target.SetNonvolatile(true))
			check(t, elsewhere.AddSubregion(0x50000, target))
			check(t, root.AddSubregion(0x4000, m(t)(s.NewAlias(nil, "alias", target, 0x1000, 0x1000))))
			check(t, root.AddSubregion(0, m(t)(s.NewIO(nil, "x", 0x10, nil))))
			return root
		}, "" +
			"0000000000000000-000000000000000f (prio 0, i/o): x\n" +
			"0000000000004000-0000000000004fff (prio 0, ram): target @0000000000001000\n"},
		{"R-FLAT-6 offsets of aliases of aliases add up", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			ram := m(t)(s.NewRAM(nil, "ram", 0x8000))
			a1 := m(t)(s.NewAlias(nil, "a1", ram, 0x1000, 0x6000))
			a2 := m(t)(s.NewAlias(nil, "a2", a1, 0x2000, 0x1000))
			check(t, root.AddSubregion(0x100, a2))
			check(t, root.AddSubregion(0x8000, m(t)(s.NewIO(nil, "x", 0x10, nil))))
			return root
		}, "" +
			"0000000000000100-00000000000010ff (prio 0, ram): ram @0000000000003000\n" +
			"0000000000008000-000000000000800f (prio 0, i/o): x\n"},
		{"R-FLAT-5 R-MR-2 alias into a container goes negative", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			c := m(t)(s.NewContainer(nil, "c", 0x8000))
			check(t, c.AddSubregion(0x3000, m(t)(s.NewRAM(nil, "ram", 0x2000))))
			check(t, root.AddSubregion(0, m(t)(s.NewAlias(nil, "window", c, 0x2000, 0x2000))))
			check(t, root.AddSubregion(0x8000, m(t)(s.NewIO(nil, "x", 0x10, nil))))
			return root
		}, "" +
			"0000000000001000-0000000000001fff (prio 0, ram): ram\n" +
			"0000000000008000-000000000000800f (prio 0, i/o): x\n"},
		{"R-FLAT-5 alias of an empty container", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			empty := m(t)(s.NewContainer(nil, "empty", 0x8000))
			check(t, root.AddSubregion(0, m(t)(s.NewAlias(nil, "window", empty, 0, 0x8000))))
			check(t, root.AddSubregion(0x8000, m(t)(s.NewIO(nil, "x", 0x10, nil))))
			return root
		}, "0000000000008000-000000000000800f (prio 0, i/o): x\n"},
		{"R-FLAT-8 size 0 renders nothing", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			ram := m(t)(s.NewRAM(nil, "ram", 0x1000))
			check(t, root.AddSubregion(0, m(t)(s.NewIO(nil, "zero", 0, nil))))
			check(t, root.AddSubregion(0x100, m(t)(s.NewAlias(nil, "zero alias", ram, 0, 0))))
			check(t, root.AddSubregion(0x8000, m(t)(s.NewIO(nil, "x", 0x10, nil))))
			return root
		}, "0000000000008000-000000000000800f (prio 0, i/o): x\n"},
		{"R-SIMP-1 adjacent aliases merge", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			ram := m(t)(s.NewRAM(nil, "ram", 0x4000))
			check(t, root.AddSubregion(0x1000, m(t)(s.NewAlias(nil, "lo", ram, 0, 0x1000))))
			check(t, root.AddSubregion(0x2000, m(t)(s.NewAlias(nil, "hi", ram, 0x1000, 0x2000))))
			return root
		}, "0000000000001000-0000000000003fff (prio 0, ram): ram\n"},
		{"R-SIMP-1 unmergeable, readonly, nonvolatile or mask keep ranges apart", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			ram := m(t)(s.NewRAM(nil, "ram", 0x5000))
			var prev *Region
			for i, set := range []func(r *Region) error{
				func(*Region) error { return nil },
				func(r *Region) error { return r.SetUnmergeable(true) },
				func(r *Region) error { return r.SetReadonly(true) },
				func(r *Region) error { return r.SetNonvolatile(true) },
				func(*Region) error { return nil },
			} {
				a := m(t)(s.NewAlias(nil, "a", ram, uint64(i)*0x1000, 0x1000))
				check(t, set(a))
				check(t, root.AddSubregion(uint64(i)*0x1000, a))
				prev = a
			}
			_ = prev
			return root
		}, "" +
			"0000000000000000-0000000000000fff (prio 0, ram): ram\n" +
			"0000000000001000-0000000000001fff (prio 0, ram): ram @0000000000001000\n" +
			"0000000000002000-0000000000002fff (prio 0, rom): ram @0000000000002000\n" +
			"0000000000003000-0000000000003fff (prio 0, ram): ram @0000000000003000\n" +
			"0000000000004000-0000000000004fff (prio 0, ram): ram @0000000000004000\n"},
		{"R-SIMP-2 non-contiguous offsets stay apart", func(t *testing.T, s *System) *Region {
			root := m(t)(s.NewContainer(nil, "root", 0x10000))
			ram := m(t)(s.NewRAM(nil, "ram", 0x4000))
			check(t, root.AddSubregion(0x1000, m(t)(s.NewAlias(nil, "lo", ram, 0x2000, 0x1000))))
			check(t, root.AddSubregion(0x2000, m(t)(s.NewAlias(nil, "hi", ram, 0, 0x1000))))
			return root
		}, "" +
			"0000000000001000-0000000000001fff (prio 0, ram): ram @0000000000002000\n" +
			"0000000000002000-0000000000002fff (prio 0, ram): ram\n"},
	})
}

// R-FLAT-9, R-FLAT-10, R-SIMP-1: a range records the leaf's romd mode and
// dirty mask and the OR of the path's flags; readonly through an alias is
// a view attribute only: the leaf itself stays writable.
func TestRenderRangeAttributes(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	ram := m(s.NewRAM(nil, "ram", 0x1000))
	romd := m(s.NewROMDevice(nil, "romd", 0x1000, nil))
	alias := m(s.NewAlias(nil, "ro alias", ram, 0, 0x1000))
	check(t, alias.SetReadonly(true))
	check(t, alias.SetUnmergeable(true))
	nv := m(s.NewContainer(nil, "nv", 0x1000))
	check(t, nv.SetNonvolatile(true))
	check(t, nv.AddSubregion(0, romd))
	check(t, romd.SetRomdMode(false))
	check(t, ram.SetLogVGA(true))
	check(t, root.AddSubregion(0, ram))
	check(t, root.AddSubregion(0x1000, alias))
	check(t, root.AddSubregion(0x2000, nv))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	rs := as.View().Ranges()
	if len(rs) != 3 {
		t.Fatalf("ranges %+v", rs)
	}
	want := []FlatRange{
		{Start: 0, Last: 0xfff, Region: ram, DirtyLogMask: 1 << DirtyVGA, RomdMode: true},
		{Start: 0x1000, Last: 0x1fff, Region: ram, DirtyLogMask: 1 << DirtyVGA, RomdMode: true, Readonly: true, Unmergeable: true},
		{Start: 0x2000, Last: 0x2fff, Region: romd, Nonvolatile: true},
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("range %d: %+v\nwant     %+v", i, rs[i], want[i])
		}
	}
	// R-FLAT-10: the view says readonly, the leaf does not.
	if !rs[1].Readonly || rs[1].leafReadonly || ram.Readonly() {
		t.Error("readonly through an alias must stay a view attribute")
	}
	check(t, as.Destroy())
	noLeaks(t, reg)
}

// refFlatViewRoot is R-FVROOT-1 written from the SPEC text, independently
// of flatViewRoot.
func refFlatViewRoot(r *Region) *Region {
	for {
		if !r.enabled {
			return nil
		}
		if r.alias != nil {
			if r.aliasOffset == 0 && r.size.cmp(r.alias.size) >= 0 {
				r = r.alias
				continue
			}
			return r
		}
		if r.terminates {
			return r
		}
		var enabled []*Region
		for _, c := range r.subregions {
			if c.enabled {
				enabled = append(enabled, c)
			}
		}
		switch {
		case len(enabled) == 0:
			return nil
		case len(enabled) == 1 && enabled[0].addr == 0 && enabled[0].size.cmp(r.size) <= 0:
			r = enabled[0]
		default:
			return r
		}
	}
}

// R-FVROOT-1, R-FVROOT-2, R-FVROOT-3, R-FVROOT-4: which region a space
// renders, and sharing of views between spaces resolving to one region.
func TestFlatViewRoot(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", math.MaxUint64))
	check(t, sysmem.AddSubregion(0, m(s.NewRAM(nil, "ram", 0x10000))))
	check(t, sysmem.AddSubregion(0x100000, m(s.NewIO(nil, "mmio", 0x1000, nil))))
	memAS := must[*AddressSpace](t)(s.NewAddressSpace(sysmem, "memory"))

	container := func(name string, size uint64, subs ...*Region) *Region {
		c := m(s.NewContainer(nil, name, size))
		for _, sub := range subs {
			check(t, c.AddSubregion(0, sub))
		}
		return c
	}
	alias := func(name string, target *Region, off, size uint64) *Region {
		return m(s.NewAlias(nil, name, target, off, size))
	}
	disabled := func(r *Region) *Region { check(t, r.SetEnabled(false)); return r }
	at := func(addr uint64, r *Region) *Region {
		c := m(s.NewContainer(nil, "at", math.MaxUint64))
		check(t, c.AddSubregion(addr, r))
		return c
	}
	leafWithSub := m(s.NewRAM(nil, "leaf with sub", 0x2000))
	check(t, leafWithSub.AddSubregion(0, m(s.NewIO(nil, "leaf sub", 0x10, nil))))
	busMaster := container("bus master container", math.MaxUint64, alias("bus master alias", sysmem, 0, math.MaxUint64))
	roWrapper := container("readonly wrapper", 0x10000, m(s.NewRAM(nil, "covered", 0x10000)))
	check(t, roWrapper.SetReadonly(true))
	twoEnabled := container("two", 0x100000, m(s.NewRAM(nil, "x", 0x10)))
	check(t, twoEnabled.AddSubregion(0x1000, m(s.NewRAM(nil, "y", 0x10))))
	oneOfTwo := container("one of two", 0x100000, m(s.NewRAM(nil, "x2", 0x10)))
	check(t, oneOfTwo.AddSubregion(0x1000, disabled(m(s.NewRAM(nil, "y2", 0x10)))))

	offsetAlias := alias("offset", sysmem, 0x1000, 0x1000)
	smallAlias := alias("small", sysmem, 0, 0x1000)
	elsewhere := at(0x1000, m(s.NewRAM(nil, "r", 0x10)))
	tight := container("tight", 0x10, m(s.NewRAM(nil, "big", 0x20)))
	covered := roWrapper.Subregions()[0]
	x2 := oneOfTwo.Subregions()[len(oneOfTwo.Subregions())-1]
	for _, c := range []struct {
		name string
		root *Region
		want *Region // nil: nothing
	}{
		{"disabled root", disabled(m(s.NewRAM(nil, "off", 0x10))), nil},
		{"full alias at offset 0", alias("full", sysmem, 0, math.MaxUint64), sysmem},
		{"alias of a full alias", alias("full2", alias("full1", sysmem, 0, math.MaxUint64), 0, math.MaxUint64), sysmem},
		{"alias at an offset", offsetAlias, offsetAlias},
		{"alias smaller than its target", smallAlias, smallAlias},
		{"empty container", container("empty", 0x1000), nil},
		{"container of disabled only", container("disabled only", 0x1000, disabled(m(s.NewRAM(nil, "d", 0x10)))), nil},
		{"R-FVROOT-4 bus master with disabled alias", container("pci", math.MaxUint64, disabled(alias("pci alias", sysmem, 0, math.MaxUint64))), nil},
		{"bus master with enabled alias", busMaster, sysmem},
		{"single child at 0, through an alias", container("wrap", math.MaxUint64, alias("wrapped", sysmem, 0, math.MaxUint64)), sysmem},
		{"single child elsewhere", elsewhere, elsewhere},
		{"single child larger than the container", tight, tight},
		{"two enabled children", twoEnabled, twoEnabled},
		{"one enabled of two", oneOfTwo, x2},
		{"terminating region with a subregion", leafWithSub, leafWithSub},
		{"R-FVROOT-3 readonly wrapper", roWrapper, covered},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := flatViewRoot(c.root)
			if ref := refFlatViewRoot(c.root); got != ref || got != c.want {
				t.Fatalf("flat-view root %v, reference %v, want %v", got, ref, c.want)
			}
			as := must[*AddressSpace](t)(s.NewAddressSpace(c.root, c.name))
			defer func() { check(t, as.Destroy()) }()
			v := as.View()
			switch {
			case got == nil && v != s.empty:
				t.Fatal("nothing, but the space does not share the empty view (R-FVROOT-2)")
			case got != nil && v.Root() != got:
				t.Fatalf("view rendered from %v", v.Root())
			case got == sysmem && v != memAS.View():
				t.Fatal("the space does not share system memory's view (R-FVROOT-2)")
			}
		})
	}
	as := must[*AddressSpace](t)(s.NewAddressSpace(roWrapper, "ro"))
	if fr := as.View().Find(0); fr == nil || fr.Readonly { // R-FVROOT-3: the flag is dropped
		t.Fatalf("readonly wrapper view: %+v", fr)
	}
	check(t, as.Destroy())
	check(t, memAS.Destroy())
	noLeaks(t, reg)
}

// R-FVROOT-1, R-FLAT-1 (quirk): when the walk descends to an alias target
// that is mapped at an address elsewhere, the view is rendered from the
// target, whose address then shifts the whole view.
func TestFlatViewRootAddressQuirk(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	outer := m(s.NewContainer(nil, "outer", 0x100000))
	target := m(s.NewContainer(nil, "target", 0x2000))
	check(t, target.AddSubregion(0, m(s.NewRAM(nil, "a", 0x1000))))
	check(t, target.AddSubregion(0x1000, m(s.NewRAM(nil, "b", 0x1000))))
	check(t, outer.AddSubregion(0x8000, target))
	as := must[*AddressSpace](t)(s.NewAddressSpace(m(s.NewAlias(nil, "full", target, 0, 0x2000)), "as"))
	if as.View().Root() != target {
		t.Fatalf("root %v", as.View().Root())
	}
	want := "" +
		"0000000000008000-0000000000008fff (prio 0, ram): a\n" +
		"0000000000009000-0000000000009fff (prio 0, ram): b\n"
	expectView(t, as, want)
	check(t, as.Destroy())
	noLeaks(t, reg)
}
