//go:build linux && amd64

package kvm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ExitHandler serves the guest accesses that KVM hands to userspace. Run
// calls it on the vCPU's thread, one access at a time, with the vCPU outside
// the guest. data is valid only during the call and is not copied: it lies in
// the vCPU's kvm_run area.
//
// For a write, data holds the bytes the guest wrote (little-endian); for a
// read, the handler fills all of data with what the guest reads. An access
// nobody serves should still complete (QEMU's rule: port reads of unassigned
// ports read all ones).
//
// A non-nil error ends Run, which returns that error unchanged: the way for a
// device such as a debug-exit port to stop the machine. The access itself is
// completed by KVM when Run is next called, so registers read in between show
// the instruction not yet finished. Guest mistakes are not errors.
type ExitHandler interface {
	// PIO handles one port I/O access of len(data) bytes (1, 2 or 4). A
	// string instruction (REP INS/OUTS) arrives as one call per element.
	PIO(port uint16, data []byte, write bool) error
	// MMIO handles one access of len(data) bytes (1 to 8) at guest-physical
	// addr that no writable slot maps: no slot at all, or a write to a
	// ReadOnly slot.
	MMIO(addr uint64, data []byte, write bool) error
}

// ErrStopped is what Run returns when Stop ended it. Run may be called again
// to resume the guest.
var ErrStopped = errors.New("kvm: vcpu stopped")

// Run runs the vCPU until something ends the run, serving port I/O and MMIO
// exits through h meanwhile. It returns
//   - ErrStopped after Stop (see Stop);
//   - the handler's error, if h returned one;
//   - an *ExitError for any other exit: HLT (a normal end for a guest without
//     interrupts), SHUTDOWN (triple fault), FAIL_ENTRY, INTERNAL_ERROR and
//     the rest, with the registers;
//   - an error if KVM_RUN itself fails or the vCPU is closed or already
//     running.
//
// Run may be called again after any of these; the guest continues from
// where it is (after a HLT: with the next instruction).
//
// Run locks the calling goroutine to its OS thread while it runs (see the
// package documentation). It allocates nothing per exit. EINTR from KVM_RUN
// that is not a stop (Go's runtime sends SIGURG to its threads for
// preemption) re-enters the guest.
func (c *VCPU) Run(h ExitHandler) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.end()
	if c.takeStop() {
		return ErrStopped
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), kvmRun, 0)
		if errno == unix.EINTR {
			if c.takeStop() {
				return ErrStopped
			}
			c.interrupts++
			continue
		}
		if errno != 0 {
			return ioctlError("KVM_RUN", errno, "vcpu=%d", c.id)
		}
		var err error
		switch ExitReason(c.page.exitReason) {
		case ExitIO:
			err = c.dispatchIO(h)
		case ExitMMIO:
			err = c.dispatchMMIO(h)
		case ExitIntr:
			if c.takeStop() {
				return ErrStopped
			}
		default:
			return c.exitError()
		}
		if err != nil {
			return err
		}
	}
}

// dispatchIO hands a KVM_EXIT_IO to h, one call per element.
func (c *VCPU) dispatchIO(h ExitHandler) error {
	io := c.page.io()
	size, n, off := uint64(io.size), uint64(io.size)*uint64(io.count), io.dataOffset
	if size == 0 || off > uint64(len(c.run)) || n > uint64(len(c.run))-off {
		return fmt.Errorf("kvm: vcpu %d: KVM_EXIT_IO with data outside the run area: port=%#x size=%d count=%d offset=%#x",
			c.id, io.port, io.size, io.count, off)
	}
	write := io.direction == ioOut
	data := c.run[off : off+n]
	for i := uint64(0); i < n; i += size {
		if err := h.PIO(io.port, data[i:i+size:i+size], write); err != nil {
			return err
		}
	}
	return nil
}

// dispatchMMIO hands a KVM_EXIT_MMIO to h.
func (c *VCPU) dispatchMMIO(h ExitHandler) error {
	m := c.page.mmio()
	if m.len == 0 || m.len > uint32(len(m.data)) {
		return fmt.Errorf("kvm: vcpu %d: KVM_EXIT_MMIO with length %d at %#x", c.id, m.len, m.physAddr)
	}
	return h.MMIO(m.physAddr, m.data[:m.len:m.len], m.isWrite != 0)
}
