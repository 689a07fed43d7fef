package memory

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// family is C-14's shape, grown: device D owns container C holding A, an
// inner container N holding B, and an alias L of A (all of D); C sits in
// the ownerless system container, so the system memory holds D.
type family struct {
	d                *testDevice
	c, a, n, b, l    *Region
	regions          []*Region
	sysmem           *Region
	as               *AddressSpace
	fc               finalizeCounter
	refsBeforeFamily int64
}

// newFamily creates the family's regions in the given order (creation
// order is the order in which the owner's finalization releases them).
func newFamily(t *testing.T, reg *qom.Registry, s *System, order []int) *family {
	t.Helper()
	m := must[*Region](t)
	f := &family{d: newTestDevice(t, reg, "dev0"), fc: finalizeCounter{}}
	f.sysmem, f.as = systemMemory(t, s)
	f.refsBeforeFamily = f.d.RefCount()
	f.regions = make([]*Region, 5)
	for _, i := range order {
		switch i {
		case 0:
			f.c = m(s.NewContainer(f.d, "c", 0x10000))
			f.regions[0] = f.c
		case 1:
			f.a = m(s.NewRAM(f.d, "a", 0x1000))
			f.regions[1] = f.a
		case 2:
			f.n = m(s.NewContainer(f.d, "n", 0x4000))
			f.regions[2] = f.n
		case 3:
			f.b = m(s.NewIO(f.d, "b", 0x1000, nil))
			f.regions[3] = f.b
		case 4:
			f.regions[4] = nil // the alias needs a: created below
		}
	}
	f.l = m(s.NewAlias(f.d, "l", f.a, 0, 0x1000))
	f.regions[4] = f.l
	f.fc.watch(t, f.regions...)
	check(t, f.c.AddSubregion(0, f.a))
	check(t, f.n.AddSubregion(0x1000, f.b))
	check(t, f.c.AddSubregion(0x4000, f.n))
	check(t, f.c.AddSubregion(0x8000, f.l))
	// R-LIFE-3, C-14: links inside the family take no reference on D.
	if got := f.d.RefCount(); got != f.refsBeforeFamily {
		t.Fatalf("same-owner links changed the owner's refcount: %d -> %d", f.refsBeforeFamily, got)
	}
	check(t, f.sysmem.AddSubregion(0x100000, f.c))
	if got := f.d.RefCount(); got != f.refsBeforeFamily+1 {
		t.Fatalf("the cross-owner link: refcount %d, want %d", got, f.refsBeforeFamily+1)
	}
	return f
}

func (f *family) checkView(t *testing.T) {
	t.Helper()
	if err := compareWithReference(f.as, refPoints(f.as), nil); err != nil {
		t.Fatal(err)
	}
}

// C-14, R-LIFE-4, R-MRQOM-5, DESIGN L3: whatever order the owner's
// finalization releases the family in (creation order), the device is
// finalized once, each region once, nothing panics, nothing leaks.
func TestLifetimeFamilyOwnerFinalization(t *testing.T) {
	for _, order := range permutations(4) {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			reg, s := newTestSystem(t)
			registerTestDevice(t, reg)
			f := newFamily(t, reg, s, order)
			check(t, reg.Unplug(&f.d.Device))
			if f.d.finalized != 1 {
				t.Fatalf("device finalized %d times", f.d.finalized)
			}
			f.fc.expectOnce(t)
			if !f.as.View().Empty() || len(f.sysmem.Subregions()) != 0 {
				t.Fatalf("system memory after unplug:\n%s", treeText(s, f.sysmem))
			}
			check(t, f.as.Destroy())
			noLeaks(t, reg)
		})
	}
}

