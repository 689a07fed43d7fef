//go:build linux && amd64

package kvm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KVM ioctl request numbers for x86-64, from <linux/kvm.h> (checked against
// the header with a C program: _IO/_IOR/_IOW of type 0xAE and the sizes of the
// structures they carry).
const (
	kvmGetAPIVersion       = 0xae00
	kvmCreateVM            = 0xae01
	kvmCheckExtension      = 0xae03
	kvmGetVCPUMmapSize     = 0xae04
	kvmCreateVCPU          = 0xae41
	kvmGetDirtyLog         = 0x4010ae42 // struct kvm_dirty_log, 16 bytes
	kvmSetUserMemoryRegion = 0x4020ae46 // struct kvm_userspace_memory_region, 32 bytes
	kvmSetTSSAddr          = 0xae47
	kvmSetIdentityMapAddr  = 0x4008ae48 // __u64
	kvmRun                 = 0xae80
	kvmGetRegs             = 0x8090ae81 // struct kvm_regs, 144 bytes
	kvmSetRegs             = 0x4090ae82
	kvmGetSregs            = 0x8138ae83 // struct kvm_sregs, 312 bytes
	kvmSetSregs            = 0x4138ae84
)

// apiVersion is the only KVM API version there has ever been in mainline.
const apiVersion = 12

// ioctl issues an ioctl whose argument is an integer. It retries on EINTR,
// which setup ioctls may return when a signal (Go's preemption SIGURG) lands.
// It must not be used for KVM_RUN, where EINTR means something.
func ioctl(fd int, req, arg uintptr) (uintptr, unix.Errno) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno != unix.EINTR {
			return r, errno
		}
	}
}

// ioctlPtr is ioctl with a pointer argument. The pointer stays valid for the
// call: it is converted to uintptr in the unix.Syscall argument list, which
// the compiler keeps alive (unsafe.Pointer rule 4).
func ioctlPtr(fd int, req uintptr, arg unsafe.Pointer) (uintptr, unix.Errno) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if errno != unix.EINTR {
			return r, errno
		}
	}
}

// ioctlError reports a failed ioctl by name and arguments, wrapping errno.
func ioctlError(name string, errno unix.Errno, format string, args ...any) error {
	return fmt.Errorf("kvm: %s(%s): %w", name, fmt.Sprintf(format, args...), errno)
}
