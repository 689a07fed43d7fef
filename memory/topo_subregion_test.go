package memory

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func names(rs []*Region) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Name())
	}
	return strings.Join(s, " ")
}

// R-SUB-1, R-SUB-4: adding sets the address, priority and container and
// inserts before the first sibling of lower or equal priority: priority
// descending, newest first among equals.
func TestSubregionListOrder(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	c := m(s.NewContainer(nil, "c", 0x10000))
	for _, x := range []struct {
		name string
		prio int32
		want string
	}{
		{"a", 0, "a"},
		{"b", 0, "b a"},
		{"c", 1, "c b a"},
		{"d", -1, "c b a d"},
		{"e", 1, "e c b a d"},
		{"f", 0, "e c f b a d"},
		{"g", -1, "e c f b a g d"},
		{"h", 5, "h e c f b a g d"},
	} {
		r := m(s.NewIO(nil, x.name, 0x100, nil))
		check(t, c.AddSubregionOverlap(0x100, r, x.prio))
		if r.Container() != c || r.Addr() != 0x100 || r.Priority() != x.prio || !r.IsMapped() {
			t.Fatalf("%s: container %v addr %#x priority %d", x.name, r.Container(), r.Addr(), r.Priority())
		}
		if got := names(c.Subregions()); got != x.want {
			t.Fatalf("after adding %s (priority %d): %s, want %s", x.name, x.prio, got, x.want)
		}
	}
	noLeaks(t, reg)
}

// R-SUB-5, R-ATTR-3, appendix 1: among equal priorities the most recently
// added or moved sibling wins; a higher priority always wins.
func TestSubregionEqualPriorityOverlap(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	a := m(s.NewIO(nil, "a", 0x2000, nil))
	b := m(s.NewIO(nil, "b", 0x2000, nil))
	hi := m(s.NewIO(nil, "hi", 0x800, nil))
	check(t, root.AddSubregion(0, a))
	check(t, root.AddSubregion(0x1000, b))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	at := func(addr uint64) string {
		if fr := as.View().Find(addr); fr != nil {
			return fr.Region.Name()
		}
		return "-"
	}
	if at(0x1800) != "b" {
		t.Fatalf("newest equal-priority sibling does not win: %s", at(0x1800))
	}
	check(t, a.SetAddress(0x800)) // moving makes it the newest
	if at(0x1800) != "a" || names(root.Subregions()) != "a b" {
		t.Fatalf("moved sibling does not win: %s (%s)", at(0x1800), names(root.Subregions()))
	}
	check(t, root.AddSubregionOverlap(0x1400, hi, 1))
	check(t, b.SetAddress(0x1000-1)) // newest of priority 0, still below hi
	check(t, b.SetAddress(0x1000))
	if at(0x1500) != "hi" || at(0x1000) != "b" || at(0x900) != "a" {
		t.Fatalf("priorities: %s %s %s", at(0x1500), at(0x1000), at(0x900))
	}
	noLeaks(t, reg)
}

// R-SUB-6: priorities compare only among siblings; a hole in a
// high-priority container lets a lower-priority sibling show through, and
// a subregion of a high-priority container beats a low-priority sibling
// regardless of its own priority.
func TestSubregionPriorityIsLocal(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	high := m(s.NewContainer(nil, "high", 0x4000))
	low := m(s.NewIO(nil, "low", 0x4000, nil))
	inner := m(s.NewIO(nil, "inner", 0x1000, nil))
	check(t, high.AddSubregionOverlap(0x1000, inner, -100))
	check(t, root.AddSubregionOverlap(0, high, 10))
	check(t, root.AddSubregionOverlap(0, low, 1))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	want := "" +
		"0000000000000000-0000000000000fff (prio 1, i/o): low\n" +
		"0000000000001000-0000000000001fff (prio -100, i/o): inner\n" +
		"0000000000002000-0000000000003fff (prio 1, i/o): low @0000000000002000\n"
	expectView(t, as, want)
	noLeaks(t, reg)
}

