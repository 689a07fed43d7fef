package memory

import (
	"fmt"
	"strings"
	"testing"
)

// accIOMMUFix is a DMA address space whose root holds one IOMMU region of
// 64 KiB translating, page by page, onto the system space at +0x100000,
// where 64 KiB of RAM and a device live.
type accIOMMUFix struct {
	*accFix
	mmu    *accIOMMU
	iommu  *Region
	dma    *AddressSpace
	ram    *Region
	dev    *accRec
	devReg *Region
}

func newAccIOMMUFix(t *testing.T, perm IOMMUAccess) *accIOMMUFix {
	f := &accIOMMUFix{accFix: newAccFix(t)}
	registerAccIOMMUType(t, f.accFix)
	f.ram = f.accFix.ram("ram", 0x100000, 0x10000)
	f.dev = &accRec{value: accPattern}
	f.devReg = f.io("dev", 0x110000, 0x2000, f.dev.ops(LittleEndian, AccessSizes{Max: 8}, AccessSizes{Max: 8}))
	f.mmu = &accIOMMU{target: f.as, shift: 0x100000, page: 0x1000, perm: perm}
	f.iommu = f.must(f.s.NewIOMMU(nil, "acc-iommu", "iommu", 0x20000, f.mmu))
	dmaRoot := f.must(f.s.NewContainer(nil, "dma-root", ^uint64(0)))
	check(t, dmaRoot.AddSubregion(0, f.iommu))
	f.dma = must[*AddressSpace](t)(f.s.NewAddressSpace(dmaRoot, "dma"))
	return f
}

// R-IOMMU-1: an access landing in an IOMMU region is translated with the
// direction asked for; the new address keeps the bits under the page mask;
// each step stops at the end of its page; lookup continues in the target
// space. Without the permission, or when the translator panics, the access
// finds the unassigned region.
func TestIOMMUTranslation(t *testing.T) {
	f := newAccIOMMUFix(t, IOMMURO)
	copy(f.ram.Host()[0xff8:], "abcdefghijklmnop")
	rd := f.s.NewReader()
	defer rd.Close()

	buf := make([]byte, 16)
	if res := rd.Read(f.dma, 0xff8, buf, Attrs{}); res != OK || string(buf) != "abcdefghijklmnop" {
		t.Fatalf("read through the IOMMU: %v %q", res, buf)
	}
	if f.mmu.calls != 2 || strings.Join(f.mmu.seen, " ") != "1/0 1/0" {
		t.Fatalf("translations %d %v, want two reads at index 0 (one per page)", f.mmu.calls, f.mmu.seen)
	}
	// Read-only mapping: a write finds nothing (the IOMMU offset is kept).
	if res := rd.Write(f.dma, 0x10, []byte{1, 2, 3, 4}, Attrs{}); res != DecodeError {
		t.Fatalf("write through a read-only mapping: %v", res)
	}
	if ev := f.takeEvents(); len(ev) != 1 || ev[0] != "Invalid write at addr 0x10, size 4, region '(null)', reason: rejected" {
		t.Fatalf("events %q", ev)
	}
	// MMIO behind the IOMMU: steps bounded by the page, then R-SIZE-1.
	if res := rd.Read(f.dma, 0x10ffe, make([]byte, 8), Attrs{}); res != OK {
		t.Fatalf("MMIO through the IOMMU: %v", res)
	}
	if got := f.dev.take(); got != "r2@0xffe r4@0x1000 r2@0x1004" {
		t.Fatalf("device calls %q", got)
	}
	// A typed access crossing the page: translation is shorter than the
	// access, so it is dispatched to the RAM leaf (R-ACC-7's quirk).
	if v, res := rd.Load(f.dma, 0xffe, 4, LittleEndian, Attrs{}); res != DecodeError || v != 0 {
		t.Fatalf("typed load across an IOMMU page: %#x %v", v, res)
	}
	if v, res := rd.Load(f.dma, 0xff8, 8, BigEndian, Attrs{}); res != OK || v != 0x6162636465666768 {
		t.Fatalf("typed load in a page: %#x %v", v, res)
	}
	f.takeEvents()
	f.noLeaks()
}

