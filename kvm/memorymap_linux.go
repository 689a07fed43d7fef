package kvm

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"qmem.dev/qmem/memory"
)

// MemoryMap keeps a VM's memory slots equal to the directly accessible
// ranges of an address space's flat view: RAM, ROM, RAM devices and ROM
// devices in romd mode become slots (read-only for readonly ranges, ROMs and
// ROM devices, whose writes must exit); everything else stays unmapped and
// exits. It is a memory listener (QEMU's KVM memory listener): only the
// difference of each commit touches slots, slot numbers are reused, and
// dirty logging follows the ranges' dirty masks.
//
// A range that does not start or end on a page boundary is mapped without
// its partial pages, which exit as MMIO and are served by the address space.
//
// If a commit would need more slots than KVM offers, none of its changes is
// applied: the VM keeps its previous map and Err reports why. The caller
// (the board) then undoes the change that needed them.
type MemoryMap struct {
	vm    *VM
	as    *memory.AddressSpace
	l     *memory.Listener
	limit int
	page  uint64

	mu      sync.Mutex // guards everything below (listener calls and readers of Slots)
	slots   map[slotKey]*mappedSlot
	used    map[uint32]bool
	adds    []slotSpec
	dels    []slotSpec
	flagsTo map[slotKey]SlotFlags
	err     error
	ops     int // slot ioctls issued, for tests
}

type slotKey struct {
	gpa, size uint64
	host      uintptr
	readOnly  bool
}

type slotSpec struct {
	key    slotKey
	host   []byte
	flags  SlotFlags
	region *memory.Region
	offset uint64 // offset of gpa in region
}

type mappedSlot struct {
	id uint32
	slotSpec
}

// SlotInfo describes one memory slot of a MemoryMap.
type SlotInfo struct {
	ID        uint32
	GuestPhys uint64
	Size      uint64
	Flags     SlotFlags
	Region    *memory.Region
	Offset    uint64 // offset of GuestPhys in Region
}

// AttachMemory makes the VM's slots follow the flat view of as. It must be
// called with the memory system's lock held; the current view is mapped at
// once. Detach with MemoryMap.Close.
func (vm *VM) AttachMemory(as *memory.AddressSpace) (*MemoryMap, error) {
	m := &MemoryMap{
		vm:      vm,
		as:      as,
		limit:   vm.Caps().NrMemslots,
		page:    uint64(unix.Getpagesize()),
		slots:   map[slotKey]*mappedSlot{},
		used:    map[uint32]bool{},
		flagsTo: map[slotKey]SlotFlags{},
	}
	if m.limit <= 0 {
		m.limit = 32
	}
	m.l = &memory.Listener{
		Name:      "kvm",
		Priority:  memory.ListenerPriorityAccel,
		Begin:     m.begin,
		Commit:    m.commit,
		RegionAdd: func(s memory.Section) { m.collect(&m.adds, s) },
		RegionDel: func(s memory.Section) { m.collect(&m.dels, s) },
		LogStart:  func(s memory.Section, _, _ uint8) { m.relog(s) },
		LogStop:   func(s memory.Section, _, _ uint8) { m.relog(s) },
		LogSync:   m.sync,
	}
	if err := as.AddListener(m.l); err != nil {
		return nil, err
	}
	if err := m.Err(); err != nil {
		_ = as.RemoveListener(m.l)
		return nil, err
	}
	return m, nil
}

// SetLimit lowers the number of slots the map may use (for tests of slot
// exhaustion); it cannot exceed what KVM offers.
func (m *MemoryMap) SetLimit(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n > 0 && n < m.vm.Caps().NrMemslots {
		m.limit = n
	}
}

// Close stops following the address space and deletes every slot. It
// requires the memory system's lock.
func (m *MemoryMap) Close() error {
	if err := m.as.RemoveListener(m.l); err != nil {
		return err
	}
	return m.Err()
}

// Err returns the error of the last commit, nil when it was applied.
func (m *MemoryMap) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Ops returns how many slot ioctls the map has issued so far.
func (m *MemoryMap) Ops() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// Slots returns the current slots in address order.
func (m *MemoryMap) Slots() []SlotInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SlotInfo, 0, len(m.slots))
	for _, s := range m.slots {
		out = append(out, SlotInfo{ID: s.id, GuestPhys: s.key.gpa, Size: s.key.size, Flags: s.flags, Region: s.region, Offset: s.offset})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GuestPhys < out[j].GuestPhys })
	return out
}

func (m *MemoryMap) collect(to *[]slotSpec, s memory.Section) {
	specs := m.specs(s)
	m.mu.Lock()
	*to = append(*to, specs...)
	m.mu.Unlock()
}

func (m *MemoryMap) begin() {
	m.mu.Lock()
	m.adds, m.dels = m.adds[:0], m.dels[:0]
	clear(m.flagsTo)
	m.mu.Unlock()
}

// mappable reports whether a section is backed by host memory KVM can map,
// and whether the slot must be read-only.
func mappable(s memory.Section) (ok, readOnly bool) {
	r := s.Region
	if r == nil || r.Host() == nil {
		return false, false
	}
	switch r.Kind() {
	case memory.KindRAM, memory.KindRAMDevice:
		return true, s.Readonly
	case memory.KindROM:
		return true, true
	case memory.KindROMDevice:
		return s.RomdMode, true
	}
	return false, false
}

