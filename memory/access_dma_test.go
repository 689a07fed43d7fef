package memory

import (
	"bytes"
	"errors"
	"testing"
)

// accReclaim performs pending releases (DMA unmaps are released at the next
// reclaim, under the lock).
func accReclaim(s *System) {
	s.Lock()
	s.Synchronize()
	s.Unlock()
}

// R-ACC-9: a direct mapping is the RAM's host memory, extended over the
// following pieces that continue the same region, and stops where the
// region or its contiguity ends; reads and writes through it are the
// guest's memory.
func TestMapDirect(t *testing.T) {
	f := newAccFix(t)
	ram := f.must(f.s.NewRAM(nil, "ram", 0x4000))
	// Two aliases that continue each other, then a gap in the region.
	f.add(0x10000, f.must(f.s.NewAlias(nil, "lo", ram, 0, 0x1000)))
	f.add(0x11000, f.must(f.s.NewAlias(nil, "mid", ram, 0x1000, 0x1000)))
	f.add(0x12000, f.must(f.s.NewAlias(nil, "far", ram, 0x3000, 0x1000)))
	copy(ram.Host()[0xff8:], "abcdefghijklmnop")

	tests := []struct {
		addr, n uint64
		write   bool
		want    uint64 // mapped length
	}{
		{0x10ff8, 0x10, false, 0x10},     // across lo and mid
		{0x10000, 0x3000, false, 0x2000}, // stops where far breaks contiguity
		{0x11800, 0x1000, true, 0x800},
		{0x12000, 0x2000, false, 0x1000}, // stops at the end of the region's range
	}
	for _, tt := range tests {
		m, err := f.as.Map(tt.addr, tt.n, tt.write, Attrs{})
		check(t, err)
		if m.Bounce() || uint64(len(m.Bytes())) != tt.want {
			t.Errorf("Map(%#x, %#x): bounce=%v len %#x, want direct %#x", tt.addr, tt.n, m.Bounce(), len(m.Bytes()), tt.want)
		}
		if tt.addr == 0x10ff8 && string(m.Bytes()) != "abcdefghijklmnop" {
			t.Errorf("mapped bytes %q", m.Bytes())
		}
		if tt.write {
			copy(m.Bytes(), "written")
			check(t, m.Unmap(7))
			if string(ram.Host()[0x1800:0x1807]) != "written" {
				t.Errorf("write mapping did not reach RAM")
			}
		} else {
			check(t, m.Unmap(0))
		}
		if err := m.Unmap(0); err == nil {
			t.Errorf("second Unmap succeeded")
		}
	}
	// A read mapping of a ROM is direct; a write mapping is a bounce buffer.
	rom := f.add(0x20000, f.must(f.s.NewROM(nil, "rom", 0x1000)))
	copy(rom.Host(), "ROM!")
	m := must[*Mapping](t)(f.as.Map(0x20000, 4, false, Attrs{}))
	if m.Bounce() || string(m.Bytes()) != "ROM!" {
		t.Errorf("ROM read mapping: bounce=%v %q", m.Bounce(), m.Bytes())
	}
	check(t, m.Unmap(0))
	m = must[*Mapping](t)(f.as.Map(0x20000, 4, true, Attrs{}))
	if !m.Bounce() {
		t.Errorf("ROM write mapping is direct")
	}
	copy(m.Bytes(), "XXXX")
	check(t, m.Unmap(4)) // written back: dropped by the ROM (R-UNAS-3)
	if string(rom.Host()[:4]) != "ROM!" {
		t.Errorf("ROM changed through a mapping")
	}
	if _, err := f.as.Map(0, 0, false, Attrs{}); err == nil {
		t.Errorf("Map of 0 bytes succeeded")
	}
	f.takeEvents()
	accReclaim(f.s)
	f.noLeaks()
}

