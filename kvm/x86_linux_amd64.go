package kvm

import "unsafe"

// Guest-physical pages KVM reserves for itself on x86, where QEMU puts them:
// one page for the EPT identity map and three for the real-mode TSS that VMX
// without unrestricted guest needs. Boards must not map memory over
// [IdentityMapAddr, TSSAddr+0x3000); SetSlot refuses to.
const (
	IdentityMapAddr = 0xfeffc000
	TSSAddr         = 0xfeffd000
)

// archInitVM sets the TSS and identity-map addresses where KVM supports
// them. It must run before the first vCPU is created.
func archInitVM(fd int, caps Caps) error {
	if caps.SetIdentityMapAddr {
		addr := uint64(IdentityMapAddr)
		if _, errno := ioctlPtr(fd, kvmSetIdentityMapAddr, unsafe.Pointer(&addr)); errno != 0 {
			return ioctlError("KVM_SET_IDENTITY_MAP_ADDR", errno, "%#x", addr)
		}
	}
	if caps.SetTSSAddr {
		if _, errno := ioctl(fd, kvmSetTSSAddr, TSSAddr); errno != 0 {
			return ioctlError("KVM_SET_TSS_ADDR", errno, "%#x", TSSAddr)
		}
	}
	return nil
}

// reservedRange is the guest-physical range archInitVM gave to KVM, empty if
// it gave none.
func reservedRange(caps Caps) (lo, hi uint64) {
	if !caps.SetTSSAddr && !caps.SetIdentityMapAddr {
		return 0, 0
	}
	return IdentityMapAddr, TSSAddr + 3*pageSize
}
