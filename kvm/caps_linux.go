//go:build linux && amd64

package kvm

// KVM_CAP_* numbers from <linux/kvm.h>.
const (
	capUserMemory            = 3
	capSetTSSAddr            = 4
	capNrVCPUs               = 9
	capNrMemslots            = 10
	capSyncMMU               = 16
	capSetIdentityMapAddr    = 37
	capInternalErrorData     = 40
	capMaxVCPUs              = 66
	capReadonlyMem           = 81
	capCheckExtensionVM      = 105
	capMultiAddressSpace     = 118
	capMaxVCPUID             = 128
	capImmediateExit         = 136
	capManualDirtyLogProtect = 168 // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
	capDirtyLogRing          = 192
)

// Caps is what this host's KVM supports, as KVM_CHECK_EXTENSION reports it for
// one VM (per-VM where the kernel supports KVM_CAP_CHECK_EXTENSION_VM, else
// system-wide). Counts are 0 where the kernel does not report them.
//
// NewVM fails unless UserMemory and ImmediateExit are true; SetSlot with
// ReadOnly fails unless ReadOnlyMem is true. Dirty logging through
// KVM_GET_DIRTY_LOG is part of the base API and needs no capability.
type Caps struct {
	// APIVersion is KVM_GET_API_VERSION; always 12 for a VM that was created.
	APIVersion int
	// NrMemslots is the number of memory slots a VM may use (slot numbers
	// 0 .. NrMemslots-1 in address space 0).
	NrMemslots int
	// NrVCPUs is the recommended maximum number of vCPUs, MaxVCPUs the hard
	// limit and MaxVCPUID the largest vCPU id plus one.
	NrVCPUs, MaxVCPUs, MaxVCPUID int
	// AddressSpaces is the number of memslot address spaces (1 without
	// KVM_CAP_MULTI_ADDRESS_SPACE, 2 on x86 with SMM).
	AddressSpaces int
	// VCPUMmapSize is the size of the kvm_run area of each vCPU.
	VCPUMmapSize int

	UserMemory    bool // KVM_CAP_USER_MEMORY: slots backed by host memory
	ReadOnlyMem   bool // KVM_CAP_READONLY_MEM: slots the guest cannot write
	ImmediateExit bool // KVM_CAP_IMMEDIATE_EXIT: kvm_run.immediate_exit, used by Stop
	SyncMMU       bool // KVM_CAP_SYNC_MMU: host mapping changes reach the guest

	SetTSSAddr         bool // KVM_CAP_SET_TSS_ADDR
	SetIdentityMapAddr bool // KVM_CAP_SET_IDENTITY_MAP_ADDR
	InternalErrorData  bool // KVM_CAP_INTERNAL_ERROR_DATA: internal errors carry data

	// ManualDirtyLogProtect is the flag set KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
	// reports (0: unsupported). This package does not enable it, so
	// KVM_GET_DIRTY_LOG clears what it returns.
	ManualDirtyLogProtect int
	// DirtyLogRingBytes is the largest dirty ring (KVM_CAP_DIRTY_LOG_RING),
	// 0 if unsupported. Not used by this package.
	DirtyLogRingBytes int
}

// queryCaps fills Caps from KVM_CHECK_EXTENSION on fd (the system or the VM
// file descriptor). A failed check reads as "not supported".
func queryCaps(fd int) Caps {
	check := func(c uintptr) int {
		r, errno := ioctl(fd, kvmCheckExtension, c)
		if errno != 0 {
			return 0
		}
		return int(r)
	}
	c := Caps{
		NrMemslots:            check(capNrMemslots),
		NrVCPUs:               check(capNrVCPUs),
		MaxVCPUs:              check(capMaxVCPUs),
		MaxVCPUID:             check(capMaxVCPUID),
		AddressSpaces:         check(capMultiAddressSpace),
		UserMemory:            check(capUserMemory) > 0,
		ReadOnlyMem:           check(capReadonlyMem) > 0,
		ImmediateExit:         check(capImmediateExit) > 0,
		SyncMMU:               check(capSyncMMU) > 0,
		SetTSSAddr:            check(capSetTSSAddr) > 0,
		SetIdentityMapAddr:    check(capSetIdentityMapAddr) > 0,
		InternalErrorData:     check(capInternalErrorData) > 0,
		ManualDirtyLogProtect: check(capManualDirtyLogProtect),
		DirtyLogRingBytes:     check(capDirtyLogRing),
	}
	// Documented fallbacks: no NR_VCPUS means 4, no MAX_VCPUS means NR_VCPUS,
	// no MAX_VCPU_ID means MAX_VCPUS, no MULTI_ADDRESS_SPACE means 1.
	if c.NrVCPUs == 0 {
		c.NrVCPUs = 4
	}
	if c.MaxVCPUs == 0 {
		c.MaxVCPUs = c.NrVCPUs
	}
	if c.MaxVCPUID == 0 {
		c.MaxVCPUID = c.MaxVCPUs
	}
	if c.AddressSpaces == 0 {
		c.AddressSpaces = 1
	}
	return c
}
