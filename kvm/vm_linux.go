//go:build linux && amd64

package kvm

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// VM is one KVM virtual machine: its file descriptor, its memory slots and
// its vCPUs. All methods are safe for concurrent use.
type VM struct {
	fd   int  // VM file descriptor; -1 after Close
	caps Caps // immutable after NewVM

	mu     sync.Mutex
	slots  map[uint32]memSlot // guarded by mu; what KVM has, slot by slot
	vcpus  map[int]*VCPU      // guarded by mu; open vCPUs by id
	closed bool               // guarded by mu
}

var errVMClosed = errors.New("kvm: VM is closed")

// NewVM opens /dev/kvm, checks that the API version is 12, reads the
// capabilities and creates a VM with no memory and no vCPUs. On x86 it
// reserves [IdentityMapAddr, TSSAddr+3 pages) of guest-physical space for
// KVM's own use (KVM_SET_IDENTITY_MAP_ADDR, KVM_SET_TSS_ADDR), as QEMU does.
//
// It fails if /dev/kvm cannot be opened (errors.Is(err, fs.ErrNotExist) or
// fs.ErrPermission then hold), or if KVM lacks KVM_CAP_USER_MEMORY or
// KVM_CAP_IMMEDIATE_EXIT.
func NewVM() (*VM, error) {
	sys, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("kvm: open /dev/kvm: %w", err)
	}
	defer unix.Close(sys)

	v, errno := ioctl(sys, kvmGetAPIVersion, 0)
	if errno != 0 {
		return nil, ioctlError("KVM_GET_API_VERSION", errno, "")
	}
	if v != apiVersion {
		return nil, fmt.Errorf("kvm: KVM_GET_API_VERSION = %d, want %d", v, apiVersion)
	}
	mmapSize, errno := ioctl(sys, kvmGetVCPUMmapSize, 0)
	if errno != 0 {
		return nil, ioctlError("KVM_GET_VCPU_MMAP_SIZE", errno, "")
	}
	r, errno := ioctl(sys, kvmCreateVM, 0)
	if errno != 0 {
		return nil, ioctlError("KVM_CREATE_VM", errno, "type=0")
	}
	fd := int(r)

	var caps Caps
	if r, errno := ioctl(sys, kvmCheckExtension, capCheckExtensionVM); errno == 0 && r > 0 {
		caps = queryCaps(fd)
	} else {
		caps = queryCaps(sys)
	}
	caps.APIVersion = int(v)
	caps.VCPUMmapSize = int(mmapSize)

	if err := checkRequired(caps); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := archInitVM(fd, caps); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &VM{
		fd:    fd,
		caps:  caps,
		slots: make(map[uint32]memSlot),
		vcpus: make(map[int]*VCPU),
	}, nil
}

// checkRequired says which capability this package cannot do without.
func checkRequired(c Caps) error {
	switch {
	case !c.UserMemory:
		return errors.New("kvm: KVM_CAP_USER_MEMORY is not supported")
	case !c.ImmediateExit:
		return errors.New("kvm: KVM_CAP_IMMEDIATE_EXIT is not supported (Linux 4.11 or later needed)")
	case c.VCPUMmapSize < pageSize:
		return fmt.Errorf("kvm: KVM_GET_VCPU_MMAP_SIZE = %d, want at least %d", c.VCPUMmapSize, pageSize)
	}
	return nil
}

// Caps returns the capabilities read when the VM was created.
func (vm *VM) Caps() Caps { return vm.caps }

// Close closes the VM's vCPUs and the VM itself. The kernel frees the VM's
// memory slots with it; the host memory behind them stays the caller's.
// Close fails, changing nothing, while any vCPU is running (stop it first).
// Closing a closed VM does nothing.
func (vm *VM) Close() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return nil
	}
	// Hold every vCPU's lock (vm.mu before c.mu, the one lock order) so
	// that none can start running between the check and the close.
	for _, c := range vm.vcpus {
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	for id, c := range vm.vcpus {
		if c.isRunningLocked() {
			return fmt.Errorf("kvm: close VM: vcpu %d is running", id)
		}
	}
	var errs []error
	for _, c := range vm.vcpus {
		errs = append(errs, c.closeLocked())
	}
	vm.vcpus = nil
	vm.closed = true
	vm.slots = nil
	if err := unix.Close(vm.fd); err != nil {
		errs = append(errs, fmt.Errorf("kvm: close VM: %w", err))
	}
	vm.fd = -1
	return errors.Join(errs...)
}
