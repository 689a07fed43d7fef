//go:build linux && amd64

package kvm

import (
	"errors"
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
// A range whose host memory is not page-aligned with its guest address is
// not mapped at all.
//
// If a commit would need more slots than the limit, its changes are not
// applied: the VM keeps its previous map and Err reports why. (Only the
// slots of regions that left the view altogether are deleted even so, since
// their host memory is freed after the view's grace period.) The caller
// (the board) then undoes the change that needed them; the next commit
// brings the slots back to the view, by difference again, whatever happened
// in between.
//
// Before a slot that logs dirty pages is deleted or stops logging, its
// dirty log is read into the memory system's bitmaps, so no guest write is
// lost to a topology change.
//
// KVM cannot replace a slot in one step: a commit that deletes slots leaves
// their ranges unmapped until it adds the new ones, and a vCPU that fetches
// an instruction there fails (KVM_EXIT_INTERNAL_ERROR, emulation failure).
// With a RunGate (SetGate) the map keeps the gate's vCPUs out of the guest
// while it deletes and adds, as QEMU does with accel_ioctl_inhibit_begin.
type MemoryMap struct {
	vm    *VM
	as    *memory.AddressSpace
	l     *memory.Listener
	page  uint64
	limit int      // guarded by mu
	gate  *RunGate // guarded by mu

	mu     sync.Mutex // guards everything below (listener calls and readers of Slots)
	slots  map[slotKey]*mappedSlot
	used   map[uint32]bool
	adds   []slotSpec
	dels   []slotSpec
	relogs map[slotKey]slotSpec // unchanged ranges whose dirty mask changed
	// stale is set when the slots may differ from the view (a commit was
	// refused or an ioctl failed): the next commit compares the slots with
	// the whole view instead of trusting the listener's difference.
	stale   bool
	closing bool // Close is removing the listener: every slot goes
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
	mask   uint8 // the range's dirty log mask: the clients a sync marks
	region *memory.Region
	offset uint64 // offset of gpa in region
}

// same reports whether two specs describe the same slot with the same
// flags and bookkeeping.
func (a slotSpec) same(b slotSpec) bool {
	return a.key == b.key && a.flags == b.flags && a.mask == b.mask && a.region == b.region && a.offset == b.offset
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
		vm:     vm,
		as:     as,
		limit:  vm.Caps().NrMemslots,
		page:   uint64(unix.Getpagesize()),
		slots:  map[slotKey]*mappedSlot{},
		used:   map[uint32]bool{},
		relogs: map[slotKey]slotSpec{},
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
		_ = m.Close()
		return nil, err
	}
	return m, nil
}

// SetLimit sets the number of slots the map may use (lowered for tests of
// slot exhaustion); it cannot exceed what KVM offers, and other values are
// ignored. A limit below the number of slots in use makes the next commit
// that changes the view fail.
func (m *MemoryMap) SetLimit(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n > 0 && n <= m.vm.Caps().NrMemslots {
		m.limit = n
	}
}

// SetGate makes the map hold g's vCPUs out of the guest while a commit
// deletes slots and adds their replacements (nil: no gate). Requires the
// memory system's lock.
func (m *MemoryMap) SetGate(g *RunGate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gate = g
}

// Limit returns the number of slots the map may use.
func (m *MemoryMap) Limit() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.limit
}

// Close stops following the address space and deletes every slot. It
// requires the memory system's lock.
func (m *MemoryMap) Close() error {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	if err := m.as.RemoveListener(m.l); err != nil {
		m.mu.Lock()
		m.closing = false
		m.mu.Unlock()
		return err
	}
	return m.Err()
}

// Err returns the error of the last commit, nil when it was applied: then
// the slots equal the view.
func (m *MemoryMap) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Ops returns how many slot ioctls (KVM_SET_USER_MEMORY_REGION) the map has
// issued so far.
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

