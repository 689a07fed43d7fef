package kvm

// Control register bits used by SetProtectedMode.
const (
	cr0PE = 1 << 0  // protection enable
	cr0ET = 1 << 4  // extension type (always 1 on modern CPUs)
	cr0NW = 1 << 29 // not write-through
	cr0CD = 1 << 30 // cache disable
	cr0PG = 1 << 31 // paging

	rflagsReserved = 1 << 1 // bit 1 of RFLAGS always reads 1
)

// Flat 32-bit segments: base 0, limit 4 GiB, ring 0. The selectors are the
// conventional GDT slots (code 0x08, data 0x10), though no GDT exists: the
// hidden parts are loaded directly.
var (
	flatCode32 = Segment{Limit: 0xffffffff, Selector: 0x08, Type: 0xb, Present: 1, DB: 1, S: 1, G: 1}
	flatData32 = Segment{Limit: 0xffffffff, Selector: 0x10, Type: 0x3, Present: 1, DB: 1, S: 1, G: 1}
)

// SetProtectedMode puts the vCPU into 32-bit protected mode with flat code
// and data segments (base 0, limit 4 GiB, ring 0) loaded straight into the
// segment registers' hidden parts through KVM_SET_SREGS, so the guest needs no
// GDT in memory (it must not reload a segment register). Paging, long mode and
// caching-disable are off; the other control registers keep their values.
// The general registers are zeroed, then EIP = entry, ESP = stack and
// EFLAGS = 0x2 (interrupts disabled).
//
// Not while Run is in progress.
func (c *VCPU) SetProtectedMode(entry, stack uint32) error {
	if err := c.lockIdle("SetProtectedMode"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	s, err := getSregs(c.fd)
	if err != nil {
		return err
	}
	s.CS = flatCode32
	s.DS, s.ES, s.FS, s.GS, s.SS = flatData32, flatData32, flatData32, flatData32, flatData32
	s.CR0 = (s.CR0 | cr0PE | cr0ET) &^ (cr0PG | cr0CD | cr0NW)
	s.EFER = 0
	if err := setSregs(c.fd, &s); err != nil {
		return err
	}
	r := Regs{RIP: uint64(entry), RSP: uint64(stack), RFLAGS: rflagsReserved}
	return setRegs(c.fd, &r)
}
