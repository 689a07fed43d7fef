package memory

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// R-FIND-1: Find makes the region-relative address absolute through the
// container chain (not through aliases), looks it up in the first space
// rooted at the top of the chain, and returns the lowest range
// intersecting it, clipped, holding a reference on the region's owner
// until Release.
func TestFind(t *testing.T) {
	f := newAccFix(t)
	d := newTestDevice(t, f.reg, "dev0")
	bus := f.add(0x10000, f.must(f.s.NewContainer(nil, "bus", 0x10000)))
	ram := f.must(f.s.NewRAM(d, "dev-ram", 0x2000))
	check(t, bus.AddSubregion(0x1000, ram))
	mmio := f.must(f.s.NewIO(d, "dev-mmio", 0x1000, nil))
	check(t, bus.AddSubregion(0x4000, mmio))
	// A region only reachable through an alias.
	hidden := f.must(f.s.NewContainer(nil, "hidden", 0x1000))
	f.add(0x40000, f.must(f.s.NewAlias(nil, "window", hidden, 0, 0x1000)))
	lone := f.must(f.s.NewContainer(nil, "lone", 0x1000))

	tests := []struct {
		r          *Region
		addr, size uint64
		want       string // region@addr+size off
	}{
		{bus, 0x1800, 0x10, "dev-ram@0x11800+0x10 off 0x800"},
		{bus, 0, 0x1800, "dev-ram@0x11000+0x800 off 0x0"},                // lowest range, clipped
		{bus, 0x2800, 0x3000, "dev-ram@0x12800+0x800 off 0x1800"},        // clipped at its end
		{ram, 0x10, 4, "dev-ram@0x11010+0x4 off 0x10"},                   // relative to the region
		{mmio, 0xff0, 0x100, "dev-mmio@0x14ff0+0x10 off 0xff0"},          // clipped to what exists
		{f.root, 0x13ffe, ^uint64(0), "dev-mmio@0x14000+0x1000 off 0x0"}, // wraps: to the end
		{bus, 0x3000, 0x10, ""},                                          // nothing there
		{hidden, 0, 4, ""},                                               // top of the chain is no root
		{lone, 0, 4, ""},
		{bus, 0x1000, 0, ""},
	}
	for _, tt := range tests {
		before := d.QOM().RefCount()
		res, ok := tt.r.Find(tt.addr, tt.size)
		got := ""
		if ok {
			got = res.Region.Name() + "@" + hex(res.Addr) + "+" + hex(res.Size) + " off " + hex(res.OffsetInRegion)
		}
		if got != tt.want {
			t.Errorf("%s.Find(%#x, %#x) = %q, want %q", tt.r.Name(), tt.addr, tt.size, got, tt.want)
		}
		if ok && res.Region.Owner() == d.QOM() {
			if n := d.QOM().RefCount(); n != before+1 {
				t.Errorf("Find holds %d references, want 1", n-before)
			}
		}
		res.Release()
		res.Release() // idempotent
		if n := d.QOM().RefCount(); n != before {
			t.Errorf("after Release: refcount %d, want %d", n, before)
		}
	}
	check(t, f.reg.Unplug(&d.Device))
	synchronize(f.s)
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times", d.finalized)
	}
	f.noLeaks()
}

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }

// R-FIND-2: Present is true iff a 1-byte Find at addr inside c yields a
// region other than c itself.
func TestPresent(t *testing.T) {
	f := newAccFix(t)
	c := f.add(0x1000, f.must(f.s.NewContainer(nil, "c", 0x1000)))
	check(t, c.AddSubregion(0x100, f.must(f.s.NewRAM(nil, "r", 0x100))))
	io := f.io("self", 0x4000, 0x100, nil)
	for _, tt := range []struct {
		r    *Region
		addr uint64
		want bool
	}{
		{c, 0x100, true},
		{c, 0x1ff, true},
		{c, 0x200, false},
		{io, 0x10, false}, // finds the region itself
		{f.root, 0x4010, true},
	} {
		if got := tt.r.Present(tt.addr); got != tt.want {
			t.Errorf("%s.Present(%#x) = %v", tt.r.Name(), tt.addr, got)
		}
	}
	f.noLeaks()
}

// accOrderDevice records, when its instance_finalize runs, whether its
// regions were already finalized (R-MRQOM-5).
type accOrderDevice struct {
	qom.Device
	regions        []*Region
	regionsBefore  bool
	finalizedCount int
}