// C-14, R-LIFE-4, DESIGN L3: regions of one family unparented explicitly
// in every order: each one leaves its container and empties itself, the
// view stays right after every step, and the device is finalized once at
// unplug.
func TestLifetimeFamilyUnparentEveryOrder(t *testing.T) {
	for _, order := range permutations(5) {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			reg, s := newTestSystem(t)
			registerTestDevice(t, reg)
			f := newFamily(t, reg, s, []int{0, 1, 2, 3})
			for _, i := range order {
				r := f.regions[i]
				r.Unparent()
				if !r.Finalized() || r.Container() != nil || len(r.Subregions()) != 0 {
					t.Fatalf("after unparenting %s: finalized %v, container %v, %d subregions", r, r.Finalized(), r.Container(), len(r.Subregions()))
				}
				f.checkView(t)
			}
			synchronize(s)
			f.fc.expectOnce(t)
			if got := f.d.RefCount(); got != f.refsBeforeFamily {
				t.Fatalf("device refcount %d after its regions went, want %d", got, f.refsBeforeFamily)
			}
			check(t, reg.Unplug(&f.d.Device))
			if f.d.finalized != 1 {
				t.Fatalf("device finalized %d times", f.d.finalized)
			}
			check(t, f.as.Destroy())
			noLeaks(t, reg)
		})
	}
}

// C-15, R-LIFE-3, R-SUB-7: a container of owner X holding a region of owner
// Y holds one reference on Y per link, none on X; deleting the link drops
// it after the grace period; finalizing X releases Y.
func TestLifetimeCrossOwnerLink(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	x := newTestDevice(t, reg, "x")
	y := newTestDevice(t, reg, "y")
	m := must[*Region](t)
	c := m(s.NewContainer(x, "c", 0x10000))
	r1 := m(s.NewIO(y, "r1", 0x1000, nil))
	r2 := m(s.NewIO(y, "r2", 0x1000, nil))
	fc := finalizeCounter{}
	fc.watch(t, c, r1, r2)
	xRefs, yRefs := x.RefCount(), y.RefCount()
	check(t, c.AddSubregion(0, r1))
	check(t, c.AddSubregion(0x1000, r2))
	if x.RefCount() != xRefs || y.RefCount() != yRefs+2 {
		t.Fatalf("refcounts x %d (was %d), y %d (was %d)", x.RefCount(), xRefs, y.RefCount(), yRefs)
	}
	rd := s.NewReader()
	rd.Enter()
	check(t, c.DelSubregion(r2))
	if y.RefCount() != yRefs+2 || s.Pending() == 0 {
		t.Fatal("the reference was dropped while a reader was inside (DESIGN L5)")
	}
	rd.Exit()
	rd.Close()
	synchronize(s)
	if y.RefCount() != yRefs+1 {
		t.Fatalf("after the grace period: y refcount %d, want %d", y.RefCount(), yRefs+1)
	}
	// C-15: finalizing X finalizes C, which removes r1 and releases Y.
	check(t, reg.Unplug(&x.Device))
	if x.finalized != 1 || y.RefCount() != yRefs || r1.Container() != nil {
		t.Fatalf("after unplugging x: x finalized %d, y refcount %d (want %d), r1 in %v", x.finalized, y.RefCount(), yRefs, r1.Container())
	}
	check(t, reg.Unplug(&y.Device))
	if y.finalized != 1 {
		t.Fatalf("y finalized %d times", y.finalized)
	}
	fc.expectOnce(t)
	noLeaks(t, reg)
}

