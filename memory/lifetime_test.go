package memory

import (
	"testing"

	"qmem.dev/qmem/qom"
)

// C-14, R-LIFE-3, R-LIFE-4, R-MRQOM-5: a device nesting its own regions is
// finalized when its last outside reference goes; each region is finalized
// once, whatever the order; nothing leaks.
func TestSameOwnerSubregionsDoNotPinOwner(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	m := must[*Region](t)
	c := m(s.NewContainer(d, "c", 0x10000))
	a := m(s.NewRAM(d, "a", 0x1000))
	b := m(s.NewIO(d, "b", 0x1000, nil))
	before := d.QOM().RefCount()
	check(t, c.AddSubregion(0, a))
	check(t, c.AddSubregion(0x1000, b))
	if got := d.QOM().RefCount(); got != before {
		t.Fatalf("same-owner subregions changed the owner's refcount: %d -> %d", before, got)
	}
	if err := reg.Unplug(&d.Device); err != nil {
		t.Fatal(err)
	}
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times, want 1", d.finalized)
	}
	for _, r := range []*Region{a, b, c} {
		if !r.Finalized() {
			t.Errorf("region %s not finalized", r)
		}
	}
	if leaks := reg.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// C-15, DESIGN L4: a device's region in the system container (another
// owner) pins the device only while it is there; unplugging removes it, and
// the device is finalized.
func TestCrossOwnerRegionRemovedAtUnplug(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", ^uint64(0)))
	as := must[*AddressSpace](t)(s.NewAddressSpace(sysmem, "memory"))
	d := newTestDevice(t, reg, "dev0")
	mmio := m(s.NewIO(d, "mmio", 0x1000, nil))
	before := d.QOM().RefCount()
	check(t, sysmem.AddSubregion(0x1000, mmio))
	if got := d.QOM().RefCount(); got != before+1 {
		t.Fatalf("cross-owner subregion: refcount %d, want %d", got, before+1)
	}
	if as.View().Find(0x1000) == nil {
		t.Fatal("mmio not visible")
	}
	check(t, reg.Unplug(&d.Device))
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times, want 1", d.finalized)
	}
	if as.View().Find(0x1000) != nil {
		t.Fatal("mmio still visible after unplug")
	}
	if leaks := reg.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// C-13, DESIGN L2: an address space rooted at its owner's own region does
// not keep the owner alive.
func TestSelfRootedAddressSpaceDoesNotPinOwner(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	root := must[*Region](t)(s.NewContainer(d, "bus master container", ^uint64(0)))
	ram := must[*Region](t)(s.NewRAM(d, "ram", 0x1000))
	check(t, root.AddSubregion(0, ram))
	as := must[*AddressSpace](t)(s.NewOwnedAddressSpace(d, root, "dev0-dma"))
	check(t, reg.Unplug(&d.Device))
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times, want 1", d.finalized)
	}
	if !as.Destroyed() {
		t.Fatal("owned address space not destroyed")
	}
	if leaks := reg.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// DESIGN L5: with a reader inside, the unplugged device is finalized only
// after the reader leaves.
func TestUnplugWaitsForReader(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", ^uint64(0)))
	_ = must[*AddressSpace](t)(s.NewAddressSpace(sysmem, "memory"))
	d := newTestDevice(t, reg, "dev0")
	check(t, sysmem.AddSubregion(0x1000, m(s.NewIO(d, "mmio", 0x1000, nil))))
	rd := s.NewReader()
	defer rd.Close()
	rd.Enter()
	check(t, reg.Unplug(&d.Device))
	if d.finalized != 0 {
		t.Fatal("device finalized while a reader was inside")
	}
	rd.Exit()
	synchronize(s)
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times after the grace period, want 1", d.finalized)
	}
	if leaks := reg.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}