// specs returns the slots a section needs: its whole pages, split around
// KVM's reserved pages.
func (m *MemoryMap) specs(s memory.Section) []slotSpec {
	ok, ro := mappable(s)
	if !ok || s.Size == 0 {
		return nil
	}
	start := (s.Addr + m.page - 1) &^ (m.page - 1)
	end := (s.Addr + s.Size) &^ (m.page - 1)
	if start < s.Addr || end <= start {
		return nil
	}
	off := s.OffsetInRegion + (start - s.Addr)
	if off%m.page != 0 {
		return nil // host memory not page-aligned with the guest address: leave it to exits
	}
	flags := SlotFlags(0)
	if ro {
		flags |= ReadOnly
	}
	if s.DirtyLogMask != 0 && !ro {
		flags |= LogDirty
	}
	var out []slotSpec
	for _, p := range splitAround(start, end, IdentityMapAddr, TSSAddr+3*m.page) {
		host := s.Region.Host()[off+(p[0]-start) : off+(p[1]-start)]
		out = append(out, slotSpec{
			key:    slotKey{gpa: p[0], size: p[1] - p[0], host: hostAddr(host), readOnly: ro},
			host:   host,
			flags:  flags,
			region: s.Region,
			offset: off + (p[0] - start),
		})
	}
	return out
}

func hostAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// splitAround returns [start, end) minus [hole, holeEnd) as up to two
// pieces.
func splitAround(start, end, hole, holeEnd uint64) [][2]uint64 {
	if end <= hole || start >= holeEnd {
		return [][2]uint64{{start, end}}
	}
	var out [][2]uint64
	if start < hole {
		out = append(out, [2]uint64{start, hole})
	}
	if end > holeEnd {
		out = append(out, [2]uint64{holeEnd, end})
	}
	return out
}

// relog records a dirty-logging change of an unchanged range.
func (m *MemoryMap) relog(s memory.Section) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sp := range m.specs(s) {
		m.flagsTo[sp.key] = sp.flags
	}
}

// commit applies the collected difference, all or nothing as far as the
// slot budget goes.
func (m *MemoryMap) commit() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = nil
	dels := 0
	for _, d := range m.dels {
		if _, ok := m.slots[d.key]; ok {
			dels++
		}
	}
	if need := len(m.slots) - dels + len(m.adds); need > m.limit {
		m.err = fmt.Errorf("kvm: the new memory map of '%s' needs %d memory slots but only %d are available; it was not applied",
			m.as.Name(), need, m.limit)
		return
	}
	for _, d := range m.dels {
		s, ok := m.slots[d.key]
		if !ok {
			continue
		}
		m.ops++
		if err := m.vm.DeleteSlot(s.id); err != nil && m.err == nil {
			m.err = err
		}
		delete(m.slots, d.key)
		delete(m.used, s.id)
	}
	for k, f := range m.flagsTo {
		s, ok := m.slots[k]
		if !ok || s.flags == f {
			continue
		}
		m.ops++
		if err := m.vm.SetSlot(s.id, s.key.gpa, s.host, f); err != nil {
			if m.err == nil {
				m.err = err
			}
			continue
		}
		s.flags = f
	}
	for _, a := range m.adds {
		if f, ok := m.flagsTo[a.key]; ok {
			a.flags = f
		}
		id := m.freeID()
		m.ops++
		if err := m.vm.SetSlot(id, a.key.gpa, a.host, a.flags); err != nil {
			if m.err == nil {
				m.err = err
			}
			continue
		}
		m.used[id] = true
		m.slots[a.key] = &mappedSlot{id: id, slotSpec: a}
	}
}

// freeID returns the lowest unused slot number.
func (m *MemoryMap) freeID() uint32 {
	for id := uint32(0); ; id++ {
		if !m.used[id] {
			return id
		}
	}
}

// sync reads KVM's dirty log of the section's slots into the memory
// system's bitmaps (R-DIRTY-3).
func (m *MemoryMap) sync(s memory.Section) {
	m.mu.Lock()
	var todo []*mappedSlot
	for _, sp := range m.specs(s) {
		if ms, ok := m.slots[sp.key]; ok && ms.flags&LogDirty != 0 {
			todo = append(todo, ms)
		}
	}
	m.mu.Unlock()
	for _, ms := range todo {
		bm, err := m.vm.GetDirtyLog(ms.id)
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			continue
		}
		for _, p := range bm.Pages() {
			_ = ms.region.MarkDirty(ms.offset+p*m.page, m.page, s.DirtyLogMask)
		}
	}
}

// Compare checks that the slots equal the mappable pages of the address
// space's current view, returning a description of the first difference.
// For tests; requires the memory system's lock.
func (m *MemoryMap) Compare() error {
	want := map[slotKey]bool{}
	v := m.as.View()
	for _, fr := range v.Ranges() {
		s := memory.Section{Space: m.as, View: v, Region: fr.Region, OffsetInRegion: fr.Offset,
			Addr: fr.Start, Size: fr.Len(), Readonly: fr.Readonly, RomdMode: fr.RomdMode, DirtyLogMask: fr.DirtyLogMask}
		for _, sp := range m.specs(s) {
			want[sp.key] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var missing, extra []string
	for k := range want {
		if _, ok := m.slots[k]; !ok {
			missing = append(missing, fmt.Sprintf("%#x+%#x", k.gpa, k.size))
		}
	}
	for k := range m.slots {
		if !want[k] {
			extra = append(extra, fmt.Sprintf("%#x+%#x", k.gpa, k.size))
		}
	}
	if len(missing)+len(extra) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return fmt.Errorf("kvm: slots differ from the view of '%s': missing %v, extra %v", m.as.Name(), missing, extra)
}
