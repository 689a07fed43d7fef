//go:build linux && amd64

package kvm

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// VCPU is one virtual CPU of a VM. Run executes it; see the package
// documentation for the threading model.
type VCPU struct {
	vm   *VM
	id   int
	fd   int
	run  []byte   // the mmap'ed kvm_run area, Caps.VCPUMmapSize bytes
	page *runPage // overlay of run

	// stop is set by Stop and consumed by Run (takeStop). Invariant: after
	// Stop returns, either a Run has consumed the request or
	// kvm_run.immediate_exit is 1 or stop is still set; so no KVM_RUN can
	// enter the guest without returning ErrStopped first.
	stop atomic.Bool

	// interrupts counts KVM_RUN calls ended by a signal that was not a
	// stop (and so re-entered). Written by Run only; for tests.
	interrupts int

	mu    sync.Mutex
	state vcpuState // guarded by mu
	tid   int       // guarded by mu; the thread running Run, 0 when idle
}

type vcpuState int

const (
	vcpuIdle vcpuState = iota
	vcpuRunning
	vcpuClosed
)

// NewVCPU creates the vCPU with the given id (KVM_CREATE_VCPU, 0 is the boot
// processor) and maps its kvm_run area. The new vCPU is in x86 real mode at
// the reset vector; SetProtectedMode or SetRegs/SetSregs place it elsewhere.
// It fails if the id is taken or out of range (Caps.MaxVCPUID).
func (vm *VM) NewVCPU(id int) (*VCPU, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return nil, errVMClosed
	}
	if id < 0 || id >= vm.caps.MaxVCPUID {
		return nil, fmt.Errorf("kvm: NewVCPU(%d): id out of range [0, %d)", id, vm.caps.MaxVCPUID)
	}
	if _, ok := vm.vcpus[id]; ok {
		return nil, fmt.Errorf("kvm: NewVCPU(%d): vcpu exists", id)
	}
	r, errno := ioctl(vm.fd, kvmCreateVCPU, uintptr(id))
	if errno != 0 {
		return nil, ioctlError("KVM_CREATE_VCPU", errno, "id=%d", id)
	}
	fd := int(r)
	run, err := unix.Mmap(fd, 0, vm.caps.VCPUMmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("kvm: mmap kvm_run of vcpu %d (%d bytes): %w", id, vm.caps.VCPUMmapSize, err)
	}
	c := &VCPU{vm: vm, id: id, fd: fd, run: run, page: runPageOf(run)}
	vm.vcpus[id] = c
	return c, nil
}

// ID returns the vCPU's id.
func (c *VCPU) ID() int { return c.id }

// Close unmaps the kvm_run area and closes the vCPU. It fails while Run is in
// progress; closing a closed vCPU does nothing.
func (c *VCPU) Close() error {
	c.mu.Lock()
	err := c.closeLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.vm.mu.Lock()
	if c.vm.vcpus[c.id] == c {
		delete(c.vm.vcpus, c.id)
	}
	c.vm.mu.Unlock()
	return nil
}

// closeLocked closes the vCPU. Requires c.mu.
func (c *VCPU) closeLocked() error {
	switch c.state {
	case vcpuClosed:
		return nil
	case vcpuRunning:
		return fmt.Errorf("kvm: close vcpu %d: it is running", c.id)
	}
	c.state = vcpuClosed
	c.page = nil
	err1 := unix.Munmap(c.run)
	err2 := unix.Close(c.fd)
	c.run, c.fd = nil, -1
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("kvm: close vcpu %d: %w", c.id, err)
	}
	return nil
}

// lockIdle locks c.mu if the vCPU is idle (not running, not closed), for
// the vCPU ioctls other than KVM_RUN. On error c.mu is not held.
func (c *VCPU) lockIdle(op string) error {
	c.mu.Lock()
	switch c.state {
	case vcpuRunning:
		c.mu.Unlock()
		return fmt.Errorf("kvm: vcpu %d: %s while Run is in progress", c.id, op)
	case vcpuClosed:
		c.mu.Unlock()
		return fmt.Errorf("kvm: vcpu %d: %s after Close", c.id, op)
	}
	return nil
}

// begin marks the vCPU running and locks the calling goroutine to its thread.
func (c *VCPU) begin() error {
	if err := c.lockIdle("Run"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	runtime.LockOSThread()
	c.state = vcpuRunning
	c.tid = unix.Gettid()
	return nil
}

// end undoes begin.
func (c *VCPU) end() {
	c.mu.Lock()
	c.state = vcpuIdle
	c.tid = 0
	c.mu.Unlock()
	runtime.UnlockOSThread()
}

// isRunningLocked reports whether Run is in progress. Requires c.mu.
func (c *VCPU) isRunningLocked() bool { return c.state == vcpuRunning }

// Stop asks the vCPU to leave the guest: a Run in progress returns ErrStopped
// as soon as the guest is interrupted (the instruction being executed
// completes, including a pending port or MMIO access); if no Run is in
// progress, the next Run returns ErrStopped without entering the guest. Each
// request is consumed by exactly one ErrStopped; several Stops before it count
// as one. Calling Run again resumes the guest where it stopped.
//
// Stop may be called from any goroutine at any time; after Close it does
// nothing. It does not wait for Run to return.
func (c *VCPU) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == vcpuClosed {
		return
	}
	// Order matters: the flag first, then immediate_exit, then the signal.
	// takeStop clears immediate_exit before it reads the flag, so whichever
	// way the two interleave, the request is either consumed or leaves
	// immediate_exit set for the next KVM_RUN.
	c.stop.Store(true)
	c.page.setImmediateExit(1)
	if c.tid != 0 {
		// ESRCH cannot happen while c.mu holds the thread in Run; any
		// other error leaves immediate_exit to end the next KVM_RUN.
		_ = unix.Tgkill(unix.Getpid(), c.tid, unix.SIGURG)
	}
}

// takeStop clears kvm_run.immediate_exit and consumes a stop request,
// reporting whether there was one. Called by Run only.
func (c *VCPU) takeStop() bool {
	c.page.setImmediateExit(0)
	return c.stop.Swap(false)
}
