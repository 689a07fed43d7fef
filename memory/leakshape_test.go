package memory

import (
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// QEMU's known leak shapes (SPEC C-1, C-13; DESIGN L2, L4, L8). Each test
// runs the shape twice: with qmem's protection, the device is finalized and
// nothing leaks; with the protection switched off (QEMU's behaviour), the
// device leaks and the leak report prints the chain that holds it.

// leakShape builds a fresh system and device, runs build (which may switch
// protections off), unplugs the device and returns the leak report.
func leakShape(t *testing.T, unprotect func(*System), build func(s *System, d *testDevice)) (*testDevice, []qom.Leak) {
	t.Helper()
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	if unprotect != nil {
		unprotect(s)
	}
	d := newTestDevice(t, reg, "dev0")
	build(s, d)
	check(t, reg.Unplug(&d.Device))
	synchronize(s)
	return d, reg.Leaks()
}

// expectLeak checks that d leaked and that the report names it and every
// fragment of want in its retention text.
func expectLeak(t *testing.T, d *testDevice, leaks []qom.Leak, want ...string) {
	t.Helper()
	if d.finalized != 0 {
		t.Fatalf("unprotected: device finalized %d times, want a leak", d.finalized)
	}
	var text string
	for _, l := range leaks {
		if l.Object == d.QOM() {
			text = l.String()
		}
	}
	if text == "" {
		t.Fatalf("unprotected: the leak report does not name the device:\n%s", qom.FormatLeaks(leaks))
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("leak report lacks %q:\n%s", w, text)
		}
	}
	t.Logf("retention path printed by the leak report:\n%s", text)
}