// R-LIFE-5, C-15 (deviation: QEMU aborts): unparenting a region that sits in
// a container of another owner detaches it cleanly; the other owner's
// reference on its owner goes after the grace period; the owner lives on.
func TestLifetimeUnparentFromForeignContainer(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	m := must[*Region](t)
	sysmem, as := systemMemory(t, s)
	d := newTestDevice(t, reg, "dev0")
	mmio := m(s.NewIO(d, "mmio", 0x1000, nil))
	ram := m(s.NewRAM(d, "ram", 0x1000))
	fc := finalizeCounter{}
	fc.watch(t, mmio, ram)
	refs := d.RefCount()
	check(t, sysmem.AddSubregion(0x1000, mmio))
	check(t, sysmem.AddSubregion(0x2000, ram))
	mmio.Unparent()
	synchronize(s)
	if !mmio.Finalized() || mmio.Container() != nil || as.View().Find(0x1000) != nil {
		t.Fatal("the unparented region is still mapped")
	}
	if d.RefCount() != refs+1 || d.finalized != 0 {
		t.Fatalf("device refcount %d (want %d), finalized %d", d.RefCount(), refs+1, d.finalized)
	}
	if fr := as.View().Find(0x2000); fr == nil || fr.Region != ram {
		t.Fatal("the device's other region is gone")
	}
	check(t, reg.Unplug(&d.Device))
	if d.finalized != 1 || !as.View().Empty() {
		t.Fatalf("device finalized %d times; view:\n%s", d.finalized, viewText(as.View()))
	}
	fc.expectOnce(t)
	noLeaks(t, reg)
}

// R-LIFE-4: a finalized container removes subregions of other owners and
// drops the references it held on them.
func TestLifetimeFinalizedContainerReleasesForeignSubregions(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	m := must[*Region](t)
	bus := newTestDevice(t, reg, "bus")
	card := newTestDevice(t, reg, "card")
	window := m(s.NewContainer(bus, "window", 0x10000))
	bar := m(s.NewIO(card, "bar", 0x1000, nil))
	refs := card.RefCount()
	check(t, window.AddSubregion(0, bar))
	window.Unparent()
	synchronize(s)
	if bar.Container() != nil || card.RefCount() != refs || bar.Finalized() {
		t.Fatalf("bar in %v, card refcount %d (want %d)", bar.Container(), card.RefCount(), refs)
	}
	check(t, reg.Unplug(&card.Device))
	check(t, reg.Unplug(&bus.Device))
	if card.finalized != 1 || bus.finalized != 1 {
		t.Fatal("devices not finalized")
	}
	noLeaks(t, reg)
}

// DESIGN L4 (qmem's rule; QEMU's aliases hold nothing and can dangle): an
// alias of another device's region holds that device while it is plugged,
// and lets go when the device is unplugged: the device is finalized after
// the grace period and the alias, still pointing at its dead region, shows
// nothing.
func TestLifetimeAliasOfUnpluggedDevice(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	m := must[*Region](t)
	sysmem, as := systemMemory(t, s)
	board := newTestDevice(t, reg, "board")
	dimm := newTestDevice(t, reg, "dimm")
	ram := m(s.NewRAM(dimm, "ram", 0x2000))
	fc := finalizeCounter{}
	fc.watch(t, ram)
	refs := dimm.RefCount()
	alias := m(s.NewAlias(board, "ram alias", ram, 0x1000, 0x1000))
	if dimm.RefCount() != refs+1 {
		t.Fatalf("alias across owners: refcount %d, want %d", dimm.RefCount(), refs+1)
	}
	m(s.NewAlias(dimm, "self alias", ram, 0, 0x1000))
	if dimm.RefCount() != refs+1 {
		t.Fatal("an alias of the owner's own region holds the owner (DESIGN L2)")
	}
	check(t, sysmem.AddSubregion(0x10000, alias))
	check(t, sysmem.AddSubregion(0x20000, m(s.NewIO(nil, "keep", 0x10, nil))))
	if fr := as.View().Find(0x10000); fr == nil || fr.Region != ram || fr.Offset != 0x1000 {
		t.Fatalf("alias view: %+v", fr)
	}
	check(t, reg.Unplug(&dimm.Device))
	synchronize(s)
	if dimm.finalized != 1 {
		t.Fatalf("device finalized %d times", dimm.finalized)
	}
	fc.expectOnce(t)
	if alias.Finalized() || alias.Alias() != ram || as.View().Find(0x10000) != nil {
		t.Fatal("the alias of the dead region must stay, showing nothing")
	}
	noLeaks(t, reg)
	check(t, reg.Unplug(&board.Device))
	check(t, as.Destroy())
	noLeaks(t, reg)
}