// R-ACC-9: anything not direct is a bounce buffer: read in advance for a
// read mapping, written back (only the bytes accessed) at Unmap for a write
// mapping. The space lends at most BounceLimit bytes at a time; a mapping
// gets what is left of that budget.
func TestMapBounce(t *testing.T) {
	f := newAccFix(t)
	rec := &accRec{value: accPattern}
	f.io("dev", 0x1000, 0x100, rec.ops(LittleEndian, AccessSizes{Max: 4}, AccessSizes{}))
	m := must[*Mapping](t)(f.as.Map(0x1000, 8, false, Attrs{}))
	if !m.Bounce() || !bytes.Equal(m.Bytes(), []byte{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17}) {
		t.Fatalf("read bounce: %v % x", m.Bounce(), m.Bytes())
	}
	if got := rec.take(); got != "r4@0x0 r4@0x4" {
		t.Fatalf("pre-read calls %q", got)
	}
	check(t, m.Unmap(8))
	if got := rec.take(); got != "" {
		t.Fatalf("read mapping wrote back: %q", got)
	}
	m = must[*Mapping](t)(f.as.Map(0x1010, 8, true, Attrs{}))
	if got := rec.take(); got != "" {
		t.Fatalf("write mapping read in advance: %q", got)
	}
	copy(m.Bytes(), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	check(t, m.Unmap(6))
	if got := rec.take(); got != "w4@0x10=0x4030201 w2@0x14=0x605" {
		t.Fatalf("write-back calls %q", got)
	}

	// The budget, over unassigned space (write mappings: nothing to read).
	big := must[*Mapping](t)(f.as.Map(0x100000, 0xc000, true, Attrs{}))
	rest := must[*Mapping](t)(f.as.Map(0x200000, 0x8000, true, Attrs{}))
	if len(big.Bytes()) != 0xc000 || len(rest.Bytes()) != BounceLimit-0xc000 {
		t.Fatalf("bounce lengths %#x %#x", len(big.Bytes()), len(rest.Bytes()))
	}
	if _, err := f.as.Map(0x300000, 1, true, Attrs{}); !errors.Is(err, ErrBounceBusy) {
		t.Fatalf("map beyond the budget: %v", err)
	}
	check(t, rest.Unmap(0))
	again := must[*Mapping](t)(f.as.Map(0x300000, 0x10000, true, Attrs{}))
	if len(again.Bytes()) != BounceLimit-0xc000 {
		t.Fatalf("after an unmap: %#x", len(again.Bytes()))
	}
	check(t, again.Unmap(0))
	check(t, big.Unmap(0))
	if n := f.as.bounceUsed.Load(); n != 0 {
		t.Fatalf("bounce budget left in use: %d", n)
	}
	accReclaim(f.s)
	f.noLeaks()
}

// R-ACC-9, R-LIFE-1: a mapping of another owner's RAM holds that owner
// until Unmap: the unplugged device is finalized, and its RAM freed, only
// after the mapping ends. A RAM region finalized while mapped keeps its
// host memory until the last Unmap.
func TestMapPinsOwner(t *testing.T) {
	f := newAccFix(t)
	d := newTestDevice(t, f.reg, "nic")
	ram := f.add(0x10000, f.must(f.s.NewRAM(d, "nic-ram", 0x1000)))
	m := must[*Mapping](t)(f.as.Map(0x10000, 0x1000, true, Attrs{}))
	check(t, f.reg.Unplug(&d.Device))
	accReclaim(f.s)
	if d.finalized != 0 || ram.ram.freed {
		t.Fatalf("device finalized (%d) or RAM freed (%v) while mapped", d.finalized, ram.ram.freed)
	}
	copy(m.Bytes(), "still mine")
	check(t, m.Unmap(10))
	accReclaim(f.s)
	if d.finalized != 1 || !ram.ram.freed {
		t.Fatalf("after unmap: finalized %d, RAM freed %v", d.finalized, ram.ram.freed)
	}

	// An ownerless RAM region unparented while mapped.
	board := f.ram("board", 0x20000, 0x1000)
	m = must[*Mapping](t)(f.as.Map(0x20000, 0x100, false, Attrs{}))
	board.Unparent()
	accReclaim(f.s)
	if !board.Finalized() || board.ram.freed {
		t.Fatalf("region finalized %v, RAM freed %v while mapped", board.Finalized(), board.ram.freed)
	}
	check(t, m.Unmap(0))
	if !board.ram.freed {
		t.Fatal("RAM not freed by the last Unmap")
	}
	accReclaim(f.s)
	f.noLeaks()
}

// DESIGN L2: a device mapping its own RAM persistently (MapFor with itself
// as requester) does not keep itself alive: unplugged, it is finalized,
// the mapping ends with it, and the RAM is freed only after that.
func TestMapForSelf(t *testing.T) {
	f := newAccFix(t)
	d := newTestDevice(t, f.reg, "gpu")
	ram := f.add(0x10000, f.must(f.s.NewRAM(d, "gpu-ram", 0x2000)))
	before := d.QOM().RefCount()
	m := must[*Mapping](t)(f.as.MapFor(d, 0x10000, 0x2000, true, Attrs{}))
	if d.QOM().RefCount() != before {
		t.Fatalf("self mapping took a reference: %d -> %d", before, d.QOM().RefCount())
	}
	// Another device's mapping of it does pin it.
	other := newTestDevice(t, f.reg, "dma-engine")
	om := must[*Mapping](t)(f.as.MapFor(other, 0x10000, 0x10, false, Attrs{}))
	if d.QOM().RefCount() != before+1 {
		t.Fatalf("foreign mapping: refcount %d, want %d", d.QOM().RefCount(), before+1)
	}
	check(t, om.Unmap(0))
	accReclaim(f.s)

	copy(m.Bytes(), "framebuffer")
	if ram.ram.freed {
		t.Fatal("RAM freed while the device lives")
	}
	check(t, f.reg.Unplug(&d.Device))
	accReclaim(f.s)
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times", d.finalized)
	}
	if m.Bytes() != nil || !ram.ram.freed {
		t.Fatalf("after finalize: mapping %d bytes, RAM freed %v", len(m.Bytes()), ram.ram.freed)
	}
	if err := m.Unmap(0); err == nil {
		t.Fatal("Unmap after the automatic unmap succeeded")
	}
	check(t, f.reg.Unplug(&other.Device))
	accReclaim(f.s)
	f.noLeaks()
}