func expectNoLeak(t *testing.T, d *testDevice, leaks []qom.Leak) {
	t.Helper()
	if d.finalized != 1 {
		t.Fatalf("protected: device finalized %d times, want 1", d.finalized)
	}
	if len(leaks) != 0 {
		t.Fatalf("protected: leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// Shape 1 (SPEC C-1, R-LIFE-3): a device nests its own regions.
func TestLeakShapeSameOwnerSubregion(t *testing.T) {
	build := func(s *System, d *testDevice) {
		c := must[*Region](t)(s.NewContainer(d, "bar", 0x2000))
		r := must[*Region](t)(s.NewIO(d, "regs", 0x100, nil))
		check(t, c.AddSubregion(0, r))
	}
	d, leaks := leakShape(t, nil, build)
	expectNoLeak(t, d, leaks)
	d, leaks = leakShape(t, func(s *System) { s.compat.sameOwnerRefs = true }, build)
	expectLeak(t, d, leaks, "region 'regs' in container 'bar'", "cycle")
}

// Shape 2 (SPEC C-13): an address space rooted at its owner's own region.
func TestLeakShapeSelfRootedAddressSpace(t *testing.T) {
	var protected bool
	build := func(s *System, d *testDevice) {
		root := must[*Region](t)(s.NewContainer(d, "bus master container", ^uint64(0)))
		if protected {
			must[*AddressSpace](t)(s.NewOwnedAddressSpace(d, root, "dev0-dma"))
		} else {
			must[*AddressSpace](t)(s.NewAddressSpace(root, "dev0-dma")) // QEMU's address_space_init
		}
	}
	protected = true
	d, leaks := leakShape(t, nil, build)
	expectNoLeak(t, d, leaks)
	protected = false
	d, leaks = leakShape(t, nil, build)
	expectLeak(t, d, leaks, "root of address space 'dev0-dma'")
}

// Shape 3 (SPEC C-13): a device keeps a DMA mapping of its own memory.
func TestLeakShapeSelfDMAMapping(t *testing.T) {
	var protected bool
	build := func(s *System, d *testDevice) {
		sysmem := must[*Region](t)(s.NewContainer(nil, "system", ^uint64(0)))
		as := must[*AddressSpace](t)(s.NewAddressSpace(sysmem, "memory"))
		ram := must[*Region](t)(s.NewRAM(d, "ring", 0x1000))
		check(t, sysmem.AddSubregion(0x10000, ram))
		// The device keeps the mapping for its whole life (a ring buffer).
		if protected {
			must[*Mapping](t)(as.MapFor(d, 0x10000, 0x1000, true, Attrs{}))
		} else {
			must[*Mapping](t)(as.Map(0x10000, 0x1000, true, Attrs{})) // QEMU's address_space_map
		}
	}
	protected = true
	d, leaks := leakShape(t, nil, build)
	expectNoLeak(t, d, leaks)
	protected = false
	d, leaks = leakShape(t, nil, build)
	expectLeak(t, d, leaks, "DMA mapping of 'ring'")
}

// Shape 4 (DESIGN L4): a device's region left in another owner's container
// at unplug.
func TestLeakShapeCrossOwnerLinkLeftBehind(t *testing.T) {
	build := func(s *System, d *testDevice) {
		sysmem := must[*Region](t)(s.NewContainer(nil, "system", ^uint64(0)))
		must[*AddressSpace](t)(s.NewAddressSpace(sysmem, "memory"))
		check(t, sysmem.AddSubregion(0x1000, must[*Region](t)(s.NewIO(d, "mmio", 0x1000, nil))))
	}
	d, leaks := leakShape(t, nil, build)
	expectNoLeak(t, d, leaks)
	d, leaks = leakShape(t, func(s *System) { s.compat.noDetach = true }, build)
	expectLeak(t, d, leaks, "region 'mmio' in container 'system'", "was /machine/peripheral/dev0")
}

// peerDevice holds a strong link to another device; with protect set, its
// Unrealize clears the link (what a well-behaved device does).
type peerDevice struct {
	qom.Device
	peer    qom.Link
	protect bool
}

func (p *peerDevice) Unrealize() {
	if p.protect {
		_ = p.SetLink("peer", nil)
	}
}

// Shape 5 (R-LINK-3, DESIGN L8): two devices linked to each other by strong
// links form a cycle no reference count can break.
func TestLeakShapeStrongLinkCycle(t *testing.T) {
	run := func(protect bool) (*peerDevice, *peerDevice, []qom.Leak) {
		reg, _ := newTestSystem(t)
		err := qom.Register[peerDevice](reg, qom.TypeInfo{
			Name: "peer-device", Parent: qom.TypeDevice,
			InstanceInit: func(i qom.Instance) {
				p := i.(*peerDevice)
				if _, err := p.AddLink("peer", "peer-device", &p.peer, qom.AllowSetLink, true); err != nil {
					t.Fatal(err)
				}
			},
		})
		check(t, err)
		mk := func(id string) *peerDevice {
			p := qom.MustCast[*peerDevice](reg.MustNew("peer-device"))
			p.protect = protect
			check(t, reg.AddDevice(p, id))
			p.QOM().Unref()
			check(t, p.SetRealized(true))
			return p
		}
		a, b := mk("a"), mk("b")
		check(t, a.SetLink("peer", b.QOM()))
		check(t, b.SetLink("peer", a.QOM()))
		check(t, reg.Unplug(&a.Device))
		check(t, reg.Unplug(&b.Device))
		return a, b, reg.Leaks()
	}
	a, b, leaks := run(true)
	if !a.Finalized() || !b.Finalized() || len(leaks) != 0 {
		t.Fatalf("protected: a finalized %v, b finalized %v, leaks:\n%s", a.Finalized(), b.Finalized(), qom.FormatLeaks(leaks))
	}
	a, b, leaks = run(false)
	if a.Finalized() || b.Finalized() || len(leaks) != 2 {
		t.Fatalf("unprotected: want both leaked, got:\n%s", qom.FormatLeaks(leaks))
	}
	text := qom.FormatLeaks(leaks)
	for _, w := range []string{"strong link<peer-device> property 'peer'", "cycle:"} {
		if !strings.Contains(text, w) {
			t.Errorf("leak report lacks %q:\n%s", w, text)
		}
	}
	t.Logf("retention path printed by the leak report:\n%s", text)
}