// R-IOMMU-1: the IOMMU index comes from the attributes when the IOMMU
// implements IOMMUIndexer (QEMU's attrs_to_index), else 0; translation
// chains through several IOMMUs; a loop ends as unassigned; a panicking
// translator makes the access fail without crashing.
func TestIOMMUIndexChainsAndFailures(t *testing.T) {
	f := newAccIOMMUFix(t, IOMMURW)
	rd := f.s.NewReader()
	defer rd.Close()

	// Index.
	idx := accIndexedIOMMU{&accIOMMU{target: f.as, shift: 0x100000, page: 0x1000, perm: IOMMURW,
		index: func(a Attrs) int {
			if a.Secure {
				return 1
			}
			return 0
		}}}
	sec := f.must(f.s.NewIOMMU(nil, "acc-iommu", "sec-iommu", 0x10000, idx))
	secRoot := f.must(f.s.NewContainer(nil, "sec-root", ^uint64(0)))
	check(t, secRoot.AddSubregion(0, sec))
	secAS := must[*AddressSpace](t)(f.s.NewAddressSpace(secRoot, "secure-dma"))
	rd.Write(secAS, 0, []byte{1}, Attrs{Secure: true})
	rd.Read(secAS, 0, make([]byte, 1), Attrs{})
	if got := strings.Join(idx.seen, " "); got != "2/1 1/0" {
		t.Fatalf("translations %q, want a secure write then a normal read", got)
	}

	// Chain: outer IOMMU -> the dma space (another IOMMU) -> system.
	outerMMU := &accIOMMU{target: f.dma, shift: 0x2000, page: 0x1000, perm: IOMMURW}
	outer := f.must(f.s.NewIOMMU(nil, "acc-iommu", "outer", 0x1000, outerMMU))
	outerRoot := f.must(f.s.NewContainer(nil, "outer-root", ^uint64(0)))
	check(t, outerRoot.AddSubregion(0, outer))
	outerAS := must[*AddressSpace](t)(f.s.NewAddressSpace(outerRoot, "outer"))
	copy(f.ram.Host()[0x2004:], "hop!")
	buf := make([]byte, 4)
	if res := rd.Read(outerAS, 4, buf, Attrs{}); res != OK || string(buf) != "hop!" {
		t.Fatalf("two hops: %v %q", res, buf)
	}

	// A loop: the IOMMU translates into its own space.
	loopMMU := &accIOMMU{page: 0x1000, perm: IOMMURW}
	loop := f.must(f.s.NewIOMMU(nil, "acc-iommu", "loop", 0x1000, loopMMU))
	loopRoot := f.must(f.s.NewContainer(nil, "loop-root", ^uint64(0)))
	check(t, loopRoot.AddSubregion(0, loop))
	loopAS := must[*AddressSpace](t)(f.s.NewAddressSpace(loopRoot, "loop"))
	loopMMU.target = loopAS
	if res := rd.Read(loopAS, 0, buf, Attrs{}); res != DecodeError {
		t.Fatalf("translation loop: %v", res)
	}
	if loopMMU.calls != maxIOMMUHops {
		t.Fatalf("loop translated %d times", loopMMU.calls)
	}

	f.takeEvents()

	// A translator that panics.
	f.mmu.panics = true
	if res := rd.Read(f.dma, 0x10, buf, Attrs{}); res != DecodeError {
		t.Fatalf("panicking translator: %v", res)
	}
	if rd.depth != 0 || rd.nest != 0 {
		t.Fatalf("reader left inside")
	}
	ev := f.takeEvents()
	if len(ev) != 2 || ev[0] != "Device callback panicked on read at addr 0x10, size 0, region 'iommu': translator broke" {
		t.Fatalf("events %q", ev)
	}
	if c := f.s.AccessEventCounts(); c.Panics != 1 {
		t.Fatalf("panics %d", c.Panics)
	}
	f.noLeaks()
}