// DESIGN L4, L8: two devices aliasing each other's memory do not keep each
// other alive once both are unplugged, in either order.
func TestLifetimeAliasCycleAcrossDevices(t *testing.T) {
	for _, first := range []int{0, 1} {
		t.Run(fmt.Sprint("first ", first), func(t *testing.T) {
			reg, s := newTestSystem(t)
			registerTestDevice(t, reg)
			m := must[*Region](t)
			devs := []*testDevice{newTestDevice(t, reg, "a"), newTestDevice(t, reg, "b")}
			var ram [2]*Region
			for i, d := range devs {
				ram[i] = m(s.NewRAM(d, "ram", 0x1000))
			}
			for i, d := range devs {
				c := m(s.NewContainer(d, "c", 0x10000))
				check(t, c.AddSubregion(0, m(s.NewAlias(d, "other", ram[1-i], 0, 0x1000))))
			}
			check(t, reg.Unplug(&devs[first].Device))
			synchronize(s)
			check(t, reg.Unplug(&devs[1-first].Device))
			synchronize(s)
			for _, d := range devs {
				if d.finalized != 1 {
					t.Fatalf("%s finalized %d times\n%s", d.ID(), d.finalized, qom.FormatLeaks(reg.Leaks()))
				}
			}
			noLeaks(t, reg)
		})
	}
}

// R-LIFE-1, DESIGN L8: an owner that is never unparented (a loose object,
// no detach hook runs) is held by an alias of another owner; dropping its
// creator's reference leaves it alive, reported with the alias as holder;
// dropping the alias (finalizing its owner, unparenting it or retargeting
// it) releases the owner, finalized once.
func TestLifetimeAliasHoldsLooseOwner(t *testing.T) {
	for _, release := range []string{"unplug alias owner", "unparent alias", "retarget alias"} {
		t.Run(release, func(t *testing.T) {
			reg, s := newTestSystem(t)
			registerTestDevice(t, reg)
			registerTestOwner(t, reg)
			m := must[*Region](t)
			board := newTestDevice(t, reg, "board")
			spare := m(s.NewRAM(board, "spare", 0x1000))
			o := qom.MustCast[*testOwner](reg.MustNew("test-owner"))
			ram := m(s.NewRAM(o, "ram", 0x2000))
			alias := m(s.NewAlias(board, "ram alias", ram, 0x1000, 0x1000))
			o.Unref()
			if o.finalized != 0 {
				t.Fatal("the alias's target owner was finalized")
			}
			leaks := reg.Leaks()
			report := qom.FormatLeaks(leaks)
			if len(leaks) == 0 || leaks[0].Object != o.QOM() ||
				!strings.Contains(report, "retained by /machine/peripheral/board via alias 'ram alias' of region 'ram'") {
				t.Fatalf("leak report does not name the alias holding the owner:\n%s", report)
			}
			switch release {
			case "unplug alias owner":
				check(t, reg.Unplug(&board.Device))
			case "unparent alias":
				alias.Unparent()
			case "retarget alias":
				check(t, alias.SetAlias(spare, 0))
			}
			synchronize(s)
			if o.finalized != 1 || !ram.Finalized() {
				t.Fatalf("owner finalized %d times", o.finalized)
			}
			if release != "unplug alias owner" {
				check(t, reg.Unplug(&board.Device))
			}
			noLeaks(t, reg)
		})
	}
}

// testOwner is a plain object (not a device) owning regions.
type testOwner struct {
	qom.Object
	finalized int
}

func registerTestOwner(t testing.TB, reg *qom.Registry) {
	t.Helper()
	err := qom.Register[testOwner](reg, qom.TypeInfo{
		Name:             "test-owner",
		Parent:           qom.TypeObject,
		InstanceFinalize: func(i qom.Instance) { i.(*testOwner).finalized++ },
	})
	if err != nil {
		t.Fatal(err)
	}
}

