package badinput_test

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"testing"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/qom"
)

// machine is the fixture of the API and QOM cases: the demo board (no
// guest) with a second test device and a family of regions made to be
// misused. Every fixture region is printed by snapshot, whether or not an
// address space shows it.
//
//	system (board)            0x80000000: bi-outer (container 0x10000)
//	  bi-outer                  0x1000: bi-inner (container 0x8000)
//	    bi-inner                  0x0: bi-leaf (RAM 0x1000)
//	                              0x4000: bi-mapped-alias (alias of bi-leaf, 0x1000)
//	system                    2^64-0x1000: bi-top (I/O 0x1000)
//	bi-c1 > bi-c2 > bi-c3     containers, root of address space "bi-cycle"
//	bi-inner                  also root of "bi-listened" with listener "bi-listener"
//	free-standing             bi-loose (I/O 0x1000), bi-big (I/O 2^64),
//	                          bi-alias-outer (alias of bi-outer @0x1000, 0x1000),
//	                          bi-alias-alias (alias of bi-alias-outer @0, 0x1000)
//	finalized                 bi-dead (I/O), device gone0 (unplugged testdev),
//	                          address space "bi-gone" (destroyed)
type machine struct {
	t   *testing.T
	m   *board.Machine
	reg *qom.Registry
	sys *memory.System

	regions  map[string]*memory.Region
	listener *memory.Listener
	spaces   map[string]*memory.AddressSpace
	goneDev  *qom.Device
	foreign  *memory.Region // a region of another memory system
}

// newMachine builds the fixture. Its methods expect the caller to hold the
// machine lock (runUnchanged takes it).
func newMachine(t *testing.T) *machine {
	t.Helper()
	spec := board.Demo()
	spec.Guest = ""
	spec.Devices = append(spec.Devices,
		board.DeviceSpec{Type: device.TypeTestDev, ID: "testdev1", Props: map[string]any{"addr": "0xfe001000"}},
		board.DeviceSpec{Type: device.TypeTestDev, ID: "gone0", Props: map[string]any{"addr": "0xfe002000"}})
	m, err := board.Build(spec, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f := &machine{t: t, m: m, reg: m.Registry(), sys: m.MemorySystem(),
		regions: map[string]*memory.Region{}, spaces: map[string]*memory.AddressSpace{}}
	sys := f.sys
	sys.Lock()
	defer sys.Unlock()
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	add := func(r *memory.Region, err error) *memory.Region {
		t.Helper()
		ok(err)
		f.regions[r.Name()] = r
		return r
	}
	outer := add(sys.NewContainer(nil, "bi-outer", 0x10000))
	inner := add(sys.NewContainer(nil, "bi-inner", 0x8000))
	leaf := add(sys.NewRAM(nil, "bi-leaf", 0x1000))
	mapped := add(sys.NewAlias(nil, "bi-mapped-alias", leaf, 0, 0x1000))
	ok(inner.AddSubregion(0, leaf))
	ok(inner.AddSubregion(0x4000, mapped))
	ok(outer.AddSubregion(0x1000, inner))
	ok(m.SystemMemory().AddSubregion(0x8000_0000, outer))
	top := add(sys.NewIO(nil, "bi-top", 0x1000, nil))
	ok(m.SystemMemory().AddSubregion(math.MaxUint64-0xfff, top))
	c1 := add(sys.NewContainer(nil, "bi-c1", 0x1000))
	c2 := add(sys.NewContainer(nil, "bi-c2", 0x1000))
	c3 := add(sys.NewContainer(nil, "bi-c3", 0x1000))
	ok(c2.AddSubregion(0, c3))
	ok(c1.AddSubregion(0, c2))
	add(sys.NewIO(nil, "bi-loose", 0x1000, nil))
	add(sys.NewIO(nil, "bi-big", math.MaxUint64, nil))
	aliasOuter := add(sys.NewAlias(nil, "bi-alias-outer", outer, 0x1000, 0x1000))
	add(sys.NewAlias(nil, "bi-alias-alias", aliasOuter, 0, 0x1000))
	dead := add(sys.NewIO(nil, "bi-dead", 0x1000, nil))
	dead.Unparent()
	if !dead.Finalized() {
		t.Fatal("bi-dead was not finalized by Unparent")
	}

	space := func(root *memory.Region, name string) *memory.AddressSpace {
		t.Helper()
		as, err := sys.NewAddressSpace(root, name)
		ok(err)
		f.spaces[name] = as
		return as
	}
	space(c1, "bi-cycle")
	listened := space(inner, "bi-listened")
	f.listener = &memory.Listener{Name: "bi-listener"}
	ok(listened.AddListener(f.listener))
	ok(space(outer, "bi-gone").Destroy())

	gone, err := f.reg.FindDevice("gone0")
	ok(err)
	f.goneDev = gone
	ok(f.reg.Unplug(gone))
	sys.Synchronize()
	if !gone.Finalized() {
		t.Fatal("the unplugged device gone0 was not finalized")
	}

	// A region of another memory system (unnamed: that needs no machine).
	reg2 := qom.NewRegistry()
	sys2, err := memory.NewSystem(reg2)
	ok(err)
	f.foreign, err = sys2.NewIO(nil, "", 0x10, nil)
	ok(err)

	if leaks := f.reg.Leaks(); len(leaks) != 0 {
		t.Fatalf("the fixture leaks:\n%s", qom.FormatLeaks(leaks))
	}
	return f
}

// r returns a fixture region by name.
func (f *machine) r(name string) *memory.Region {
	r := f.regions[name]
	if r == nil {
		f.t.Fatalf("no fixture region %q", name)
	}
	return r
}

// obj returns the object at an absolute path.
func (f *machine) obj(path string) *qom.Object {
	o, _ := f.reg.ResolvePath(path)
	if o == nil {
		f.t.Fatalf("no object at %s", path)
	}
	return o
}

// newTestDev makes an unplaced, unrealized test device the caller must
// Unref.
func (f *machine) newTestDev() *qom.Object {
	inst, err := f.reg.New(device.TypeTestDev)
	if err != nil {
		f.t.Fatal(err)
	}
	return inst.QOM()
}

// snapshot prints everything a refused operation must leave as it was:
// `info mtree -D -o` and `info mtree -f -o`, `info qom-tree /`, every
// readable property of every object in the tree, the full state of every
// fixture region, the address spaces, the number of live objects and the
// commit counters. Requires the lock.
func (f *machine) snapshot() string {
	var b strings.Builder
	for _, opt := range []mtree.Options{{Disabled: true, Owners: true}, {Flat: true, Owners: true}} {
		if err := mtree.WriteLocked(&b, f.sys, opt); err != nil {
			fmt.Fprintf(&b, "mtree %+v: %v\n", opt, err)
		}
	}
	if err := mtree.WriteQOMTree(&b, f.reg, "/"); err != nil {
		fmt.Fprintf(&b, "qom-tree: %v\n", err)
	}
	f.reg.Root().WalkChildren(func(o *qom.Object) bool {
		fmt.Fprintf(&b, "%s (%s)\n", o.CanonicalPath(), o.TypeName())
		for _, p := range o.Properties() {
			if p.Get == nil {
				continue
			}
			v, err := o.GetProperty(p.Name)
			if err != nil {
				fmt.Fprintf(&b, "  %s: error %v\n", p.Name, err)
				continue
			}
			fmt.Fprintf(&b, "  %s = %v\n", p.Name, v)
		}
		return true
	})
	names := make([]string, 0, len(f.regions))
	for n := range f.regions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(regionState(f.regions[n]))
	}
	for _, as := range f.sys.AddressSpaces() {
		fmt.Fprintf(&b, "address space %q root %s\n", as.Name(), as.Root())
	}
	for _, n := range []string{"bi-cycle", "bi-listened", "bi-gone"} {
		fmt.Fprintf(&b, "fixture space %q destroyed=%v\n", n, f.spaces[n].Destroyed())
	}
	fmt.Fprintf(&b, "listener registered with %v\n", f.listener.Space() != nil)
	fmt.Fprintf(&b, "live objects %d, stats %+v, in transaction %v, pending %d\n",
		f.reg.LiveObjects(), f.sys.Stats(), f.sys.InTransaction(), f.sys.Pending())
	return b.String()
}