// R-ACC-9 through an IOMMU: a direct mapping extends over following pages
// that continue the same region (flatview_extend_translation).
func TestMapThroughIOMMU(t *testing.T) {
	f := newAccIOMMUFix(t, IOMMURW)
	copy(f.ram.Host()[0xff0:], "0123456789abcdefghijklmnopqrstuv")
	m := must[*Mapping](t)(f.dma.Map(0xff0, 0x20, false, Attrs{}))
	if m.Bounce() || string(m.Bytes()) != "0123456789abcdefghijklmnopqrstuv" {
		t.Fatalf("mapping: bounce=%v %q", m.Bounce(), m.Bytes())
	}
	check(t, m.Unmap(0))
	f.s.Lock()
	f.s.Reclaim()
	f.s.Unlock()
	f.noLeaks()
}

// R-IOMMU-2: notifiers registered on an alias land on the IOMMU region;
// events are clipped to each notifier's range and delivered only for the
// kinds it asked for.
func TestIOMMUNotifiers(t *testing.T) {
	f := newAccIOMMUFix(t, IOMMURW)
	alias := f.must(f.s.NewAlias(nil, "iommu-alias", f.iommu, 0, 0x20000))
	var got []string
	mk := func(name string, start, end uint64, mapEv, unmapEv bool) *IOMMUNotifier {
		return &IOMMUNotifier{Start: start, End: end, Map: mapEv, Unmap: unmapEv, Notify: func(ev IOMMUEvent) {
			kind := "map"
			if ev.Unmap {
				kind = "unmap"
			}
			got = append(got, fmt.Sprintf("%s:%s iova=%#x mask=%#x xlat=%#x", name, kind, ev.Entry.IOVA, ev.Entry.AddrMask, ev.Entry.TranslatedAddr))
		}}
	}
	all := mk("all", 0, ^uint64(0), true, true)
	part := mk("part", 0x1800, 0x2fff, true, true)
	unmaps := mk("unmaps", 0, ^uint64(0), false, true)
	far := mk("far", 0x8000, 0x8fff, true, true)
	for _, n := range []*IOMMUNotifier{all, part, unmaps} {
		check(t, alias.AddIOMMUNotifier(n))
	}
	check(t, f.iommu.AddIOMMUNotifier(far))
	if err := f.ram.AddIOMMUNotifier(mk("bad", 0, 1, true, true)); err == nil {
		t.Fatal("notifier on a RAM region accepted")
	}
	f.iommu.NotifyIOMMU(IOMMUEvent{Entry: IOTLBEntry{IOVA: 0x1000, TranslatedAddr: 0x101000, AddrMask: 0xfff, Perm: IOMMURW}})
	f.iommu.NotifyIOMMU(IOMMUEvent{Unmap: true, Entry: IOTLBEntry{IOVA: 0x2000, AddrMask: 0x1fff}})
	want := []string{
		"all:map iova=0x1000 mask=0xfff xlat=0x101000",
		"part:map iova=0x1800 mask=0x7ff xlat=0x101800",
		"all:unmap iova=0x2000 mask=0x1fff xlat=0x0",
		"part:unmap iova=0x2000 mask=0xfff xlat=0x0",
		"unmaps:unmap iova=0x2000 mask=0x1fff xlat=0x0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("notifications:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	alias.RemoveIOMMUNotifier(part)
	got = nil
	f.iommu.NotifyIOMMU(IOMMUEvent{Entry: IOTLBEntry{IOVA: 0x2000, AddrMask: 0xfff}})
	if len(got) != 1 || !strings.HasPrefix(got[0], "all:") {
		t.Fatalf("after removal: %q", got)
	}
	f.noLeaks()
}