// C-13, C-15, DESIGN L4, L8: a link across owners left behind by an owner
// that is never unparented (a loose object, not in the tree: no detach hook
// runs for it) keeps the owner alive after its creator drops it; the leak
// report names it, with the holder chain leading to the container's owner.
// Removing the link lets it go.
func TestLifetimeCrossOwnerLinkLeftBehind(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	registerTestOwner(t, reg)
	board := newTestDevice(t, reg, "board")
	m := must[*Region](t)
	window := m(s.NewContainer(board, "window", 0x10000))
	o := qom.MustCast[*testOwner](reg.MustNew("test-owner"))
	r := m(s.NewIO(o, "orphan mmio", 0x1000, nil))
	check(t, window.AddSubregion(0x1000, r))
	o.Unref() // the creator's reference: only the link holds it now
	if o.finalized != 0 {
		t.Fatal("finalized while linked")
	}
	leaks := reg.Leaks()
	if len(leaks) != 2 {
		t.Fatalf("want the owner and its region reported:\n%s", qom.FormatLeaks(leaks))
	}
	l := leaks[0]
	chain := strings.Join(l.Chain, " <- ")
	if l.Object != o.QOM() || len(l.RetainedBy) != 1 || !l.RetainedBy[0].Reachable ||
		l.RetainedBy[0].Holder != "/machine/peripheral/board" ||
		l.RetainedBy[0].Via != "region 'orphan mmio' in container 'window'" ||
		!strings.Contains(chain, "/machine/peripheral/board (region 'orphan mmio' in container 'window')") {
		t.Fatalf("leak report:\n%s", qom.FormatLeaks(leaks))
	}
	if leaks[1].Object != &r.Object {
		t.Fatalf("second leak is %s, want the region", leaks[1].Name)
	}
	check(t, window.DelSubregion(r))
	synchronize(s)
	if o.finalized != 1 || !r.Finalized() {
		t.Fatalf("owner finalized %d times after the link went", o.finalized)
	}
	check(t, reg.Unplug(&board.Device))
	noLeaks(t, reg)
}

// DESIGN L4: unparenting a non-device owner runs the detach hook too: its
// regions leave foreign containers and it is finalized.
func TestLifetimeNonDeviceOwnerUnparented(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestOwner(t, reg)
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", math.MaxUint64))
	objects, err := reg.Container("/objects")
	check(t, err)
	o := qom.MustCast[*testOwner](reg.MustNew("test-owner"))
	_, err = objects.AddChild("o", o)
	check(t, err)
	o.Unref()
	check(t, sysmem.AddSubregion(0, m(s.NewIO(o, "io", 0x1000, nil))))
	o.Unparent()
	synchronize(s)
	if o.finalized != 1 || len(sysmem.Subregions()) != 0 {
		t.Fatalf("owner finalized %d times; system has %d subregions", o.finalized, len(sysmem.Subregions()))
	}
	noLeaks(t, reg)
}

// C-13, DESIGN L2: an owned space rooted at its owner's region does not
// pin the owner (TestSelfRootedAddressSpaceDoesNotPinOwner); an unowned one
// does (as in QEMU), and the leak report says so until it is destroyed.
func TestLifetimeUnownedSpaceRootedAtDevice(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	root := must[*Region](t)(s.NewRAM(d, "dma root", 0x1000))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "dev0-dma"))
	check(t, reg.Unplug(&d.Device))
	synchronize(s)
	if d.finalized != 0 || as.Destroyed() {
		t.Fatal("an unowned space was destroyed with the device")
	}
	report := qom.FormatLeaks(reg.Leaks())
	if !strings.Contains(report, "root of address space 'dev0-dma'") {
		t.Fatalf("leak report:\n%s", report)
	}
	check(t, as.Destroy())
	synchronize(s)
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times", d.finalized)
	}
	noLeaks(t, reg)
}

