//go:build linux && amd64

package kvm

import (
	"fmt"
	"unsafe"
)

// pageSize is the unit of guest memory: slot addresses and sizes and the
// dirty log are in 4 KiB pages on x86.
const pageSize = 4096

// SlotFlags are the KVM_MEM_* flags of a memory slot.
type SlotFlags uint32

const (
	// LogDirty makes KVM record which pages of the slot the guest writes,
	// for GetDirtyLog (KVM_MEM_LOG_DIRTY_PAGES).
	LogDirty SlotFlags = 1 << 0
	// ReadOnly lets the guest read the slot but not write it: a guest
	// write exits to the ExitHandler as an MMIO write, which is how ROM
	// devices in romd mode work (KVM_MEM_READONLY).
	ReadOnly SlotFlags = 1 << 1
)

func (f SlotFlags) String() string {
	switch f {
	case 0:
		return "rw"
	case LogDirty:
		return "rw,log-dirty"
	case ReadOnly:
		return "ro"
	case ReadOnly | LogDirty:
		return "ro,log-dirty"
	}
	return fmt.Sprintf("%#x", uint32(f))
}

// memSlot is what the VM knows of one memory slot. host is kept referenced so
// the memory behind the slot stays alive while KVM may map it.
type memSlot struct {
	guestPhys uint64
	host      []byte
	flags     SlotFlags
}

func (s memSlot) end() uint64       { return s.guestPhys + uint64(len(s.host)) }
func (s memSlot) hostAddr() uintptr { return uintptr(unsafe.Pointer(&s.host[0])) }

// userspaceMemoryRegion is struct kvm_userspace_memory_region.
type userspaceMemoryRegion struct {
	slot          uint32
	flags         uint32
	guestPhysAddr uint64
	memorySize    uint64
	userspaceAddr uint64
}

// SetSlot maps host memory into the guest at guestPhys as memory slot number
// slot (KVM_SET_USER_MEMORY_REGION). The guest then reads and writes that
// memory directly, without exits (guest writes to a ReadOnly slot exit as
// MMIO writes).
//
// Preconditions: host is page-aligned, a whole number of pages long and stays
// mapped (mmap'ed memory is meant; the VM keeps a reference to it) until the
// slot is deleted or the VM closed. guestPhys is page-aligned.
//
// Postconditions: on success the slot maps [guestPhys, guestPhys+len(host)).
// On error nothing changed. Errors: a flag other than ReadOnly and LogDirty,
// ReadOnly without KVM_CAP_READONLY_MEM, a slot number out of range, a
// misaligned or empty range, a range that overlaps another slot or the pages
// KVM reserves on x86, or the ioctl's own error.
//
// Setting a slot that exists may move it (another guestPhys) or change
// LogDirty; it may not change the host memory, the size or ReadOnly (KVM's
// rule): DeleteSlot it first.
func (vm *VM) SetSlot(slot uint32, guestPhys uint64, host []byte, flags SlotFlags) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return errVMClosed
	}
	if err := vm.checkSlot(slot, guestPhys, host, flags); err != nil {
		return fmt.Errorf("kvm: SetSlot(slot=%d guest_phys=%#x size=%#x flags=%v): %w",
			slot, guestPhys, len(host), flags, err)
	}
	s := newSlot(guestPhys, host, flags)
	if err := vm.setUserMemoryRegion(slot, s); err != nil {
		return err
	}
	vm.slots[slot] = s
	return nil
}

// newSlot builds a memSlot; host must be non-empty.
func newSlot(guestPhys uint64, host []byte, flags SlotFlags) memSlot {
	return memSlot{guestPhys: guestPhys, host: host[:len(host):len(host)], flags: flags}
}

// checkSlot validates a SetSlot call against the capabilities and the slots
// already set. Requires vm.mu.
func (vm *VM) checkSlot(n uint32, guestPhys uint64, host []byte, flags SlotFlags) error {
	switch {
	case flags&^(LogDirty|ReadOnly) != 0:
		return fmt.Errorf("unknown flags %#x", uint32(flags&^(LogDirty|ReadOnly)))
	case flags&ReadOnly != 0 && !vm.caps.ReadOnlyMem:
		return fmt.Errorf("read-only slots need KVM_CAP_READONLY_MEM")
	case int64(n) >= int64(vm.caps.NrMemslots):
		return fmt.Errorf("slot number out of range (KVM_CAP_NR_MEMSLOTS = %d)", vm.caps.NrMemslots)
	case len(host) == 0:
		return fmt.Errorf("empty host memory")
	case len(host)%pageSize != 0:
		return fmt.Errorf("size is not a multiple of %d", pageSize)
	case uintptr(unsafe.Pointer(&host[0]))%pageSize != 0:
		return fmt.Errorf("host memory at %p is not page-aligned", &host[0])
	case guestPhys%pageSize != 0:
		return fmt.Errorf("guest address is not page-aligned")
	case guestPhys+uint64(len(host)) < guestPhys:
		return fmt.Errorf("range wraps past 2^64")
	}
	s := newSlot(guestPhys, host, flags)
	if old, ok := vm.slots[n]; ok {
		if old.hostAddr() != s.hostAddr() || len(old.host) != len(s.host) || (old.flags^flags)&ReadOnly != 0 {
			return fmt.Errorf("slot is set to [%#x, %#x) %v; only its address and LogDirty may change: delete it first",
				old.guestPhys, old.end(), old.flags)
		}
	}
	for m, o := range vm.slots {
		if m != n && s.guestPhys < o.end() && o.guestPhys < s.end() {
			return fmt.Errorf("overlaps slot %d at [%#x, %#x)", m, o.guestPhys, o.end())
		}
	}
	if lo, hi := reservedRange(vm.caps); lo < hi && s.guestPhys < hi && lo < s.end() {
		return fmt.Errorf("overlaps [%#x, %#x), reserved for KVM's TSS and identity map", lo, hi)
	}
	return nil
}

// setUserMemoryRegion issues KVM_SET_USER_MEMORY_REGION for s (a zero size
// deletes the slot).
func (vm *VM) setUserMemoryRegion(n uint32, s memSlot) error {
	r := userspaceMemoryRegion{slot: n, flags: uint32(s.flags), guestPhysAddr: s.guestPhys, memorySize: uint64(len(s.host))}
	if len(s.host) > 0 {
		r.userspaceAddr = uint64(s.hostAddr())
	}
	if _, errno := ioctlPtr(vm.fd, kvmSetUserMemoryRegion, unsafe.Pointer(&r)); errno != 0 {
		return ioctlError("KVM_SET_USER_MEMORY_REGION", errno, "slot=%d flags=%v guest_phys=%#x size=%#x host=%#x",
			n, s.flags, r.guestPhysAddr, r.memorySize, r.userspaceAddr)
	}
	return nil
}

// DeleteSlot removes memory slot number slot: guest accesses to its range
// then exit as MMIO. The host memory stays the caller's. It fails, changing
// nothing, if the slot is not set.
func (vm *VM) DeleteSlot(slot uint32) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return errVMClosed
	}
	if _, ok := vm.slots[slot]; !ok {
		return fmt.Errorf("kvm: DeleteSlot(slot=%d): slot is not set", slot)
	}
	if err := vm.setUserMemoryRegion(slot, memSlot{}); err != nil {
		return err
	}
	delete(vm.slots, slot)
	return nil
}