// R-MRQOM-1..6: regions as QOM objects.
func TestRegionQOM(t *testing.T) {
	f := newAccFix(t)
	check(t, qom.Register[accOrderDevice](f.reg, qom.TypeInfo{
		Name:   "acc-order-device",
		Parent: qom.TypeDevice,
		InstanceFinalize: func(i qom.Instance) {
			d := i.(*accOrderDevice)
			d.finalizedCount++
			d.regionsBefore = true
			for _, r := range d.regions {
				d.regionsBefore = d.regionsBefore && r.Finalized()
			}
		},
	}))
	d := qom.MustCast[*accOrderDevice](f.reg.MustNew("acc-order-device"))
	check(t, f.reg.AddDevice(d, "od"))
	d.QOM().Unref()
	check(t, d.SetRealized(true))

	// R-MRQOM-1: the types.
	if _, err := f.reg.New(TypeIOMMURegion); err == nil {
		t.Error("iommu-memory-region is instantiable")
	}
	if c, err := f.reg.Class(TypeIOMMURegion); err != nil || c.Cast(TypeRegion) == nil {
		t.Errorf("iommu-memory-region does not derive from memory-region: %v", err)
	}

	// R-MRQOM-2: a named region is child "<escaped name>[N]" of its owner,
	// with one reference, held by that parent.
	c := f.must(f.s.NewContainer(d, "regs/bank[0]", 0x1000))
	sub := f.must(f.s.NewIO(d, "regs/bank[0]", 0x100, nil))
	d.regions = []*Region{c, sub}
	check(t, c.AddSubregionOverlap(0x40, sub, -3))
	if got := d.QOM().Child(`regs\x2fbank\x5b0\x5d[0]`); got != &c.Object {
		t.Errorf("child [0] is %v", got)
	}
	if got := d.QOM().Child(`regs\x2fbank\x5b0\x5d[1]`); got != &sub.Object {
		t.Errorf("child [1] is %v", got)
	}
	if c.RefCount() != 1 {
		t.Errorf("region refcount %d, want 1", c.RefCount())
	}
	// Unnamed: no parent, creation reference kept.
	anon := f.must(f.s.NewIO(d, "", 0x10, nil))
	if anon.QOMParent() != nil || anon.RefCount() != 1 {
		t.Errorf("unnamed region: parent %v refs %d", anon.QOMParent(), anon.RefCount())
	}

	// R-MRQOM-3, R-MRQOM-6: an ownerless named region has no owner but
	// lives under /machine/unattached.
	board := f.must(f.s.NewRAM(nil, "board-ram", 0x1000))
	if board.Owner() != nil || board.QOMParent() != f.reg.Unattached() {
		t.Errorf("ownerless region: owner %v parent %v", board.Owner(), board.QOMParent())
	}
	if !strings.HasPrefix(board.CanonicalPath(), "/machine/unattached/board-ram[") {
		t.Errorf("ownerless region path %q", board.CanonicalPath())
	}
	if c.QOMParent() != d.QOM() || c.Owner() != d.QOM() {
		t.Errorf("owned region: owner %v parent %v", c.Owner(), c.QOMParent())
	}

	// R-MRQOM-4: the five properties.
	var names []string
	for _, p := range sub.Properties() {
		names = append(names, p.Name+":"+p.Type)
	}
	slices.Sort(names) // QEMU lists them in hash order
	if got, want := strings.Join(names, " "), "addr:uint64 container:link<memory-region> priority:uint32 size:uint64 type:string"; got != want {
		t.Errorf("properties %q, want %q", got, want)
	}
	if v, err := sub.GetProperty("container"); err != nil || v != c.CanonicalPath() {
		t.Errorf("container = %v %v", v, err)
	}
	if v, err := c.GetProperty("container"); err != nil || v != "" {
		t.Errorf("container of a top region = %v %v", v, err)
	}
	if got := f.reg.Root().ResolvePathAt(strings.TrimPrefix(sub.CanonicalPath(), "/") + "/container"); got != &c.Object {
		t.Errorf("container link does not resolve: %v", got)
	}
	if v, err := sub.GetUint("addr"); err != nil || v != 0x40 {
		t.Errorf("addr = %v %v", v, err)
	}
	if v, err := sub.GetInt("priority"); err != nil || v != -3 {
		t.Errorf("priority = %v %v", v, err)
	}
	if v, err := f.root.GetUint("size"); err != nil || v != ^uint64(0) {
		t.Errorf("size of a 2^64 region = %#x %v", v, err)
	}

	// R-MRQOM-5, R-MRQOM-1: the owner's finalization releases its regions
	// first, in any order; their storage stays usable.
	check(t, f.reg.Unplug(&d.Device))
	synchronize(f.s)
	if d.finalizedCount != 1 || !d.regionsBefore {
		t.Errorf("owner finalized %d times; regions finalized before it: %v", d.finalizedCount, d.regionsBefore)
	}
	for _, r := range []*Region{c, sub, anon} {
		if !r.Finalized() || r.Name() != r.name {
			t.Errorf("region %s after finalization", r)
		}
	}
	f.noLeaks()
}