// R-SUB-7, R-SUB-8: deleting clears the container, unlinks the region and
// re-renders; deleting a region that is not a subregion is an error.
// Deleting a disabled region changes no view, so no listener hears of it.
func TestSubregionDelete(t *testing.T) {
	e := newListenerEnv(t)
	a := e.add("a", KindIO, 0, 0x1000)
	b := e.add("b", KindIO, 0x1000, 0x1000)
	c := e.add("c", KindIO, 0x2000, 0x1000)
	check(t, e.as.AddListener(e.rec.listener("L", 0)))
	e.rec.take()
	check(t, e.root.DelSubregion(b))
	if b.Container() != nil || b.IsMapped() || names(e.root.Subregions()) != "c a" {
		t.Fatalf("after delete: container %v, list %s", b.Container(), names(e.root.Subregions()))
	}
	expectLog(t, e.rec.take(), "L begin", "L region_del [0x1000,0x1fff] b@0x0",
		"L region_nop [0x0,0xfff] a@0x0", "L region_nop [0x2000,0x2fff] c@0x0", "L commit")
	for _, bad := range []struct {
		c, sub *Region
	}{{e.root, b}, {a, c}, {e.root, nil}} {
		before := treeText(e.s, e.root)
		if err := bad.c.DelSubregion(bad.sub); err == nil {
			t.Fatalf("DelSubregion(%v) from %v succeeded", bad.sub, bad.c)
		}
		if after := treeText(e.s, e.root); after != before {
			t.Fatalf("a failed DelSubregion changed the tree:\n%s", after)
		}
	}
	check(t, c.SetEnabled(false))
	e.rec.take()
	check(t, e.root.DelSubregion(c))
	expectLog(t, e.rec.take())
	e.as.RemoveListeners()
}

// R-SUB-9, R-KIND-7: mapping an alias counts on every region along its
// alias chain; IsMapped is "has a container or is mapped via an alias".
// Retargeting an alias (SetAlias, qmem's addition) moves the counts of
// every mapped chain through it.
func TestSubregionMappedViaAlias(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	t1 := m(s.NewRAM(nil, "t1", 0x1000))
	t2 := m(s.NewRAM(nil, "t2", 0x1000))
	a := m(s.NewAlias(nil, "a", t1, 0, 0x1000))
	b := m(s.NewAlias(nil, "b", a, 0, 0x1000))
	c := m(s.NewAlias(nil, "c", a, 0, 0x1000))
	mapped := func(want string) {
		t.Helper()
		var got []string
		for _, r := range []*Region{t1, t2, a, b, c} {
			got = append(got, fmt.Sprintf("%s=%d/%v", r.Name(), r.mappedViaAlias, r.IsMapped()))
		}
		if g := strings.Join(got, " "); g != want {
			t.Fatalf("mapped: %s\nwant:   %s", g, want)
		}
	}
	mapped("t1=0/false t2=0/false a=0/false b=0/false c=0/false")
	check(t, root.AddSubregion(0, b))
	mapped("t1=1/true t2=0/false a=1/true b=0/true c=0/false")
	check(t, root.AddSubregion(0x1000, c))
	mapped("t1=2/true t2=0/false a=2/true b=0/true c=0/true")
	check(t, a.SetAlias(t2, 0)) // both chains now end at t2
	mapped("t1=0/false t2=2/true a=2/true b=0/true c=0/true")
	check(t, root.AddSubregion(0x2000, a))
	mapped("t1=0/false t2=3/true a=2/true b=0/true c=0/true")
	check(t, a.SetAlias(t1, 0))
	mapped("t1=3/true t2=0/false a=2/true b=0/true c=0/true")
	check(t, root.DelSubregion(b))
	check(t, root.DelSubregion(c))
	check(t, root.DelSubregion(a))
	mapped("t1=0/false t2=0/false a=0/false b=0/false c=0/false")
	noLeaks(t, reg)
}

// R-ATTR-2, R-FLAT-3: SetSize does not touch subregions; rendering clips
// them to the container.
func TestAttrSetSizeClips(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	c := m(s.NewContainer(nil, "c", 0x4000))
	r := m(s.NewIO(nil, "r", 0x3000, nil))
	check(t, c.AddSubregion(0x1000, r))
	check(t, root.AddSubregion(0, c))
	check(t, root.AddSubregion(0x8000, m(s.NewIO(nil, "keep", 0x10, nil))))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	check(t, c.SetSize(0x2000))
	if r.Size() != 0x3000 {
		t.Fatal("SetSize changed a subregion")
	}
	if fr := as.View().Find(0x1000); fr == nil || fr.Last != 0x1fff {
		t.Fatalf("subregion not clipped: %+v", fr)
	}
	check(t, c.SetSize(0))
	if fr := as.View().Find(0x1000); fr != nil { // R-FLAT-8
		t.Fatalf("a size-0 container renders: %+v", fr)
	}
	noLeaks(t, reg)
}