// The Cache: a direct translation of a range used while the space shows the
// same view; remapping under it makes the next access translate again.
func TestCacheRevalidates(t *testing.T) {
	f := newAccFix(t)
	a := f.ram("a", 0x10000, 0x1000)
	b := f.must(f.s.NewRAM(nil, "b", 0x1000))
	copy(a.Host()[0x100:], "AAAA")
	copy(b.Host()[0x100:], "BBBB")
	rd := f.s.NewReader()
	defer rd.Close()
	c := must[*Cache](t)(f.as.NewCache(0x10100, 0x10, true))
	buf := make([]byte, 4)
	if res := c.Read(rd, 0, buf, Attrs{}); res != OK || string(buf) != "AAAA" || !c.Valid() {
		t.Fatalf("first read: %v %q valid=%v", res, buf, c.Valid())
	}
	// Remap: b replaces a at the same address.
	f.s.Begin()
	check(t, f.root.DelSubregion(a))
	check(t, f.root.AddSubregion(0x10000, b))
	check(t, f.s.Commit())
	if c.Valid() {
		t.Fatal("cache valid across a view change")
	}
	if res := c.Read(rd, 0, buf, Attrs{}); res != OK || string(buf) != "BBBB" || !c.Valid() {
		t.Fatalf("after remap: %v %q valid=%v", res, buf, c.Valid())
	}
	if res := c.Write(rd, 2, []byte("xy"), Attrs{}); res != OK || string(b.Host()[0x100:0x104]) != "BBxy" {
		t.Fatalf("write: %v %q", res, b.Host()[0x100:0x104])
	}
	// Beyond the cached range: an ordinary access.
	if res := c.Read(rd, 0x20, buf, Attrs{}); res != OK {
		t.Fatalf("read past the cached range: %v", res)
	}
	// Remove the RAM: the cache now sees unassigned space.
	check(t, f.root.DelSubregion(b))
	if res := c.Read(rd, 0, buf, Attrs{}); res != DecodeError || c.Valid() {
		t.Fatalf("after removal: %v valid=%v", res, c.Valid())
	}
	// A cache over MMIO is never direct.
	rec := &accRec{value: accPattern}
	f.io("dev", 0x10000, 0x1000, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{}))
	if res := c.Read(rd, 0, buf, Attrs{}); res != OK || c.Valid() || rec.take() != "r4@0x100" {
		t.Fatalf("MMIO through a cache: %v valid=%v", res, c.Valid())
	}
	// A read-only cache writes through the ordinary path.
	ro := must[*Cache](t)(f.as.NewCache(0x10100, 4, false))
	if res := ro.Write(rd, 0, []byte{1, 2, 3, 4}, Attrs{}); res != OK || rec.take() != "w4@0x100=0x4030201" {
		t.Fatalf("write through a read-only cache: %v", res)
	}
	if _, err := f.as.NewCache(^uint64(0), 2, false); err == nil {
		t.Fatal("a wrapping cache range was accepted")
	}
	f.takeEvents()
	f.noLeaks()
}