// R-AS-1, R-AS-2, C-11: a space holds its root's owner; Destroy needs its
// listeners gone, releases the owner after the grace period, and cannot be
// repeated.
func TestLifetimeAddressSpaceDestroy(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	root := must[*Region](t)(s.NewIO(d, "root", 0x1000, nil))
	refs := d.RefCount()
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, ""))
	if as.Name() != "anonymous" || as.Root() != root || as.Owner() != nil || as.System() != s {
		t.Fatalf("space: name %q root %v", as.Name(), as.Root())
	}
	if d.RefCount() != refs+1 {
		t.Fatalf("refcount %d, want %d", d.RefCount(), refs+1)
	}
	l := &Listener{Name: "l"}
	check(t, as.AddListener(l))
	if err := as.Destroy(); err == nil {
		t.Fatal("destroyed with a listener registered")
	}
	as.RemoveListeners()
	rd := s.NewReader()
	rd.Enter()
	check(t, as.Destroy())
	if d.RefCount() != refs+1 {
		t.Fatal("root reference dropped inside a reader's grace period")
	}
	rd.Exit()
	rd.Close()
	synchronize(s)
	if d.RefCount() != refs || !as.Destroyed() {
		t.Fatalf("refcount %d after destroy, want %d", d.RefCount(), refs)
	}
	if err := as.Destroy(); err == nil {
		t.Fatal("destroyed twice")
	}
	for _, x := range s.AddressSpaces() {
		if x == as {
			t.Fatal("destroyed space still listed")
		}
	}
	check(t, reg.Unplug(&d.Device))
	noLeaks(t, reg)
}

// R-LIFE-6, C-10: a device that unparents its regions in its own
// instance_finalize touches regions already released: nothing happens.
func TestLifetimeUnparentInFinalizeIsHarmless(t *testing.T) {
	reg, s := newTestSystem(t)
	type dev struct {
		qom.Device
		regions []*Region
	}
	err := qom.Register[dev](reg, qom.TypeInfo{
		Name:   "unparenting-device",
		Parent: qom.TypeDevice,
		InstanceFinalize: func(i qom.Instance) {
			for _, r := range i.(*dev).regions {
				if !r.Finalized() {
					panic("region alive in instance_finalize")
				}
				r.Unparent()
			}
		},
	})
	check(t, err)
	d := qom.MustCast[*dev](reg.MustNew("unparenting-device"))
	check(t, reg.AddDevice(d, "d"))
	d.QOM().Unref()
	m := must[*Region](t)
	c := m(s.NewContainer(d, "c", 0x2000))
	r := m(s.NewRAM(d, "r", 0x1000))
	check(t, c.AddSubregion(0, r))
	d.regions = []*Region{c, r}
	check(t, reg.Unplug(&d.Device))
	noLeaks(t, reg)
}

// R-LIFE-1 (deviation: flat views hold no references in qmem): a region
// visible in a view does not change its owner's refcount; a reader inside
// keeps it alive through the grace period instead (DESIGN L5).
func TestLifetimeViewsHoldNoReferences(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	m := must[*Region](t)
	c := m(s.NewContainer(d, "c", 0x10000))
	check(t, c.AddSubregion(0, m(s.NewRAM(d, "ram", 0x1000))))
	check(t, c.AddSubregion(0x4000, m(s.NewRAM(d, "ram2", 0x1000))))
	refs := d.RefCount()
	as := must[*AddressSpace](t)(s.NewOwnedAddressSpace(d, c, "own"))
	if len(as.View().Ranges()) != 2 || d.RefCount() != refs {
		t.Fatalf("a view of the device's regions changed its refcount: %d -> %d", refs, d.RefCount())
	}
	if _, err := s.NewOwnedAddressSpace(nil, c, "x"); err == nil {
		t.Fatal("an owned space without owner")
	}
	check(t, reg.Unplug(&d.Device))
	if d.finalized != 1 || !as.Destroyed() {
		t.Fatal("device not finalized or space not destroyed")
	}
	noLeaks(t, reg)
}