// R-ATTR-3: SetAddress re-inserts the region at its priority as the newest
// of its equal-priority siblings; the container's reference on a foreign
// owner stays held throughout; a region without container only changes its
// address (which shifts a view rooted at it, R-FLAT-1).
func TestAttrSetAddress(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	a := m(s.NewIO(nil, "a", 0x100, nil))
	b := m(s.NewIO(d, "b", 0x100, nil))
	hi := m(s.NewIO(nil, "hi", 0x100, nil))
	check(t, root.AddSubregionOverlap(0, hi, 3))
	check(t, root.AddSubregion(0x100, b))
	check(t, root.AddSubregion(0x200, a))
	refs := d.RefCount()
	check(t, b.SetAddress(0x300))
	if names(root.Subregions()) != "hi b a" || b.Priority() != 0 || d.RefCount() != refs || s.Pending() != 0 {
		t.Fatalf("after SetAddress: %s, priority %d, owner refs %d (was %d), pending %d",
			names(root.Subregions()), b.Priority(), d.RefCount(), refs, s.Pending())
	}
	loose := m(s.NewIO(nil, "loose", 0x100, nil))
	as := must[*AddressSpace](t)(s.NewAddressSpace(loose, "loose"))
	check(t, loose.SetAddress(0x5000))
	if fr := as.View().Ranges(); len(fr) != 1 || fr[0].Start != 0x5000 {
		t.Fatalf("view of a root with an address: %+v", fr)
	}
	check(t, as.Destroy())
	check(t, reg.Unplug(&d.Device))
	noLeaks(t, reg)
}

// R-ATTR-4, R-ATTR-5, R-KIND-5: setters are no-ops for the same value;
// SetAliasOffset works on aliases only, SetRomdMode on ROM devices only.
func TestAttrSetters(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	ram := m(s.NewRAM(nil, "ram", 0x2000))
	romd := m(s.NewROMDevice(nil, "romd", 0x1000, nil))
	alias := m(s.NewAlias(nil, "alias", ram, 0, 0x1000))
	check(t, root.AddSubregion(0, alias))
	check(t, root.AddSubregion(0x4000, romd))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	check(t, alias.SetAliasOffset(0x1000))
	if fr := as.View().Find(0); fr == nil || fr.Offset != 0x1000 || alias.AliasOffset() != 0x1000 {
		t.Fatalf("alias offset not applied: %+v", fr)
	}
	if err := ram.SetAliasOffset(0); err == nil {
		t.Fatal("SetAliasOffset on RAM succeeded")
	}
	if err := ram.SetAlias(romd, 0); err == nil {
		t.Fatal("SetAlias on RAM succeeded")
	}
	for _, set := range []struct {
		name string
		fn   func(bool) error
		get  func() bool
	}{
		{"readonly", ram.SetReadonly, ram.Readonly},
		{"nonvolatile", ram.SetNonvolatile, ram.Nonvolatile},
		{"unmergeable", ram.SetUnmergeable, ram.Unmergeable},
		{"romd", romd.SetRomdMode, romd.RomdMode},
		{"enabled", ram.SetEnabled, ram.Enabled},
	} {
		was := set.get()
		before := s.Stats()
		check(t, set.fn(was))
		if d := statsSince(s, before); d != (Stats{}) {
			t.Errorf("%s: setting the same value rendered: %+v", set.name, d)
		}
		check(t, set.fn(!was))
		if set.get() == was {
			t.Errorf("%s not changed", set.name)
		}
		check(t, set.fn(was))
	}
	noLeaks(t, reg)
}

// R-KIND-10, R-FLAT-7: a terminating region may have subregions; they beat
// its own content, which fills the rest, whatever their priority.
func TestSubregionsOfLeaf(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	ram := m(s.NewRAM(nil, "ram", 0x4000))
	io := m(s.NewIO(nil, "io", 0x1000, nil))
	check(t, ram.AddSubregionOverlap(0x1000, io, math.MinInt32))
	as := must[*AddressSpace](t)(s.NewAddressSpace(ram, "as"))
	want := "" +
		"0000000000000000-0000000000000fff (prio 0, ram): ram\n" +
		"0000000000001000-0000000000001fff (prio -2147483648, i/o): io\n" +
		"0000000000002000-0000000000003fff (prio 0, ram): ram @0000000000002000\n"
	expectView(t, as, want)
	noLeaks(t, reg)
}

// R-KIND-11 (deviation: QEMU accepts and ignores them): an alias cannot
// have subregions.
func TestAliasCannotHaveSubregions(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	ram := m(s.NewRAM(nil, "ram", 0x1000))
	alias := m(s.NewAlias(nil, "alias", ram, 0, 0x1000))
	sub := m(s.NewIO(nil, "sub", 0x10, nil))
	before := treeText(s, alias, sub)
	if err := alias.AddSubregion(0, sub); err == nil || !strings.Contains(err.Error(), "alias") {
		t.Fatalf("adding to an alias: %v", err)
	}
	if treeText(s, alias, sub) != before {
		t.Fatal("the refused add changed the tree")
	}
	noLeaks(t, reg)
}