// regionState prints every attribute of a region.
func regionState(r *memory.Region) string {
	name := func(x *memory.Region) string {
		if x == nil {
			return "-"
		}
		return x.String()
	}
	var subs []string
	for _, s := range r.Subregions() {
		subs = append(subs, fmt.Sprintf("%s@%#x/%d", s, s.Addr(), s.Priority()))
	}
	return fmt.Sprintf("region %s kind=%v size=%#x 2^64=%v addr=%#x prio=%d enabled=%v ro=%v nv=%v romd=%v unmergeable=%v alias=%s+%#x container=%s mapped=%v finalized=%v subs=%v\n",
		r, r.Kind(), r.Size(), r.SizeIs64(), r.Addr(), r.Priority(), r.Enabled(), r.Readonly(), r.Nonvolatile(),
		r.RomdMode(), r.Unmergeable(), name(r.Alias()), r.AliasOffset(), name(r.Container()), r.IsMapped(), r.Finalized(), subs)
}

// runUnchanged runs op with the lock held between two snapshots, checks
// its error against e and that the snapshots agree, then that nothing
// leaks.
func (f *machine) runUnchanged(t *testing.T, e entry, op func() error) {
	t.Helper()
	f.sys.Lock()
	defer f.sys.Unlock()
	before := f.snapshot()
	err := op()
	after := f.snapshot()
	expectErr(t, e, err)
	if before != after {
		t.Errorf("the machine changed after the refused input:\n%s", firstDiff(before, after))
	}
	if leaks := f.reg.Leaks(); len(leaks) != 0 {
		t.Errorf("leaks after the refused input:\n%s", qom.FormatLeaks(leaks))
	}
}

// firstDiff shows the first differing line of two snapshots.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d\nbefore: %s\nafter:  %s", i+1, x, y)
		}
	}
	return "(no line differs)"
}
