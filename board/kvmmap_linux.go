//go:build linux && amd64

package board

import (
	"sync/atomic"

	"qmem.dev/qmem/kvm"
	"qmem.dev/qmem/memory"
)

type kvmMapHolder = atomic.Pointer[kvm.MemoryMap]

// acceleratorErr returns the error of the KVM memory map's last commit while
// the machine runs under KVM: non-nil when the VM could not follow a change
// of the memory map. Requires the memory system's lock.
func (m *Machine) acceleratorErr() error {
	if mm := m.kvmMap.Load(); mm != nil {
		return mm.Err()
	}
	return nil
}

// AccelHasMemory reports whether the accelerator maps every byte of
// [start, start+size) of as (size 0: 2^64), for the column of `info mtree
// -f`; name is "kvm". It is false when no guest runs under KVM.
func (m *Machine) AccelHasMemory(as *memory.AddressSpace, start, size uint64) (name string, ok bool) {
	mm := m.kvmMap.Load()
	if mm == nil || as != m.Memory || size == 0 {
		return "kvm", false
	}
	return "kvm", mm.HasMemory(start, size)
}

// AccelRunning reports whether a guest runs under an accelerator.
func (m *Machine) AccelRunning() bool { return m.kvmMap.Load() != nil }
