//go:build linux && amd64

package board

import (
	"errors"
	"fmt"

	"qmem.dev/qmem/board/guest"
	"qmem.dev/qmem/kvm"
	"qmem.dev/qmem/memory"
)

// exitHandler dispatches a vCPU's exits to the machine's address spaces
// through the vCPU's own reader (DESIGN L5): no machine lock is taken for a
// RAM-backed access.
type exitHandler struct {
	m  *Machine
	rd *memory.Reader
}

func (h *exitHandler) PIO(port uint16, data []byte, write bool) error {
	if write {
		h.rd.Write(h.m.IO, uint64(port), data, memory.Attrs{})
	} else {
		h.rd.Read(h.m.IO, uint64(port), data, memory.Attrs{})
	}
	if h.m.exitReq.Load() {
		return errGuestExit
	}
	return nil
}

func (h *exitHandler) MMIO(addr uint64, data []byte, write bool) error {
	if write {
		h.rd.Write(h.m.Memory, addr, data, memory.Attrs{})
	} else {
		h.rd.Read(h.m.Memory, addr, data, memory.Attrs{})
	}
	if h.m.exitReq.Load() {
		return errGuestExit
	}
	return nil
}

// Run boots the machine's guest under KVM on one vCPU and returns the
// status the guest gave the debug-exit port. It returns an error wrapping
// ErrNoKVM when /dev/kvm cannot be used, and a *GuestError when the guest
// stopped otherwise (halt, shutdown, internal error: with registers).
func (m *Machine) Run() (int, error) {
	vm, err := kvm.NewVM()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoKVM, err)
	}
	defer vm.Close()
	// The gate keeps the vCPU out of the guest while the map replaces
	// slots, so that it never runs on a half-updated map.
	gate := kvm.NewRunGate()
	m.sys.Lock()
	mm, err := vm.AttachMemory(m.Memory)
	if err == nil {
		mm.SetGate(gate)
	}
	m.sys.Unlock()
	if err != nil {
		return 0, err
	}
	m.kvmMap.Store(mm)
	defer func() {
		m.sys.Lock()
		_ = mm.Close()
		m.sys.Unlock()
		m.kvmMap.Store(nil)
	}()
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		return 0, err
	}
	defer cpu.Close()
	if err := cpu.SetProtectedMode(guest.LoadAddr, guest.StackTop); err != nil {
		return 0, err
	}
	rd := m.sys.NewReader()
	defer rd.Close()

	r := &m.run
	r.mu.Lock()
	r.running = true
	r.stops = append(r.stops, cpu.Stop)
	r.mu.Unlock()
	stop := cpu.Stop
	m.stopper.Store(&stop)
	defer func() {
		m.stopper.Store(nil)
		r.mu.Lock()
		r.running = false
		r.stops = nil
		r.mu.Unlock()
	}()
	if m.exitReq.Load() {
		st, _ := m.ExitStatus()
		return st, nil
	}
	h := &exitHandler{m: m, rd: rd}
	for {
		err := gate.Run(cpu, h)
		if m.exitReq.Load() {
			st, _ := m.ExitStatus()
			return st, nil
		}
		if errors.Is(err, kvm.ErrStopped) {
			if !m.waitWhilePaused() {
				st, _ := m.ExitStatus()
				return st, nil
			}
			continue
		}
		return 0, &GuestError{Err: err}
	}
}

// KVMMap returns the KVM memory map while Run is running, nil otherwise.
func (m *Machine) KVMMap() *kvm.MemoryMap { return m.kvmMap.Load() }
