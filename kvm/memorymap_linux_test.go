//go:build linux && amd64

package kvm

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"pgregory.net/rapid"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/qom"
)

// fataler is what the helpers need of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// mapMachine is a memory system with one address space, "memory", rooted at
// the container "system", whose slots a MemoryMap follows.
type mapMachine struct {
	reg    *qom.Registry
	sys    *memory.System
	system *memory.Region
	as     *memory.AddressSpace
	vm     *VM
	mm     *MemoryMap

	highWater int // the most slots the map has had at once
}

// newMapMachine builds a mapMachine on vm; the map is attached with the
// system's lock held and the lock is released on return.
func newMapMachine(t fataler, vm *VM) *mapMachine {
	t.Helper()
	reg := qom.NewRegistry()
	if err := reg.Register(qom.TypeInfo{Name: "kvm-test-machine", Parent: qom.TypeMachine}); err != nil {
		t.Fatalf("%v", err)
	}
	if _, err := reg.NewMachine("kvm-test-machine"); err != nil {
		t.Fatalf("%v", err)
	}
	sys, err := memory.NewSystem(reg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	m := &mapMachine{reg: reg, sys: sys, vm: vm}
	sys.Lock()
	defer sys.Unlock()
	if m.system, err = sys.NewContainer(nil, "system", ^uint64(0)); err != nil {
		t.Fatalf("%v", err)
	}
	if m.as, err = sys.NewAddressSpace(m.system, "memory"); err != nil {
		t.Fatalf("%v", err)
	}
	if m.mm, err = vm.AttachMemory(m.as); err != nil {
		t.Fatalf("AttachMemory: %v", err)
	}
	return m
}

// ram creates a RAM region (the lock must be held).
func (m *mapMachine) ram(t fataler, name string, size uint64) *memory.Region {
	t.Helper()
	r, err := m.sys.NewRAM(nil, name, size)
	if err != nil {
		t.Fatalf("NewRAM %s: %v", name, err)
	}
	return r
}

// add maps r in the system container (the lock must be held).
func (m *mapMachine) add(t fataler, addr uint64, r *memory.Region, prio int32) {
	t.Helper()
	if err := m.system.AddSubregionOverlap(addr, r, prio); err != nil {
		t.Fatalf("add %s at %#x: %v", r.Name(), addr, err)
	}
}

// modelKey is a slot as the test's own model of the rules sees it.
type modelKey struct {
	gpa, size uint64
	host      uintptr
	readOnly  bool // KVM cannot change it on a slot: a change is a new slot
}

// modelSlots is an independent statement of which slots a view needs: the
// whole pages of every RAM, RAM device, ROM and romd-mode ROM device range
// whose host memory is page-aligned with the guest address; read-only for
// ROMs, ROM devices and readonly ranges; logging dirty pages for writable
// ranges with a dirty mask. (The views of these tests stay clear of KVM's
// reserved pages at 0xfeffc000.)
func modelSlots(v *memory.FlatView) map[modelKey]SlotFlags {
	out := map[modelKey]SlotFlags{}
	for _, fr := range v.Ranges() {
		var ro bool
		switch fr.Region.Kind() {
		case memory.KindRAM, memory.KindRAMDevice:
			ro = fr.Readonly
		case memory.KindROM:
			ro = true
		case memory.KindROMDevice:
			if !fr.RomdMode {
				continue
			}
			ro = true
		default:
			continue
		}
		lo := (fr.Start + pageSize - 1) &^ (pageSize - 1)
		hi := (fr.Last + 1) &^ (pageSize - 1)
		if hi <= lo {
			continue
		}
		off := fr.Offset + (lo - fr.Start)
		host := uintptr(unsafe.Pointer(unsafe.SliceData(fr.Region.Host()))) + uintptr(off)
		if host%pageSize != 0 {
			continue
		}
		var f SlotFlags
		if ro {
			f = ReadOnly
		} else if fr.DirtyLogMask != 0 {
			f = LogDirty
		}
		out[modelKey{lo, hi - lo, host, ro}] = f
	}
	return out
}

// slotsNow returns the map's slots in the model's terms.
func (m *mapMachine) slotsNow() map[modelKey]SlotFlags {
	out := map[modelKey]SlotFlags{}
	for _, s := range m.mm.Slots() {
		host := uintptr(unsafe.Pointer(unsafe.SliceData(s.Region.Host()))) + uintptr(s.Offset)
		out[modelKey{s.GuestPhys, s.Size, host, s.Flags&ReadOnly != 0}] = s.Flags
	}
	return out
}

// diffSize is the number of slot ioctls that turn slots a into b: one per
// slot deleted, added, or kept with other flags.
func diffSize(a, b map[modelKey]SlotFlags) int {
	n := 0
	for k, fa := range a {
		if fb, ok := b[k]; !ok || fa != fb {
			n++
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			n++
		}
	}
	return n
}

// check verifies the map after a commit that turned the slots from before
// into the current view (with opsBefore ioctls issued until then): no error,
// the slots equal the view by Compare and by the model, exactly the
// difference was issued as ioctls, slot numbers stay below the high-water
// mark, and the VM's own record of its slots agrees. Requires the lock.
func (m *mapMachine) check(t fataler, what string, before map[modelKey]SlotFlags, opsBefore int) {
	t.Helper()
	if err := m.mm.Err(); err != nil {
		t.Fatalf("%s: Err = %v", what, err)
	}
	if err := m.mm.Compare(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	want := modelSlots(m.as.View())
	got := m.slotsNow()
	if !maps.Equal(got, want) {
		t.Fatalf("%s: slots\n%v\nwant (model)\n%v\nview:\n%s", what, got, want, infoMtreeF(t, m.sys, m.mm))
	}
	if d, ops := diffSize(before, got), m.mm.Ops()-opsBefore; ops != d {
		t.Fatalf("%s: %d slot ioctls for a difference of %d slots (before %v, after %v)", what, ops, d, before, got)
	}
	m.highWater = max(m.highWater, len(got))
	for _, s := range m.mm.Slots() {
		if int(s.ID) >= m.highWater {
			t.Fatalf("%s: slot number %d is not reused: never more than %d slots at once", what, s.ID, m.highWater)
		}
	}
	m.checkVM(t, what)
}

// checkVM compares the VM's slot table with the map's slots.
func (m *mapMachine) checkVM(t fataler, what string) {
	t.Helper()
	slots := m.mm.Slots()
	m.vm.mu.Lock()
	defer m.vm.mu.Unlock()
	if len(m.vm.slots) != len(slots) {
		t.Fatalf("%s: the VM has %d slots, the map %d", what, len(m.vm.slots), len(slots))
	}
	for _, s := range slots {
		v, ok := m.vm.slots[s.ID]
		host := uintptr(unsafe.Pointer(unsafe.SliceData(s.Region.Host()))) + uintptr(s.Offset)
		if !ok || v.guestPhys != s.GuestPhys || uint64(len(v.host)) != s.Size || v.flags != s.Flags || v.hostAddr() != host {
			t.Fatalf("%s: map slot %+v, VM slot %d: %+v (set %v)", what, s, s.ID, v, ok)
		}
	}
}

// step runs f (a topology change) with the lock held and checks the map.
func (m *mapMachine) step(t fataler, what string, f func()) {
	t.Helper()
	m.sys.Lock()
	defer m.sys.Unlock()
	before, ops, slots := m.slotsNow(), m.mm.Ops(), m.mm.Slots()
	f()
	if err := m.mm.Err(); err != nil && strings.Contains(err.Error(), "memory slots but only") {
		m.checkRefused(t, what, slots, ops)
		return
	}
	m.check(t, what, before, ops)
}

// checkRefused verifies the map after a commit it refused for lack of
// slots (before: the slots until then, opsBefore: the ioctls until then):
// the view really needs more slots than the limit, and the slots are the
// old ones but for those whose region left the view, which were deleted.
// Requires the lock.
func (m *mapMachine) checkRefused(t fataler, what string, before []SlotInfo, opsBefore int) {
	t.Helper()
	if n := len(modelSlots(m.as.View())); n <= m.mm.Limit() {
		t.Fatalf("%s: refused (%v) though the view needs %d slots of %d", what, m.mm.Err(), n, m.mm.Limit())
	}
	live := map[*memory.Region]bool{}
	for _, fr := range m.as.View().Ranges() {
		live[fr.Region] = true
	}
	var want []SlotInfo
	for _, s := range before {
		if live[s.Region] {
			want = append(want, s)
		}
	}
	if got := m.mm.Slots(); !slices.Equal(got, want) || m.mm.Ops()-opsBefore != len(before)-len(want) {
		t.Fatalf("%s: refused commit left slots\n%+v\nafter %d ioctls; want\n%+v", what, got, m.mm.Ops()-opsBefore, want)
	}
	m.checkVM(t, what)
}

// infoMtreeF returns `info mtree -f` as package mtree prints it, with
// " kvm" after every range of mm's address space that mm maps whole, as
// QEMU prints it under KVM (R-MTREEF-2 item 7; mtree leaves that column to
// the accelerator). Requires the lock.
func infoMtreeF(t fataler, sys *memory.System, mm *MemoryMap) string {
	t.Helper()
	var b strings.Builder
	if err := mtree.WriteLocked(&b, sys, mtree.Options{Flat: true}); err != nil {
		t.Fatalf("mtree: %v", err)
	}
	lines := strings.SplitAfter(b.String(), "\n")
	mine := false
	for i, l := range lines {
		var first, last uint64
		switch {
		case strings.HasPrefix(l, "FlatView #"):
			mine = false
		case strings.HasPrefix(l, ` AS "`+mm.as.Name()+`"`):
			mine = true
		case mine && strings.HasPrefix(l, "  "):
			if _, err := fmt.Sscanf(l, "  %x-%x ", &first, &last); err == nil && mm.HasMemory(first, last-first+1) {
				lines[i] = strings.TrimSuffix(l, "\n") + " kvm\n"
			}
		}
	}
	return strings.Join(lines, "")
}

// parseFlatDump reads the range lines of an `info mtree -f` text back and
// returns the pages KVM must map: the whole pages of every line whose type
// is directly mapped memory ("ram", "rom", "romd", "ramd") and whose guest
// address and offset in the region (" @offset") are page-aligned alike (the
// regions' host memory starts on a page).
func parseFlatDump(t *testing.T, text string) map[uint64]bool {
	t.Helper()
	pages := map[uint64]bool{}
	for _, line := range strings.Split(text, "\n") {
		var first, last, off uint64
		var prio int
		var typ string
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "  No rendered") {
			continue
		}
		line = strings.TrimSpace(line)
		if _, err := fmt.Sscanf(line, "%x-%x (prio %d, %s", &first, &last, &prio, &typ); err != nil {
			t.Fatalf("cannot parse %q: %v", line, err)
		}
		if i := strings.Index(line, " @"); i >= 0 {
			if _, err := fmt.Sscanf(line[i:], " @%x", &off); err != nil {
				t.Fatalf("cannot parse the offset of %q: %v", line, err)
			}
		}
		switch strings.TrimSuffix(strings.TrimPrefix(typ, "nv-"), "):") {
		case "ram", "rom", "romd", "ramd":
		default:
			continue
		}
		if (first-off)%pageSize != 0 {
			continue
		}
		for p := (first + pageSize - 1) &^ (pageSize - 1); p+pageSize-1 <= last; p += pageSize {
			pages[p] = true
		}
	}
	return pages
}

// testOps are MMIO callbacks that read a constant and ignore writes.
var testOps = &memory.Ops{
	Read:       func(uint64, uint, memory.Attrs) (uint64, memory.Result) { return 0x5a5a5a5a, memory.OK },
	Write:      func(uint64, uint64, uint, memory.Attrs) memory.Result { return memory.OK },
	Endianness: memory.LittleEndian,
}

// TestMemoryMapMatchesFlatView builds a view with every kind of range and
// compares the slots with the view printed as `info mtree -f` prints it:
// the text is fixed below, and each page of every RAM/ROM/romd line is in a
// slot, and nothing else is.
func TestMemoryMapMatchesFlatView(t *testing.T) {
	vm := newTestVM(t)
	m := newMapMachine(t, vm)
	m.step(t, "build", func() {
		s := m.sys
		s.Begin()
		defer func() {
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
		}()
		m.add(t, 0, m.ram(t, "ram", 0x100000), 0)
		// An MMIO hole in the RAM splits it.
		io, _ := s.NewIO(nil, "mmio-hole", 0x2000, testOps)
		m.add(t, 0x40000, io, 1)
		// Unaligned RAM: its host memory is not page-aligned with its
		// guest addresses, so all of it exits.
		m.add(t, 0x200800, m.ram(t, "odd-ram", 0x3000), 0)
		// A ROM, a ROM device in romd mode and one in callback mode.
		rom, _ := s.NewROM(nil, "rom", 0x4000)
		m.add(t, 0x300000, rom, 0)
		romd, _ := s.NewROMDevice(nil, "flash", 0x8000, testOps)
		m.add(t, 0x400000, romd, 0)
		romdOff, _ := s.NewROMDevice(nil, "flash-cmd", 0x1000, testOps)
		m.add(t, 0x410000, romdOff, 0)
		if err := romdOff.SetRomdMode(false); err != nil {
			t.Fatal(err)
		}
		// A readonly alias of the RAM, and an alias whose offset is not
		// page-aligned with its address (mapped by exits only).
		ramR := m.system.Subregions()[len(m.system.Subregions())-1]
		for _, sub := range m.system.Subregions() {
			if sub.Name() == "ram" {
				ramR = sub
			}
		}
		ro, _ := s.NewAlias(nil, "ram-ro", ramR, 0x10000, 0x4000)
		if err := ro.SetReadonly(true); err != nil {
			t.Fatal(err)
		}
		m.add(t, 0x500000, ro, 0)
		skew, _ := s.NewAlias(nil, "ram-skew", ramR, 0x20800, 0x2000)
		m.add(t, 0x600000, skew, 0)
		// A window that starts and ends inside pages, aligned with its
		// host memory: its whole pages are a slot, the partial ones exit.
		window, _ := s.NewAlias(nil, "ram-window", ramR, 0x30800, 0x3000)
		m.add(t, 0x700800, window, 0)
		// A logged RAM.
		vram := m.ram(t, "vram", 0x8000)
		if err := vram.SetLogVGA(true); err != nil {
			t.Fatal(err)
		}
		m.add(t, 0xa0000000, vram, 0)
	})
	m.sys.Lock()
	defer m.sys.Unlock()
	got := infoMtreeF(t, m.sys, m.mm)
	want := `FlatView #0
 AS "memory", root: system
 Root memory region: system
  0000000000000000-000000000003ffff (prio 0, ram): ram kvm
  0000000000040000-0000000000041fff (prio 1, i/o): mmio-hole
  0000000000042000-00000000000fffff (prio 0, ram): ram @0000000000042000 kvm
  0000000000200800-00000000002037ff (prio 0, ram): odd-ram
  0000000000300000-0000000000303fff (prio 0, rom): rom kvm
  0000000000400000-0000000000407fff (prio 0, romd): flash kvm
  0000000000410000-0000000000410fff (prio 0, i/o): flash-cmd
  0000000000500000-0000000000503fff (prio 0, rom): ram @0000000000010000 kvm
  0000000000600000-0000000000601fff (prio 0, ram): ram @0000000000020800
  0000000000700800-00000000007037ff (prio 0, ram): ram @0000000000030800
  00000000a0000000-00000000a0007fff (prio 0, ram): vram kvm

`
	if got != want {
		t.Errorf("info mtree -f with KVM's slots:\n%s\nwant:\n%s", got, want)
	}
	// Every page KVM may map by the text is in a slot; no slot maps
	// anything else.
	pages := parseFlatDump(t, got)
	for _, s := range m.mm.Slots() {
		for p := s.GuestPhys; p < s.GuestPhys+s.Size; p += pageSize {
			if !pages[p] {
				t.Errorf("slot %d maps page %#x, which no memory range of the view covers whole", s.ID, p)
			}
			delete(pages, p)
		}
	}
	for p := range pages {
		t.Errorf("page %#x of a memory range is in no slot", p)
	}
	flags := map[uint64]SlotFlags{}
	for _, s := range m.mm.Slots() {
		flags[s.GuestPhys] = s.Flags
	}
	wantFlags := map[uint64]SlotFlags{0: 0, 0x42000: 0, 0x300000: ReadOnly, 0x400000: ReadOnly,
		0x500000: ReadOnly, 0x701000: 0, 0xa0000000: LogDirty}
	if !maps.Equal(flags, wantFlags) {
		t.Errorf("slot flags by address %v, want %v", flags, wantFlags)
	}
}

// TestMemoryMapFollowsRandomTopology changes a random topology step by
// step: RAM, ROM, ROM devices (romd toggles), RAM devices (one over host
// memory that is not page-aligned), aliases (offset changes, readonly), a
// nested container, enable/disable, moves to addresses that are not
// page-aligned, priorities, VGA and global dirty logging, dirty log syncs,
// transactions. After every commit the slots equal the view, the ioctls
// issued are exactly the difference, and slot numbers are reused.
func TestMemoryMapFollowsRandomTopology(t *testing.T) {
	newTestVM(t) // skips without KVM
	aligned := guestMem(t, 0x8000)
	var checks, commits, ioctls, peak, refused int
	defer func() {
		t.Logf("%d topologies, %d checked commits (%d refused for lack of slots), %d slot ioctls, at most %d slots",
			checks, commits, refused, ioctls, peak)
	}()
	rapid.Check(t, func(rt *rapid.T) {
		checks++
		vm, err := NewVM()
		if err != nil {
			rt.Fatalf("NewVM: %v", err)
		}
		defer vm.Close()
		m := newMapMachine(rt, vm)
		if limit := rapid.SampledFrom([]int{0, 2, 3, 4, 6}).Draw(rt, "limit"); limit > 0 {
			m.mm.SetLimit(limit)
		}
		s := m.sys
		s.Lock()
		ram0 := m.ram(rt, "ram0", 0x100000)
		ram1 := m.ram(rt, "ram1", 0x10000)
		rom, _ := s.NewROM(nil, "rom", 0x4000)
		romd, _ := s.NewROMDevice(nil, "romd", 0x8000, testOps)
		io, _ := s.NewIO(nil, "io", 0x3000, testOps)
		ramd, _ := s.NewRAMDevice(nil, "ramd", 0x4000, aligned[:0x4000])
		ramdOdd, _ := s.NewRAMDevice(nil, "ramd-odd", 0x2000, aligned[0x4008:])
		a0, _ := s.NewAlias(nil, "a0", ram0, 0, 0x8000)
		a1, _ := s.NewAlias(nil, "a1", romd, 0x1000, 0x4000)
		c0, _ := s.NewContainer(nil, "c0", 0x100000)
		leaves := []*memory.Region{ram0, ram1, rom, romd, io, ramd, ramdOdd, a0, a1, c0}
		s.Unlock()
		vga := map[*memory.Region]int{}

		place := func(r *memory.Region) string {
			if r.Container() != nil {
				return ""
			}
			parent, span := m.system, uint64(32<<20)
			if r != c0 && rapid.Bool().Draw(rt, "into c0") {
				parent, span = c0, 0x100000
			}
			addr := uint64(rapid.IntRange(0, int(span/0x800)-1).Draw(rt, "slot")) * 0x800
			prio := int32(rapid.IntRange(-1, 2).Draw(rt, "prio"))
			_ = parent.AddSubregionOverlap(addr, r, prio)
			return fmt.Sprintf("add %s to %s at %#x prio %d", r.Name(), parent.Name(), addr, prio)
		}
		ops := []func() string{
			func() string { return place(rapid.SampledFrom(leaves).Draw(rt, "r")) },
			func() string {
				r := rapid.SampledFrom(leaves).Draw(rt, "r")
				if c := r.Container(); c != nil {
					_ = c.DelSubregion(r)
				}
				return "remove " + r.Name()
			},
			func() string {
				r := rapid.SampledFrom(leaves).Draw(rt, "r")
				addr := uint64(rapid.IntRange(0, 32<<10).Draw(rt, "addr")) * 0x400
				_ = r.SetAddress(addr)
				return fmt.Sprintf("move %s to %#x", r.Name(), addr)
			},
			func() string {
				r := rapid.SampledFrom(leaves).Draw(rt, "r")
				_ = r.SetEnabled(!r.Enabled())
				return fmt.Sprintf("%s enabled=%v", r.Name(), r.Enabled())
			},
			func() string {
				r := rapid.SampledFrom(leaves).Draw(rt, "r")
				_ = r.SetReadonly(!r.Readonly())
				return fmt.Sprintf("%s readonly=%v", r.Name(), r.Readonly())
			},
			func() string {
				_ = romd.SetRomdMode(!romd.RomdMode())
				return fmt.Sprintf("romd romd=%v", romd.RomdMode())
			},
			func() string {
				off := uint64(rapid.IntRange(0, (0x100000-0x8000)/0x800).Draw(rt, "off")) * 0x800
				_ = a0.SetAliasOffset(off)
				return fmt.Sprintf("a0 offset %#x", off)
			},
			func() string {
				r := rapid.SampledFrom([]*memory.Region{ram0, ram1}).Draw(rt, "r")
				on := vga[r] == 0 || rapid.Bool().Draw(rt, "more")
				if on {
					vga[r]++
				} else {
					vga[r]--
				}
				_ = r.SetLogVGA(on)
				return fmt.Sprintf("%s log vga %v", r.Name(), on)
			},
			func() string {
				if s.GlobalDirtyLog() == 0 {
					_ = s.GlobalDirtyLogStart(memory.GlobalDirtyMigration)
					return "global dirty log on"
				}
				_ = s.GlobalDirtyLogStop(memory.GlobalDirtyMigration)
				return "global dirty log off"
			},
			func() string {
				s.SyncDirtyLog(nil)
				return "sync dirty log"
			},
		}
		// Start from a populated topology: c0 mapped, each leaf placed.
		var log []string
		m.step(rt, "initial topology", func() {
			s.Begin()
			_ = m.system.AddSubregionOverlap(uint64(rapid.IntRange(0, 64).Draw(rt, "c0 at"))*0x80000, c0, 0)
			for _, r := range leaves {
				if rapid.IntRange(0, 3).Draw(rt, "place") != 0 {
					log = append(log, place(r))
				}
			}
			if err := s.Commit(); err != nil {
				rt.Fatalf("commit: %v", err)
			}
		})
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := range steps {
			m.step(rt, fmt.Sprintf("step %d after %q", i, log), func() {
				if rapid.IntRange(0, 4).Draw(rt, "transaction") == 0 {
					s.Begin()
					n := rapid.IntRange(1, 5).Draw(rt, "n")
					var group []string
					for range n {
						group = append(group, ops[rapid.IntRange(0, len(ops)-2).Draw(rt, "op")]())
					}
					if err := s.Commit(); err != nil {
						rt.Fatalf("commit: %v", err)
					}
					log = append(log, "{"+strings.Join(group, "; ")+"}")
					return
				}
				log = append(log, ops[rapid.IntRange(0, len(ops)-1).Draw(rt, "op")]())
			})
			if m.mm.Err() != nil {
				refused++
			}
		}
		commits += steps
		ioctls += m.mm.Ops()
		peak = max(peak, m.highWater)
		s.Lock()
		defer s.Unlock()
		if err := m.mm.Close(); err != nil {
			rt.Fatalf("Close: %v", err)
		}
		vm.mu.Lock()
		n := len(vm.slots)
		vm.mu.Unlock()
		if n != 0 || len(m.mm.Slots()) != 0 {
			rt.Fatalf("after Close the VM has %d slots, the map %d", n, len(m.mm.Slots()))
		}
	})
}

// TestMemoryMapDiffOnly checks that a change costs ioctls in proportion to
// what it changes, not to the size of the map, and that freed slot numbers
// are taken again.
func TestMemoryMapDiffOnly(t *testing.T) {
	vm := newTestVM(t)
	m := newMapMachine(t, vm)
	var rams []*memory.Region
	m.step(t, "64 RAM regions", func() {
		for i := range 64 {
			r := m.ram(t, fmt.Sprintf("ram%d", i), 0x10000)
			m.add(t, uint64(i)*0x100000, r, 0)
			rams = append(rams, r)
		}
	})
	if n := m.mm.Ops(); n != 64 {
		t.Errorf("mapping 64 regions took %d ioctls", n)
	}
	id := func(addr uint64) uint32 {
		for _, s := range m.mm.Slots() {
			if s.GuestPhys == addr {
				return s.ID
			}
		}
		t.Fatalf("no slot at %#x", addr)
		return 0
	}
	freed := id(0x500000)
	m.step(t, "move one", func() {
		if err := rams[5].SetAddress(0x8000000); err != nil {
			t.Fatal(err)
		}
	})
	if got := id(0x8000000); got != freed {
		t.Errorf("the moved region got slot %d; slot %d was free", got, freed)
	}
	ops := m.mm.Ops()
	m.step(t, "nonvolatile (KVM does not care)", func() {
		if err := rams[7].SetNonvolatile(true); err != nil {
			t.Fatal(err)
		}
	})
	m.step(t, "log one", func() {
		if err := rams[9].SetLogVGA(true); err != nil {
			t.Fatal(err)
		}
	})
	m.step(t, "disable and enable in one transaction", func() {
		m.sys.Begin()
		_ = rams[3].SetEnabled(false)
		_ = rams[3].SetEnabled(true)
		if err := m.sys.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	if got := m.mm.Ops() - ops; got != 1 {
		t.Errorf("a nonvolatile flag, a dirty-log start and a no-op transaction took %d ioctls; want 1 (the flags of one slot)", got)
	}
	var freedIDs []uint32
	for _, i := range []int{10, 20, 30} {
		freedIDs = append(freedIDs, id(uint64(i)*0x100000))
	}
	slices.Sort(freedIDs)
	m.step(t, "remove three, add two", func() {
		m.sys.Begin()
		for _, i := range []int{10, 20, 30} {
			_ = m.system.DelSubregion(rams[i])
		}
		m.add(t, 0x9000000, m.ram(t, "new0", 0x1000), 0)
		m.add(t, 0x9100000, m.ram(t, "new1", 0x1000), 0)
		if err := m.sys.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	if got := []uint32{id(0x9000000), id(0x9100000)}; !slices.Equal(got, freedIDs[:2]) {
		t.Errorf("new slots got numbers %v; the lowest free ones were %v", got, freedIDs[:2])
	}
}

// TestMemoryMapSlotLimit exhausts the slots: a commit that needs more than
// the limit changes nothing, and Err says why; undoing the change, or any
// later commit, brings the slots back to the view.
func TestMemoryMapSlotLimit(t *testing.T) {
	vm := newTestVM(t)
	m := newMapMachine(t, vm)
	var ram *memory.Region
	m.step(t, "RAM", func() {
		ram = m.ram(t, "ram", 0x100000)
		m.add(t, 0, ram, 0)
		m.add(t, 0x200000, m.ram(t, "ram2", 0x10000), 0)
	})
	m.mm.SetLimit(3)
	if m.mm.Limit() != 3 {
		t.Fatalf("Limit = %d after SetLimit(3)", m.mm.Limit())
	}
	m.sys.Lock()
	defer m.sys.Unlock()
	before, ops := m.slotsNow(), m.mm.Ops()
	refused := func(what string) {
		t.Helper()
		err := m.mm.Err()
		if err == nil || !strings.Contains(err.Error(), "memory slots but only 3 are available") {
			t.Fatalf("%s: Err = %v, want the slot budget error", what, err)
		}
		if got := m.slotsNow(); !maps.Equal(got, before) || m.mm.Ops() != ops {
			t.Fatalf("%s: slots %v after %d ioctls, want them unchanged: %v", what, got, m.mm.Ops()-ops, before)
		}
		m.checkVM(t, what)
	}

	// Two more RAM regions in one commit: one too many.
	a, b := m.ram(t, "a", 0x1000), m.ram(t, "b", 0x1000)
	m.sys.Begin()
	m.add(t, 0x300000, a, 0)
	m.add(t, 0x400000, b, 0)
	_ = m.sys.Commit()
	refused("two more regions")
	if m.mm.Compare() == nil {
		t.Error("Compare = nil while the view has regions without slots")
	}
	// Undo half of it: now it fits.
	_ = m.system.DelSubregion(b)
	m.check(t, "after removing one", before, ops)

	// Splitting the big RAM with an MMIO hole needs one more slot than
	// the limit; the undo restores the old slots without an ioctl.
	before, ops = m.slotsNow(), m.mm.Ops()
	hole, _ := m.sys.NewIO(nil, "hole", 0x1000, testOps)
	m.add(t, 0x80000, hole, 1)
	refused("a hole in the RAM")
	_ = m.system.DelSubregion(hole)
	m.check(t, "after removing the hole", before, ops)

	// A refused commit followed by unrelated ones: each is refused while
	// the view needs too many slots, then the first that fits catches up
	// with everything.
	m.add(t, 0x80000, hole, 1)
	refused("hole again")
	_ = ram.SetLogVGA(true)
	refused("dirty logging meanwhile")
	m.mm.SetLimit(4)
	_ = ram.SetLogVGA(false)
	m.check(t, "limit raised", before, ops)
	// A refused commit still deletes the slot of a region that left the
	// view: its memory will be freed.
	before, ops = m.slotsNow(), m.mm.Ops()
	m.sys.Begin()
	ram2 := m.system.Subregions()[0]
	for _, r := range m.system.Subregions() {
		if r.Name() == "ram2" {
			ram2 = r
		}
	}
	_ = m.system.DelSubregion(ram2)
	m.add(t, 0x600000, m.ram(t, "c", 0x1000), 0)
	m.add(t, 0x700000, m.ram(t, "d", 0x1000), 0)
	_ = m.sys.Commit()
	if err := m.mm.Err(); err == nil || !strings.Contains(err.Error(), "needs 5 memory slots but only 4 are available") {
		t.Errorf("Err = %v, want the slot budget error", err)
	}
	want := maps.Clone(before)
	for k := range want {
		if k.gpa == 0x200000 {
			delete(want, k)
		}
	}
	if got := m.slotsNow(); len(want) != len(before)-1 || !maps.Equal(got, want) || m.mm.Ops() != ops+1 {
		t.Errorf("slots after a refused commit that removed ram2: %v after %d ioctls; want %v after 1", got, m.mm.Ops()-ops, want)
	}
	m.checkVM(t, "after the refused commit")
	m.mm.SetLimit(5)
	_ = ram.SetLogVGA(true) // any commit catches up
	m.check(t, "caught up", want, ops+1)

	m.mm.SetLimit(1 << 30) // ignored: more than KVM has
	if m.mm.Limit() != 5 {
		t.Errorf("Limit = %d after an impossible SetLimit", m.mm.Limit())
	}
}

// TestMemoryMapAvoidsReservedPages maps RAM over the pages KVM reserves on
// x86: the slots leave them out.
func TestMemoryMapAvoidsReservedPages(t *testing.T) {
	vm := newTestVM(t)
	m := newMapMachine(t, vm)
	m.sys.Lock()
	defer m.sys.Unlock()
	m.add(t, 0xfef00000, m.ram(t, "high", 0x200000), 0)
	if err := m.mm.Err(); err != nil {
		t.Fatal(err)
	}
	var got [][2]uint64
	for _, s := range m.mm.Slots() {
		got = append(got, [2]uint64{s.GuestPhys, s.GuestPhys + s.Size})
	}
	want := [][2]uint64{{0xfef00000, IdentityMapAddr}, {TSSAddr + 3*pageSize, 0xff100000}}
	if !slices.Equal(got, want) {
		t.Errorf("slots %x, want %x", got, want)
	}
	if err := m.mm.Compare(); err != nil {
		t.Error(err)
	}
	// HasMemory: two adjacent slots cover a range across them; the hole
	// does not.
	m.add(t, 0xfee00000, m.ram(t, "below", 0x100000), 0)
	for _, c := range []struct {
		addr, size uint64
		want       bool
	}{
		{0xfee00000, 0x100000, true},
		{0xfeeff000, 0x2000, true}, // across the two slots
		{0xfee00000, IdentityMapAddr - 0xfee00000, true},
		{0xfee00000, IdentityMapAddr - 0xfee00000 + 1, false},
		{IdentityMapAddr, 1, false},
		{0xff0fffff, 1, true},
		{0xff0fffff, 2, false},
		{0xfee00000, 0, false},
	} {
		if got := m.mm.HasMemory(c.addr, c.size); got != c.want {
			t.Errorf("HasMemory(%#x, %#x) = %v, want %v", c.addr, c.size, got, c.want)
		}
	}
}
