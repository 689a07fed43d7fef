//go:build linux && amd64

package kvm

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestNewVMCaps(t *testing.T) {
	vm := newTestVM(t)
	c := vm.Caps()
	t.Logf("caps: %+v", c)
	switch {
	case c.APIVersion != 12:
		t.Errorf("APIVersion = %d, want 12", c.APIVersion)
	case !c.UserMemory || !c.ImmediateExit:
		t.Errorf("UserMemory = %v, ImmediateExit = %v; NewVM must refuse a VM without them", c.UserMemory, c.ImmediateExit)
	case c.NrMemslots < 32:
		t.Errorf("NrMemslots = %d, want at least 32 (every x86 KVM has 32 or more)", c.NrMemslots)
	case c.VCPUMmapSize < pageSize:
		t.Errorf("VCPUMmapSize = %d", c.VCPUMmapSize)
	case c.MaxVCPUs < 1 || c.NrVCPUs < 1 || c.MaxVCPUID < c.MaxVCPUs:
		t.Errorf("vCPU limits: nr=%d max=%d max id=%d", c.NrVCPUs, c.MaxVCPUs, c.MaxVCPUID)
	}
	if !c.ReadOnlyMem {
		t.Logf("this KVM lacks KVM_CAP_READONLY_MEM: read-only slot tests will skip")
	}
}

// setSlotCase is a SetSlot call that must fail with an error containing want.
type setSlotCase struct {
	name      string
	slot      uint32
	guestPhys uint64
	host      []byte
	flags     SlotFlags
	want      string
}

func TestSetSlotErrors(t *testing.T) {
	vm := newTestVM(t)
	mem := guestMem(t, 4*pageSize)
	if err := vm.SetSlot(1, 0x100000, mem[:2*pageSize], 0); err != nil {
		t.Fatal(err)
	}
	tests := []setSlotCase{
		{"unknown flag", 2, 0, mem[:pageSize], 4, "unknown flags 0x4"},
		{"slot out of range", uint32(vm.Caps().NrMemslots), 0, mem[:pageSize], 0, "slot number out of range"},
		{"empty", 2, 0, nil, 0, "empty host memory"},
		{"partial page", 2, 0, mem[:100], 0, "not a multiple of 4096"},
		{"unaligned host", 2, 0, mem[8 : 8+pageSize], 0, "not page-aligned"},
		{"unaligned guest", 2, 0x10, mem[:pageSize], 0, "guest address is not page-aligned"},
		{"wraps", 2, 1<<64 - pageSize, mem[:2*pageSize], 0, "wraps past 2^64"},
		{"overlap", 2, 0x101000, mem[2*pageSize : 3*pageSize], 0, "overlaps slot 1 at [0x100000, 0x102000)"},
		{"reserved", 2, TSSAddr, mem[2*pageSize : 3*pageSize], 0, "reserved for KVM's TSS"},
		{"resize", 1, 0x100000, mem[:pageSize], 0, "only its address and LogDirty may change"},
		{"other host memory", 1, 0x100000, mem[2*pageSize:], 0, "only its address and LogDirty may change"},
	}
	if vm.Caps().ReadOnlyMem {
		tests = append(tests, setSlotCase{"toggle read-only", 1, 0x100000, mem[:2*pageSize], ReadOnly, "only its address and LogDirty may change"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := vm.SetSlot(tt.slot, tt.guestPhys, tt.host, tt.flags)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SetSlot = %v, want an error containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "kvm: SetSlot(slot=") {
				t.Errorf("error %q does not name the call and its arguments", err)
			}
		})
	}
	// Nothing changed: slot 1 is still there, as it was.
	if s := vm.slots[1]; s.guestPhys != 0x100000 || len(s.host) != 2*pageSize || len(vm.slots) != 1 {
		t.Errorf("slots after failed calls: %+v", vm.slots)
	}
	// What KVM allows on an existing slot: move it, toggle LogDirty.
	if err := vm.SetSlot(1, 0x200000, mem[:2*pageSize], LogDirty); err != nil {
		t.Errorf("move and log: %v", err)
	}
	if err := vm.DeleteSlot(7); err == nil || !strings.Contains(err.Error(), "slot is not set") {
		t.Errorf("DeleteSlot(unset) = %v", err)
	}
	if err := vm.DeleteSlot(1); err != nil {
		t.Errorf("DeleteSlot: %v", err)
	}
	if err := vm.SetSlot(1, 0x100000, mem[:pageSize], 0); err != nil {
		t.Errorf("SetSlot after DeleteSlot with another size: %v", err)
	}
}

// TestSetSlotIoctlError checks that KVM's own refusals name the ioctl and
// its arguments and keep the errno.
func TestSetSlotIoctlError(t *testing.T) {
	vm := newTestVM(t)
	mem := guestMem(t, pageSize)
	err := vm.SetSlot(3, 1<<60, mem, 0) // beyond any guest physical address width
	if err == nil {
		t.Fatal("SetSlot at 2^60 succeeded")
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("error %v does not wrap EINVAL", err)
	}
	const want = "kvm: KVM_SET_USER_MEMORY_REGION(slot=3 flags=rw guest_phys=0x1000000000000000 size=0x1000 host=0x"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
	if _, ok := vm.slots[3]; ok {
		t.Error("failed slot was recorded")
	}
}

func TestCloseVM(t *testing.T) {
	vm := newTestVM(t)
	c, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.NewVCPU(0); err == nil {
		t.Error("second vcpu 0 created")
	}
	if _, err := vm.NewVCPU(-1); err == nil {
		t.Error("vcpu -1 created")
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	if err := vm.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c.Stop() // does nothing, must not crash
	if _, err := c.Regs(); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("Regs after VM.Close = %v", err)
	}
	if err := c.Run(&recorder{}); err == nil {
		t.Error("Run after VM.Close succeeded")
	}
	mem := guestMem(t, pageSize)
	if err := vm.SetSlot(0, 0, mem, 0); !errors.Is(err, errVMClosed) {
		t.Errorf("SetSlot after Close = %v", err)
	}
	if _, err := vm.NewVCPU(1); !errors.Is(err, errVMClosed) {
		t.Errorf("NewVCPU after Close = %v", err)
	}
}
