package kvm

import (
	"fmt"
	"strings"
	"unsafe"
)

// Regs is struct kvm_regs: the general registers of an x86-64 vCPU.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// Segment is struct kvm_segment: a segment register with its hidden part.
type Segment struct {
	Base     uint64
	Limit    uint32 // in bytes, whatever G says
	Selector uint16
	Type     uint8 // the descriptor type field: 0xb code exec/read accessed, 0x3 data read/write accessed
	Present  uint8
	DPL      uint8
	DB       uint8 // 1: 32-bit segment
	S        uint8 // 1: code or data (not system)
	L        uint8 // 1: 64-bit code
	G        uint8 // 1: 4 KiB granularity
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is struct kvm_dtable: the GDTR or IDTR.
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs is struct kvm_sregs: segment, descriptor-table and control registers.
type Sregs struct {
	CS, DS, ES, FS, GS, SS, TR, LDT Segment
	GDT, IDT                        DTable
	CR0, CR2, CR3, CR4, CR8         uint64
	EFER                            uint64
	APICBase                        uint64
	InterruptBitmap                 [4]uint64 // pending external interrupts, one bit each
}

// The sizes KVM's ioctl numbers encode; a mismatch does not compile.
var (
	_ [unsafe.Sizeof(Regs{}) - 144]byte
	_ [144 - unsafe.Sizeof(Regs{})]byte
	_ [unsafe.Sizeof(Sregs{}) - 312]byte
	_ [312 - unsafe.Sizeof(Sregs{})]byte
)

func getRegs(fd int) (Regs, error) {
	var r Regs
	if _, errno := ioctlPtr(fd, kvmGetRegs, unsafe.Pointer(&r)); errno != 0 {
		return Regs{}, ioctlError("KVM_GET_REGS", errno, "")
	}
	return r, nil
}

func setRegs(fd int, r *Regs) error {
	if _, errno := ioctlPtr(fd, kvmSetRegs, unsafe.Pointer(r)); errno != 0 {
		return ioctlError("KVM_SET_REGS", errno, "rip=%#x rsp=%#x rflags=%#x", r.RIP, r.RSP, r.RFLAGS)
	}
	return nil
}

func getSregs(fd int) (Sregs, error) {
	var s Sregs
	if _, errno := ioctlPtr(fd, kvmGetSregs, unsafe.Pointer(&s)); errno != 0 {
		return Sregs{}, ioctlError("KVM_GET_SREGS", errno, "")
	}
	return s, nil
}

func setSregs(fd int, s *Sregs) error {
	if _, errno := ioctlPtr(fd, kvmSetSregs, unsafe.Pointer(s)); errno != 0 {
		return ioctlError("KVM_SET_SREGS", errno, "cr0=%#x cr4=%#x efer=%#x cs=%#x", s.CR0, s.CR4, s.EFER, s.CS.Selector)
	}
	return nil
}

// Regs returns the general registers (KVM_GET_REGS). Not while Run is in
// progress.
func (c *VCPU) Regs() (Regs, error) {
	if err := c.lockIdle("Regs"); err != nil {
		return Regs{}, err
	}
	defer c.mu.Unlock()
	return getRegs(c.fd)
}

// SetRegs sets the general registers (KVM_SET_REGS). Not while Run is in
// progress.
func (c *VCPU) SetRegs(r Regs) error {
	if err := c.lockIdle("SetRegs"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	return setRegs(c.fd, &r)
}

// Sregs returns the segment and control registers (KVM_GET_SREGS). Not while
// Run is in progress.
func (c *VCPU) Sregs() (Sregs, error) {
	if err := c.lockIdle("Sregs"); err != nil {
		return Sregs{}, err
	}
	defer c.mu.Unlock()
	return getSregs(c.fd)
}

// SetSregs sets the segment and control registers (KVM_SET_SREGS). Not while
// Run is in progress.
func (c *VCPU) SetSregs(s Sregs) error {
	if err := c.lockIdle("SetSregs"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	return setSregs(c.fd, &s)
}

// dumpRegs formats registers in the spirit of QEMU's "info registers".
func dumpRegs(r *Regs, s *Sregs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "RAX=%016x RBX=%016x RCX=%016x RDX=%016x\n", r.RAX, r.RBX, r.RCX, r.RDX)
	fmt.Fprintf(&b, "RSI=%016x RDI=%016x RBP=%016x RSP=%016x\n", r.RSI, r.RDI, r.RBP, r.RSP)
	fmt.Fprintf(&b, "R8 =%016x R9 =%016x R10=%016x R11=%016x\n", r.R8, r.R9, r.R10, r.R11)
	fmt.Fprintf(&b, "R12=%016x R13=%016x R14=%016x R15=%016x\n", r.R12, r.R13, r.R14, r.R15)
	fmt.Fprintf(&b, "RIP=%016x RFL=%08x\n", r.RIP, r.RFLAGS)
	for _, sg := range []struct {
		name string
		seg  *Segment
	}{{"ES", &s.ES}, {"CS", &s.CS}, {"SS", &s.SS}, {"DS", &s.DS}, {"FS", &s.FS}, {"GS", &s.GS}, {"LDT", &s.LDT}, {"TR", &s.TR}} {
		g := sg.seg
		fmt.Fprintf(&b, "%-3s=%04x %016x %08x type=%x p=%d dpl=%d db=%d s=%d l=%d g=%d\n",
			sg.name, g.Selector, g.Base, g.Limit, g.Type, g.Present, g.DPL, g.DB, g.S, g.L, g.G)
	}
	fmt.Fprintf(&b, "GDT=    %016x %08x\n", s.GDT.Base, s.GDT.Limit)
	fmt.Fprintf(&b, "IDT=    %016x %08x\n", s.IDT.Base, s.IDT.Limit)
	fmt.Fprintf(&b, "CR0=%08x CR2=%016x CR3=%016x CR4=%08x CR8=%x EFER=%016x", s.CR0, s.CR2, s.CR3, s.CR4, s.CR8, s.EFER)
	return b.String()
}