// HasMemory reports whether the slots map every byte of [addr, addr+size):
// what QEMU's `info mtree -f` marks with " kvm" (R-MTREEF-2). A size of 0
// reports false.
func (m *MemoryMap) HasMemory(addr, size uint64) bool {
	if size == 0 {
		return false
	}
	last := addr + size - 1
	for _, s := range m.Slots() { // in address order
		if s.GuestPhys <= addr && addr-s.GuestPhys < s.Size {
			if s.Size-(addr-s.GuestPhys) > last-addr {
				return true
			}
			addr = s.GuestPhys + s.Size
		}
	}
	return false
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
	clear(m.relogs)
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
	host := s.Region.Host()
	if off%m.page != 0 || hostAddr(host)%uintptr(m.page) != 0 || off+(end-start) > uint64(len(host)) {
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
		h := host[off+(p[0]-start) : off+(p[1]-start)]
		out = append(out, slotSpec{
			key:    slotKey{gpa: p[0], size: p[1] - p[0], host: hostAddr(h), readOnly: ro},
			host:   h,
			flags:  flags,
			mask:   s.DirtyLogMask,
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
	specs := m.specs(s)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sp := range specs {
		m.relogs[sp.key] = sp
	}
}

// wantView returns the slots the view v needs.
func (m *MemoryMap) wantView(v *memory.FlatView) map[slotKey]slotSpec {
	want := map[slotKey]slotSpec{}
	for _, fr := range v.Ranges() {
		s := memory.Section{Space: m.as, View: v, Region: fr.Region, OffsetInRegion: fr.Offset,
			Addr: fr.Start, Size: fr.Len(), Readonly: fr.Readonly, RomdMode: fr.RomdMode, DirtyLogMask: fr.DirtyLogMask}
		for _, sp := range m.specs(s) {
			want[sp.key] = sp
		}
	}
	return want
}

// slotPlan is what a commit does to the slots: delete, add, and change the
// flags (or only the bookkeeping) of slots that stay.
type slotPlan struct {
	del    []*mappedSlot
	add    []slotSpec
	update []slotSpec // keys of existing slots
	count  int        // slots after the plan
}

// plan computes the net change of a commit. Requires m.mu.
//
// Normally it is the listener's difference: deleted ranges' slots go, added
// ranges' slots come, unchanged ranges whose dirty mask changed get new
// flags; a slot deleted and added again by the same commit (a range that
// changed in a way KVM does not see) stays as it is. When the slots may
// have drifted from the view (stale), the plan is the difference between
// the slots and the whole current view instead.
func (m *MemoryMap) plan() slotPlan {
	var p slotPlan
	if m.closing || m.stale {
		want := map[slotKey]slotSpec{}
		if !m.closing {
			want = m.wantView(m.as.View())
		}
		for k, s := range m.slots {
			if w, ok := want[k]; !ok {
				p.del = append(p.del, s)
			} else if !w.same(s.slotSpec) {
				p.update = append(p.update, w)
			}
		}
		for k, w := range want {
			if _, ok := m.slots[k]; !ok {
				p.add = append(p.add, w)
			}
		}
		p.count = len(want)
		return p
	}
	gone := map[slotKey]bool{}
	for _, d := range m.dels {
		if _, ok := m.slots[d.key]; ok {
			gone[d.key] = true
		}
	}
	added := map[slotKey]bool{}
	for _, a := range m.adds {
		if added[a.key] {
			continue
		}
		added[a.key] = true
		if s, ok := m.slots[a.key]; ok {
			// Deleted and added again, or (after a refused commit)
			// still there: keep the slot.
			delete(gone, a.key)
			if !a.same(s.slotSpec) {
				p.update = append(p.update, a)
			}
			continue
		}
		p.add = append(p.add, a)
	}
	for k, r := range m.relogs {
		if s, ok := m.slots[k]; ok && !gone[k] && !added[k] && !r.same(s.slotSpec) {
			p.update = append(p.update, r)
		}
	}
	for k := range gone {
		p.del = append(p.del, m.slots[k])
	}
	p.count = len(m.slots) - len(p.del) + len(p.add)
	return p
}

// commit applies the collected difference, all or nothing as far as the
// slot budget goes.
func (m *MemoryMap) commit() {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.plan()
	if p.count > m.limit {
		// Refused; but the slots of regions that left the view go
		// even so: their host memory is freed once the view's grace
		// period ends, and KVM must not map it then.
		err := fmt.Errorf("kvm: the new memory map of '%s' needs %d memory slots but only %d are available; it was not applied",
			m.as.Name(), p.count, m.limit)
		m.stale = true
		m.err = errors.Join(append([]error{err}, m.apply(slotPlan{del: m.orphans()})...)...)
		return
	}
	m.err = joinErrs(m.apply(p))
	m.stale = m.err != nil
}

// orphans returns the slots whose region has no range in the current view.
// Requires m.mu.
func (m *MemoryMap) orphans() []*mappedSlot {
	live := map[*memory.Region]bool{}
	for _, fr := range m.as.View().Ranges() {
		live[fr.Region] = true
	}
	var out []*mappedSlot
	for _, s := range m.slots {
		if !live[s.region] {
			out = append(out, s)
		}
	}
	return out
}

// apply carries out a plan and returns the errors of its ioctls. Requires
// m.mu.
func (m *MemoryMap) apply(p slotPlan) []error {
	if len(p.del) > 0 && m.gate != nil {
		m.gate.inhibit()
		defer m.gate.release()
	}
	var errs []error
	// Deletions first: they free the numbers and the guest ranges the
	// additions may need.
	slices.SortFunc(p.del, func(a, b *mappedSlot) int { return int(a.id) - int(b.id) })
	for _, s := range p.del {
		if s.flags&LogDirty != 0 {
			errs = append(errs, m.syncSlot(s, s.mask))
		}
		m.ops++
		if err := m.vm.DeleteSlot(s.id); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(m.slots, s.key)
		delete(m.used, s.id)
	}
	for _, u := range p.update {
		s := m.slots[u.key]
		if s.flags != u.flags {
			if s.flags&LogDirty != 0 && u.flags&LogDirty == 0 {
				errs = append(errs, m.syncSlot(s, s.mask))
			}
			m.ops++
			if err := m.vm.SetSlot(s.id, s.key.gpa, s.host, u.flags); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		s.slotSpec = u
	}
	slices.SortFunc(p.add, func(a, b slotSpec) int {
		switch {
		case a.key.gpa < b.key.gpa:
			return -1
		case a.key.gpa > b.key.gpa:
			return 1
		}
		return 0
	})
	for _, a := range p.add {
		id := m.freeID()
		m.ops++
		if err := m.vm.SetSlot(id, a.key.gpa, a.host, a.flags); err != nil {
			errs = append(errs, err)
			continue
		}
		m.used[id] = true
		m.slots[a.key] = &mappedSlot{id: id, slotSpec: a}
	}
	return errs
}

// joinErrs returns the first non-nil error of errs, nil if there is none.
func joinErrs(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// freeID returns the lowest unused slot number.
func (m *MemoryMap) freeID() uint32 {
	for id := uint32(0); ; id++ {
		if !m.used[id] {
			return id
		}
	}
}

// syncSlot reads the slot's dirty log from KVM into its region's bitmaps
// for the clients in mask. Requires m.mu.
func (m *MemoryMap) syncSlot(s *mappedSlot, mask uint8) error {
	bm, err := m.vm.GetDirtyLog(s.id)
	if err != nil {
		return err
	}
	for _, p := range bm.Pages() {
		if err := s.region.MarkDirty(s.offset+p*m.page, m.page, mask); err != nil {
			return err
		}
	}
	return nil
}

// sync reads KVM's dirty log of the section's slots into the memory
// system's bitmaps (R-DIRTY-3).
func (m *MemoryMap) sync(s memory.Section) {
	specs := m.specs(s)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sp := range specs {
		if ms, ok := m.slots[sp.key]; ok && ms.flags&LogDirty != 0 {
			if err := m.syncSlot(ms, s.DirtyLogMask); err != nil && m.err == nil {
				m.err = err
			}
		}
	}
}

// Compare checks that the slots equal the mappable pages of the address
// space's current view, with the flags the view asks for, returning a
// description of the differences. For tests; requires the memory system's
// lock.
func (m *MemoryMap) Compare() error {
	want := m.wantView(m.as.View())
	m.mu.Lock()
	defer m.mu.Unlock()
	var missing, extra, flags []string
	for k, w := range want {
		s, ok := m.slots[k]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%#x+%#x", k.gpa, k.size))
		case s.flags != w.flags:
			flags = append(flags, fmt.Sprintf("%#x+%#x is %v, want %v", k.gpa, k.size, s.flags, w.flags))
		}
	}
	for k := range m.slots {
		if _, ok := want[k]; !ok {
			extra = append(extra, fmt.Sprintf("%#x+%#x", k.gpa, k.size))
		}
	}
	if len(missing)+len(extra)+len(flags) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(extra)
	slices.Sort(flags)
	return fmt.Errorf("kvm: slots differ from the view of '%s': missing %v, extra %v, flags %v", m.as.Name(), missing, extra, flags)
}
